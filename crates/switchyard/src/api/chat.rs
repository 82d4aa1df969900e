//! `POST /v1/chat/completions` and `POST /v1/completions`.
//!
//! A request is parsed, routed by its model ID, shaped, and admitted to the queue. Its answer
//! comes back as [`StreamEvent`]s on a channel: streamed out as SSE chunks, or gathered into one
//! JSON reply. A [`CancelGuard`] travels with the response; when the client goes away (hyper
//! drops the response body or the handler future), the guard cancels the request, which the
//! scheduler removes from its queue or the lane stops in the page.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, stream};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::AppState;
use super::error::ApiError;
use super::guard::Caller;
use super::limits::{Gate, Limits};
use super::sse::{self, Chunks, Frames, PromptTokens};
use super::stats::{Arrived, Timing};
use super::tokens;
use super::wire::{self, ChatRequest, CompletionRequest};
use crate::config::PartialAnswers;
use crate::dashboard::recent::Tracker;
use crate::ids::{RequestId, unix_now};
use crate::metrics::{self, Outcome, RequestMetrics};
use crate::models::{ModelChoice, ModelError};
use crate::providers::{FinishReason, StreamEvent};
use crate::scheduler::{
    EVENT_CAPACITY, FailureNote, Job, JobMeta, LaneClock, Scheduler, StopReason, Timeouts,
};
use crate::shaping::effort::{self, EffortOverride};
use crate::shaping::{self, RequestKind, RequestOptions, ShapedRequest};

pub async fn chat_completions(
    State(app): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    arrived: Option<Extension<Arrived>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let arrived = arrived.map_or_else(Instant::now, |a| a.0.0);
    handle(app, caller, arrived, headers, body, RequestKind::Chat).await
}

pub async fn completions(
    State(app): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    arrived: Option<Extension<Arrived>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let arrived = arrived.map_or_else(Instant::now, |a| a.0.0);
    handle(app, caller, arrived, headers, body, RequestKind::Text).await
}

/// Both completion routes: read the body, run the request, name its id on the answer.
async fn handle(
    app: Arc<AppState>,
    caller: Option<Extension<Caller>>,
    arrived: Instant,
    headers: HeaderMap,
    body: Body,
    kind: RequestKind,
) -> Response {
    let id = RequestId::random();
    let limit = app.config().api.max_body_bytes;
    let caller = caller.map(|c| c.0).unwrap_or_default();
    let result = match json_body(&headers, body, limit).await {
        Ok(body) => match kind {
            RequestKind::Chat => chat(app, &body, incoming(caller, &id, arrived)).await,
            RequestKind::Text => text(app, &body, incoming(caller, &id, arrived)).await,
        },
        Err(e) => Err(e),
    };
    with_request_id(result.unwrap_or_else(IntoResponse::into_response), &id)
}

/// Who sent a request, its id, and when its head reached the API.
struct Incoming {
    caller: Caller,
    id: RequestId,
    arrived: Instant,
}

fn incoming(caller: Caller, id: &RequestId, arrived: Instant) -> Incoming {
    Incoming {
        caller,
        id: id.clone(),
        arrived,
    }
}

/// The response header that names a request's id: the id `/api/queue` shows and the request
/// controls take. Every answer of the completion routes has one, errors too.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

fn with_request_id(mut resp: Response, id: &RequestId) -> Response {
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    resp
}

/// The body of a JSON route: readable, within the size limit, and sent as JSON. A request with
/// no `Content-Type` passes (curl-like clients); any other type, `text/plain` above all (which a
/// web page may send cross-origin without a preflight), is a 415.
///
/// A body over `limit` is read on (up to [`DRAIN_LIMIT`] more) without being kept, so the client,
/// still sending, receives its 413 instead of a reset connection.
async fn json_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    if let Some(value) = headers.get(header::CONTENT_TYPE) {
        let essence = value
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let json = essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"));
        if !json {
            let mut e = ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request_error",
                format!(
                    "Content-Type `{essence}` is not accepted; send the body as \
                     `application/json`."
                ),
            );
            e.code = Some("unsupported_media_type");
            return Err(e);
        }
    }
    let mut data = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(piece) = data.next().await {
        let piece = piece.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("The request body could not be read: {e}."),
            )
        })?;
        seen += piece.len();
        if seen > limit + DRAIN_LIMIT {
            break;
        }
        if seen <= limit {
            kept.extend_from_slice(&piece);
        }
    }
    if seen > limit {
        return Err(ApiError::too_large(limit));
    }
    Ok(Bytes::from(kept))
}

