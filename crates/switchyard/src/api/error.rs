//! API errors and their one conversion into HTTP responses in OpenAI's error shape:
//! `{"error":{"message","type","param","code"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::models::ModelError;
use crate::scheduler::{QUEUE_CAPACITY, Rejection};

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
    pub(super) fn new(
        status: StatusCode,
        kind: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
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

    /// 502: the site's answer broke off after some text. A non-streaming client must not get
    /// a 200 that looks complete.
    pub fn broke_off(message: impl Into<String>, chars: usize) -> ApiError {
        ApiError {
            code: Some("incomplete_answer"),
            ..Self::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!(
                    "{} The answer broke off after {chars} characters; set \
                     api.partial_answers = \"keep\" to receive partial answers instead.",
                    message.into()
                ),
            )
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
                        "No running {provider} instance is available. Restart switchyard to relaunch this provider."
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
