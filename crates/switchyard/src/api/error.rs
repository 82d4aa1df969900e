//! API errors and their one conversion into HTTP responses in OpenAI's error shape:
//! `{"error":{"message","type","param","code"}}`.

use crate::models::ProviderKind;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::models::ModelError;
use crate::scheduler::{FailureClass, QUEUE_CAPACITY, Rejection};

/// The `Retry-After` a client gets with a site's rate limit: the site gives none.
const RATE_LIMIT_RETRY_SECS: u64 = 30;

/// An error answered to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// OpenAI's `type` field.
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// A refused config change: 400 `invalid_config`, 409 `needs_restart` or `reload_conflict`.
    pub fn reload_refused(refused: &crate::reload::Refused) -> ApiError {
        use crate::reload::Refused;
        let (status, code) = match refused {
            Refused::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_config"),
            Refused::NeedsRestart(_) => (StatusCode::CONFLICT, "needs_restart"),
            Refused::Conflict(_) => (StatusCode::CONFLICT, "reload_conflict"),
        };
        ApiError {
            code: Some(code),
            ..Self::new(
                status,
                "invalid_request_error",
                format!("Config reload refused; the running config stays: {refused}"),
            )
        }
    }

    /// 400: the request cannot be served as asked.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 400 naming the request parameter at fault.
    pub fn invalid_param(param: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            param: Some(param),
            ..Self::bad_request(message)
        }
    }

    /// 422: the body is not a valid request.
    pub fn unprocessable(message: impl Into<String>, param: Option<&'static str>) -> ApiError {
        ApiError {
            param,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request_error",
                message,
            )
        }
    }

    /// 500: the request failed before any answer text.
    pub fn internal(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    /// 413: the body is over `api.max_body_bytes`.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError {
            code: Some("request_too_large"),
            ..Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                format!(
                    "The request body is larger than this gateway accepts ({limit} bytes, \
                     api.max_body_bytes); send a shorter chat or raise the limit."
                ),
            )
        }
    }

    /// 413: the shaped prompt is longer than the site takes
    /// (`providers.<p>.max_prompt_chars`).
    pub fn prompt_too_large(provider: ProviderKind, size: usize, limit: usize) -> ApiError {
        ApiError {
            code: Some("prompt_too_large"),
            ..Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                format!(
                    "The prompt is {size} characters; {provider} takes at most {limit} \
                     (providers.{}.max_prompt_chars). Send a shorter chat (trim the history) \
                     or raise the limit if the site takes more.",
                    provider.prefix()
                ),
            )
        }
    }

    /// A non-streaming request that failed, with the status its failure calls for: 429 for
    /// a site rate limit (with `Retry-After`), 504 for a timeout, 400 for content the site's
    /// filter refused, 502 for another site failure,
    /// 500 for the gateway's own. `partial` is the number of answer characters that came before
    /// the failure: a partial answer is never a 200 that looks complete.
    pub fn failed(
        message: String,
        class: Option<FailureClass>,
        partial: Option<usize>,
    ) -> ApiError {
        let mut message = message;
        if let Some(chars) = partial {
            message.push_str(&format!(
                " The answer broke off after {chars} characters; set \
                 api.partial_answers = \"keep\" to receive partial answers instead."
            ));
        }
        let code = partial.map(|_| "incomplete_answer");
        match class {
            Some(FailureClass::RateLimited) => ApiError {
                code: Some("rate_limited"),
                retry_after: Some(RATE_LIMIT_RETRY_SECS),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", message)
            },
            Some(FailureClass::Timeout) => ApiError {
                code: Some("timeout"),
                ..Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout_error", message)
            },
            Some(FailureClass::Blocked) => ApiError {
                code: Some("content_blocked"),
                ..Self::bad_request(message)
            },
            Some(FailureClass::ModelNotFound) => Self::model_unavailable(message),
            Some(FailureClass::Site) => ApiError {
                code,
                ..Self::new(StatusCode::BAD_GATEWAY, "upstream_error", message)
            },
            // An answer that broke off is the site's doing unless a lane said otherwise.
            Some(FailureClass::Gateway) | None if partial.is_some() => ApiError {
                code,
                ..Self::new(StatusCode::BAD_GATEWAY, "upstream_error", message)
            },
            Some(FailureClass::Gateway) | None => Self::internal(message),
        }
    }

    /// 400 `model_not_found`: the site does not serve the model the request selects (a paid
    /// model without paid access, or one its live list lacks).
    pub fn model_unavailable(message: String) -> ApiError {
        ApiError {
            param: Some("model"),
            code: Some("model_not_found"),
            ..Self::bad_request(message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
    }

    /// 503: the gateway is shutting down.
    pub fn shutting_down() -> ApiError {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "switchyard is shutting down.",
        )
    }

    /// The admission errors of the queue.
    pub fn rejected(rejection: Rejection, provider: &str) -> ApiError {
        match rejection {
            Rejection::QueueFull { pending } => {
                tracing::warn!(
                    "Rejecting request because the {provider} queue is full ({pending}/{QUEUE_CAPACITY} pending requests)."
                );
                ApiError {
                    code: Some("queue_full"),
                    retry_after: Some(1),
                    ..Self::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limit_error",
                        "Request queue is full. Please retry shortly.",
                    )
                }
            }
            Rejection::NoLane => ApiError {
                code: Some("no_lane"),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    format!(
                        "No running {provider} instance is available: its lanes are offline or failed to start. GET /api/lanes says why; switchyard keeps trying to bring offline lanes back."
                    ),
                )
            },
        }
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        ApiError {
            param: Some("model"),
            code: Some("model_not_found"),
            ..Self::bad_request(e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