/// How far past the limit a body is still read (and dropped) so its sender gets the 413.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

async fn chat(app: Arc<AppState>, body: &[u8], who: Incoming) -> Result<Response, ApiError> {
    let raw = wire::parse_json(body)?;
    let req: ChatRequest = wire::from_json(&raw)?;
    let messages = req.chat_messages()?;
    let routed = Routed::new(&app, req.model.as_deref(), &raw)?;
    let count = messages.len();
    info!(
        "Received chat completion request for {} ({count} messages, {})",
        routed.choice.provider,
        streaming(req.stream)
    );
    let config = app.config();
    let settings = config.provider(routed.choice.provider).shaping();
    let shaped = shaping::shape_chat(
        messages,
        &routed.choice,
        &settings,
        routed.options((&req.sampling).into()),
    );
    dispatch(
        app,
        &raw,
        shaped,
        count,
        Delivery::of(req.stream, &req.sampling),
        who,
    )
    .await
}

async fn text(app: Arc<AppState>, body: &[u8], who: Incoming) -> Result<Response, ApiError> {
    let raw = wire::parse_json(body)?;
    let req: CompletionRequest = wire::from_json(&raw)?;
    let prompt = req.prompt_text()?;
    let routed = Routed::new(&app, req.model.as_deref(), &raw)?;
    info!(
        "Received text completion request for {} ({} chars, {})",
        routed.choice.provider,
        prompt.chars().count(),
        streaming(req.stream)
    );
    let config = app.config();
    let settings = config.provider(routed.choice.provider).shaping();
    let shaped = shaping::shape_text(
        &prompt,
        &routed.choice,
        &settings,
        routed.options((&req.sampling).into()),
    );
    dispatch(
        app,
        &raw,
        shaped,
        1,
        Delivery::of(req.stream, &req.sampling),
        who,
    )
    .await
}

/// A request's model, routed, with its `reasoning_effort` outcome.
struct Routed {
    /// The model string as the client sent it (or the default).
    model: String,
    choice: ModelChoice,
    /// Set when efforts count for the routed provider.
    effort: Option<EffortOverride>,
    /// `<prefix>_inference_provider`, else `inference_provider` (behavior-spec §2.3).
    inference_provider: Option<String>,
    /// `<prefix>_thinking_effort`, normalised as an effort is; wins over the effort's.
    thinking_effort: Option<String>,
}

impl Routed {
    fn new(app: &AppState, model: Option<&str>, raw: &Value) -> Result<Routed, ApiError> {
        let sent = model.is_some();
        let model = model.unwrap_or(crate::providers::DEFAULT_MODEL).to_owned();
        let choice = app
            .routing()
            .route(&model)
            .map_err(|e| model_error(app, e, &model, sent))?;
        let effort = app
            .config()
            .api
            .accepts_effort(choice.provider)
            .then(|| effort::effort_override(choice.provider, effort::requested_effort(raw)));
        let prefix = choice.provider.prefix();
        let text = |key: &str| {
            raw.get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let inference_provider =
            text(&format!("{prefix}_inference_provider")).or_else(|| text("inference_provider"));
        let thinking_effort = text(&format!("{prefix}_thinking_effort"))
            .map(|v| effort::normalize_effort(Some(&Value::String(v))))
            .filter(|v| !v.is_empty());
        Ok(Routed {
            model,
            choice,
            effort,
            inference_provider,
            thinking_effort,
        })
    }

    fn options(&self, sampling: shaping::Sampling) -> RequestOptions<'_> {
        RequestOptions {
            client_model: &self.model,
            sampling,
            effort: self.effort.as_ref(),
            fields: shaping::SiteFields {
                inference_provider: self.inference_provider.as_deref(),
                thinking_effort: self.thinking_effort.as_deref(),
            },
        }
    }
}

/// How the answer is delivered: streamed or not, with the request's own limits.
struct Delivery {
    stream: bool,
    /// `stream_options.include_usage`: end a stream with a usage chunk.
    include_usage: bool,
    limits: Limits,
}

impl Delivery {
    fn of(stream: bool, sampling: &wire::WireSampling) -> Delivery {
        Delivery {
            stream,
            include_usage: sampling.include_usage(),
            limits: sampling.limits(),
        }
    }
}

/// How many served IDs a routing error lists before pointing at `/v1/models`.
const LISTED_IDS: usize = 12;

/// The routing 400 with the reference's text, plus what it leaves out: the model the request
/// asked for (or that it named none) and the IDs this gateway serves.
fn model_error(app: &AppState, e: ModelError, model: &str, sent: bool) -> ApiError {
    let lists_ids = matches!(e, ModelError::Unsupported { .. });
    let mut err = ApiError::from(e);
    let mut more = String::new();
    if !sent {
        more.push_str(&format!(
            " The request named no model, so the default `{model}` was used."
        ));
    } else if !lists_ids {
        more.push_str(&format!(" The request asked for `{}`.", model.trim()));
    }
    if !lists_ids {
        let ids: Vec<String> = app.routing().list().into_iter().map(|m| m.id).collect();
        let shown: Vec<String> = ids
            .iter()
            .take(LISTED_IDS)
            .map(|id| format!("`{id}`"))
            .collect();
        more.push_str(&format!(" This gateway serves {}", shown.join(", ")));
        if ids.len() > LISTED_IDS {
            more.push_str(&format!(
                " and {} more (GET /v1/models)",
                ids.len() - LISTED_IDS
            ));
        }
        more.push('.');
    }
    err.message.push_str(&more);
    err
}

/// Queues a shaped request, or in Dry Run Mode records it and answers 418.
async fn dispatch(
    app: Arc<AppState>,
    raw: &Value,
    shaped: ShapedRequest,
    messages: usize,
    delivery: Delivery,
    who: Incoming,
) -> Result<Response, ApiError> {
    let config = app.config();
    if config.api.dry_run {
        return Err(app.dry_run.capture(raw, &shaped, messages));
    }
    // A model the site does not serve here (paid, or not on its live list): a 400 now rather
    // than a failure in the page.
    if let Some(why) = crate::providers::refuse_model(
        shaped.provider,
        shaped.real_model.as_deref(),
        config.provider(shaped.provider),
    ) {
        info!(request = %who.id, "Refusing the request for {}: {why}", shaped.provider);
        return Err(ApiError::model_unavailable(why));
    }
    // Over the site's prompt size: sent as a file where the site takes one, else refused
    // before it is queued. `[[file]]` asks for the file at any size.
    let mut shaped = shaped;
    let limit = config.provider(shaped.provider).max_prompt_chars;
    let size =
        shaped.prompt.chars().count() + shaped.system.as_deref().map_or(0, |s| s.chars().count());
    let upload = crate::providers::spec(shaped.provider)
        .site
        .file_upload
        .as_ref()
        .filter(|u| u.applies(&shaped.toggles));
    if size > limit {
        if upload.is_none() {
            info!(request = %who.id, "Refusing a {size}-character prompt for {} (limit {limit})", shaped.provider);
            metrics::request_ended(shaped.provider, &shaped.client_model, Outcome::Rejected);
            return Err(ApiError::prompt_too_large(shaped.provider, size, limit));
        }
        info!(request = %who.id, "A {size}-character prompt for {} (over {limit}) goes as a file", shaped.provider);
        shaped.toggles.send_as_file = true;
    } else if shaped.toggles.send_as_file && upload.is_none() {
        // The reference's fallback when the site has no file input: the text is typed.
        info!(request = %who.id, "{} takes no file here; [[file]] is ignored and the prompt typed", shaped.provider);
        shaped.toggles.send_as_file = false;
    }
    drop(config);
    respond(app, shaped, delivery, who).await
}

fn streaming(stream: bool) -> &'static str {
    if stream { "streaming" } else { "non-streaming" }
}

/// Cancels its request when dropped, unless the answer was delivered in full first.
struct CancelGuard {
    id: RequestId,
    token: CancellationToken,
    scheduler: Scheduler,
    done: bool,
}

impl CancelGuard {
    /// The answer is complete for the client (a stop sequence or `max_tokens` cut it): stop the
    /// site's generation, which the client no longer needs.
    fn stop_site(&mut self, why: FinishReason) {
        info!(request = %self.id, "Answer cut by the request's own limit ({}); stopping the site.", why.as_str());
        self.done = true;
        self.token.cancel();
        self.scheduler.cancel_soon(self.id.clone());
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.done {
            info!(request = %self.id, "Client disconnected, aborting request...");
            self.token.cancel();
            self.scheduler.cancel_soon(self.id.clone());
        }
    }
}

/// Queues a request and answers it: streamed, or gathered into one reply.
async fn respond(
    app: Arc<AppState>,
    shaped: ShapedRequest,
    delivery: Delivery,
    who: Incoming,
) -> Result<Response, ApiError> {
    let Incoming {
        caller,
        id,
        arrived,
    } = who;
    let stream = delivery.stream;
    let shaped = Arc::new(shaped);

    let provider = shaped.provider;
    // One snapshot of the settings for the whole request (a reload may swap them meanwhile).
    let config = app.config();
    let settings = config.provider(provider);
    let kind = shaped.kind;
    let model = shaped.client_model.clone();
    let (events_tx, events) = mpsc::channel(EVENT_CAPACITY);
    let token = CancellationToken::new();
    let meta = JobMeta {
        model: model.clone(),
        stream,
        kind: match kind {
            RequestKind::Chat => "chat",
            RequestKind::Text => "text",
        },
        queued_at: unix_now(),
        key_name: caller.key_name.clone(),
    };
    let meta_key = caller.key_name;
    let job = Job {
        id: id.clone(),
        request: shaped.clone(),
        events: events_tx,
        cancel: token.clone(),
        reason: StopReason::default(),
        failure: FailureNote::default(),
        timeouts: Timeouts {
            first_chunk: settings.first_chunk_timeout,
            idle: settings.idle_timeout,
        },
        queue_deadline: None,
        clock: LaneClock::default(),
    };
    let failure = job.failure.clone();
    let mut timing = Timing::new(arrived, job.clock.clone(), app.stats.clone())
        .with_metrics(RequestMetrics::new(provider, &model, arrived));
    // The guard exists before the job is submitted: a client gone while the submission is in
    // flight still cancels it.
    let mut guard = CancelGuard {
        id: id.clone(),
        token,
        scheduler: app.scheduler.clone(),
        done: false,
    };
    let queue_timeout = settings.queue_timeout;
    timing.submitted();
    let admitted = app
        .scheduler
        .submit_within(provider, meta, job, Some(queue_timeout))
        .await;
    if !matches!(admitted, Ok(Ok(()))) {
        guard.done = true;
        timing.ended(Outcome::Rejected);
    }
    match admitted {
        Err(_) => return Err(ApiError::shutting_down()),
        Ok(Err(rejection)) => return Err(ApiError::rejected(rejection, provider.display_name())),
        Ok(Ok(())) => {}
    }
    // The dashboard's row for this request; recorded when the answer ends or is dropped.
    let tracker = Tracker::new(
        app.recent.clone(),
        arrived,
        id.0.clone(),
        provider.prefix(),
        model.clone(),
        meta_key,
        stream,
    );
    let chunks = Chunks::new(&id.0, unix_now(), &model, kind, config.api.reasoning_format);
    // What was typed into the site, counted only if usage is needed and the site gave none.
    let typed = shaped.clone();
    let prompt_tokens: PromptTokens = Box::new(move || {
        tokens::count(&typed.prompt) + typed.system.as_deref().map_or(0, tokens::count)
    });
    if stream {
        let frames =
            Frames::new(chunks).with(delivery.limits, delivery.include_usage, prompt_tokens);
        Ok(stream_response(frames, events, guard, timing, tracker))
    } else {
        let gate = Gate::new(delivery.limits);
        let partial = config.api.partial_answers;
        let answer = Answer {
            chunks,
            gate,
            prompt_tokens,
            partial,
            failure,
        };
        gather(answer, events, guard, timing, tracker).await
    }
}

struct Streamer {
    frames: Frames,
    events: mpsc::Receiver<StreamEvent>,
    guard: CancelGuard,
    /// Frames made and not yet sent (the closing ones come several at once).
    pending: VecDeque<Bytes>,
    /// Whether the request may still be waiting in the queue (until the scheduler says it is
    /// not, or its first event comes).
    queued: bool,
    /// [`QUEUE_NOTE_EVERY`] and [`KEEPALIVE_AFTER`] (shorter in tests).
    quiet: Quiet,
    /// The overhead clocks; `None` in unit tests.
    timing: Option<Timing>,
    /// The dashboard's recent-requests row; `None` in unit tests.
    tracker: Option<Tracker>,
}

/// How long a stream may be quiet before a comment goes out: while queued, once running.
#[derive(Debug, Clone, Copy)]
struct Quiet {
    queued: Duration,
    running: Duration,
}

/// While a streamed request waits in the queue, how often a `: queued <n> of <m>` comment
/// tells its client where it stands.
pub const QUEUE_NOTE_EVERY: Duration = Duration::from_secs(3);
/// Once it runs, how long the site may be silent (thinking) before a `: keepalive` comment
/// goes out, so proxies and clients do not time the stream out.
pub const KEEPALIVE_AFTER: Duration = Duration::from_secs(15);

/// An SSE response: the role chunk, a chunk per event, the finish chunk, usage, `[DONE]`; SSE
/// comments (lines starting with `:`, which clients skip) while it waits or the site is silent.
fn stream_response(
    frames: Frames,
    events: mpsc::Receiver<StreamEvent>,
    guard: CancelGuard,
    timing: Timing,
    tracker: Tracker,
) -> Response {
    let state = Streamer {
        pending: frames.opening().into_iter().collect(),
        frames,
        events,
        guard,
        queued: true,
        quiet: Quiet {
            queued: QUEUE_NOTE_EVERY,
            running: KEEPALIVE_AFTER,
        },
        timing: Some(timing),
        tracker: Some(tracker),
    };
    let body = stream::unfold(state, |mut s| async move {
        let bytes = s.next_frame().await?;
        if let Some(t) = &mut s.tracker {
            t.sent(bytes.len());
        }
        Some((Ok::<_, Infallible>(bytes), s))
    });
    let mut resp = Response::new(Body::from_stream(body));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

impl Streamer {
    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Some(frame);
            }
            if self.frames.is_over() {
                if let Some(t) = &mut self.timing {
                    t.finish();
                }
                if let Some(t) = &mut self.tracker {
                    t.ok();
                }
                return None;
            }
            let quiet = if self.queued {
                self.quiet.queued
            } else {
                self.quiet.running
            };
            let event = match tokio::time::timeout(quiet, self.events.recv()).await {
                Ok(event) => event,
                Err(_) => return Some(self.quiet_note().await),
            };
            self.queued = false;
            if let Some(t) = &mut self.timing {
                t.event(event.as_ref());
            }
            // The lane dropped the request without an end: say so, never hang.
            let event = event.unwrap_or_else(|| {
                StreamEvent::Error("The lane ended the request without an answer.".to_owned())
            });
            if let Some(t) = &mut self.tracker {
                match &event {
                    StreamEvent::Error(message) => t.error(message),
                    StreamEvent::Text(_) | StreamEvent::Reasoning(_) => t.content(),
                    _ => {}
                }
            }
            if let Some(reason) = self.frames.event(&event, &mut self.pending) {
                self.guard.stop_site(reason);
                if let Some(t) = &mut self.timing {
                    t.ended(Outcome::Completed);
                }
            }
            if self.frames.is_over() {
                self.guard.done = true;
            }
        }
    }

    /// The comment for a quiet spell: the queue position while queued, else a keepalive.
    async fn quiet_note(&mut self) -> Bytes {
        if self.queued {
            match self.guard.scheduler.position(self.guard.id.clone()).await {
                Some((at, of)) => return sse::comment(&format!("queued {at} of {of}")),
                None => self.queued = false,
            }
        }
        sse::comment("keepalive")
    }
}

/// What a non-streaming reply is built with.
struct Answer {
    chunks: Chunks,
    gate: Gate,
    prompt_tokens: PromptTokens,
    partial: PartialAnswers,
    failure: FailureNote,
}

/// A non-streaming reply: gathers the whole answer (through the request's limits), then
/// answers once; the overhead sample ends when the reply is built.
async fn gather(
    answer: Answer,
    events: mpsc::Receiver<StreamEvent>,
    guard: CancelGuard,
    mut timing: Timing,
    mut tracker: Tracker,
) -> Result<Response, ApiError> {
    let reply = gather_reply(answer, events, guard, &mut timing, &mut tracker).await;
    timing.finish();
    match &reply {
        Ok(resp) => {
            let size = axum::body::HttpBody::size_hint(resp.body()).exact();
            tracker.sent(usize::try_from(size.unwrap_or(0)).unwrap_or(usize::MAX));
            tracker.ok();
        }
        Err(e) => tracker.error(&e.message),
    }
    reply
}

async fn gather_reply(
    answer: Answer,
    mut events: mpsc::Receiver<StreamEvent>,
    mut guard: CancelGuard,
    timing: &mut Timing,
    tracker: &mut Tracker,
) -> Result<Response, ApiError> {
    let Answer {
        mut chunks,
        mut gate,
        prompt_tokens,
        partial,
        failure,
    } = answer;
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut site_usage = None;
    let mut finish = FinishReason::Stop;
    let mut error = None;
    let mut passed = Vec::new();
    'answer: loop {
        passed.clear();
        let event = events.recv().await;
        timing.event(event.as_ref());
        let cut = match event {
            Some(StreamEvent::Usage(u)) => {
                site_usage = Some(u);
                continue;
            }
            Some(StreamEvent::Error(message)) => {
                gate.flush(&mut passed);
                error = Some(message);
                None
            }
            None => {
                gate.flush(&mut passed);
                error = Some("The lane ended the request without an answer.".to_owned());
                None
            }
            Some(event) => gate.push(event, &mut passed),
        };
        for event in &passed {
            match event {
                StreamEvent::Finished(reason) => {
                    finish = *reason;
                    break 'answer;
                }
                piece => {
                    tracker.content();
                    let (c, r) = chunks.split(piece);
                    content.push_str(&c);
                    reasoning.push_str(&r);
                }
            }
        }
        if let Some(reason) = cut {
            guard.stop_site(reason);
            timing.ended(Outcome::Completed);
            finish = reason;
            break;
        }
        if error.is_some() {
            break;
        }
    }
    guard.done = true;
    if let Some(close) = chunks.close_think() {
        content.push_str(&close);
    }
    if let Some(message) = error {
        if content.trim().is_empty() && reasoning.trim().is_empty() {
            return Err(ApiError::failed(message, failure.get(), None));
        }
        if partial == PartialAnswers::Error {
            warn!(request = %guard.id, error = %message, "the answer broke off; answering an error, not the partial text");
            let chars = content.chars().count();
            return Err(ApiError::failed(message, failure.get(), Some(chars)));
        }
        warn!(request = %guard.id, error = %message, "returning the partial answer of a failed request (api.partial_answers = \"keep\")");
        finish = FinishReason::Length;
    }
    let usage = sse::estimate_usage(
        site_usage.as_ref(),
        &prompt_tokens,
        gate.completion_tokens(),
    );
    let usage = sse::usage_json(&usage);
    let (object, choice) = if chunks.kind() == RequestKind::Text {
        (
            "text_completion",
            json!({"text": content, "index": 0, "logprobs": null, "finish_reason": finish.as_str()}),
        )
    } else {
        let mut message = json!({"role": "assistant", "content": content});
        if !reasoning.is_empty() {
            message["reasoning_content"] = json!(reasoning);
        }
        (
            "chat.completion",
            json!({"index": 0, "message": message, "finish_reason": finish.as_str()}),
        )
    };
    let body = json!({
        "id": chunks.id(),
        "object": object,
        "created": unix_now(),
        "model": chunks.model(),
        "choices": [choice],
        "usage": usage,
    });
    let mut resp = (StatusCode::OK, sse::to_json(&body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ReasoningFormat;
    use crate::scheduler::Concurrency;

    #[tokio::test]
    async fn a_quiet_stream_gets_comments_and_its_data_lines_stay_json() {
        let scheduler = Scheduler::spawn(Concurrency::PerLane, Default::default());
        let (tx, events) = mpsc::channel(4);
        let chunks = Chunks::new("r", 0, "m", RequestKind::Chat, ReasoningFormat::ThinkTags);
        let frames = Frames::new(chunks);
        let mut s = Streamer {
            pending: frames.opening().into_iter().collect(),
            frames,
            events,
            guard: CancelGuard {
                id: RequestId("r".into()),
                token: CancellationToken::new(),
                scheduler,
                done: false,
            },
            queued: true,
            quiet: Quiet {
                queued: Duration::from_millis(20),
                running: Duration::from_millis(20),
            },
            timing: None,
            tracker: None,
        };
        let text = |b: Option<Bytes>| String::from_utf8(b.unwrap().to_vec()).unwrap();
        assert!(
            text(s.next_frame().await).starts_with("data: {"),
            "the role chunk"
        );
        // Not in the queue (no lane ever took it here): a keepalive, not a position.
        assert_eq!(text(s.next_frame().await), ": keepalive\n\n");
        assert!(!s.queued);
        tx.send(StreamEvent::Text("hi".into())).await.unwrap();
        let chunk = text(s.next_frame().await);
        assert!(
            chunk.starts_with("data: {") && chunk.contains("hi"),
            "{chunk}"
        );
        assert_eq!(text(s.next_frame().await), ": keepalive\n\n");
        tx.send(StreamEvent::Finished(FinishReason::Stop))
            .await
            .unwrap();
        let mut rest = String::new();
        while let Some(frame) = s.next_frame().await {
            rest.push_str(std::str::from_utf8(&frame).unwrap());
        }
        assert!(rest.ends_with("data: [DONE]\n\n"), "{rest}");
        assert!(s.guard.done);
    }
}
