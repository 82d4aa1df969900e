//! [`Driver`]: how a lane works one site's page with the scripts of its spec.
//!
//! Scripts run as one `Runtime.evaluate` each and wait on DOM events inside the page (a
//! `MutationObserver` with a deadline), never on fixed sleeps. They read their arguments from
//! `ARGS`, a JSON object spliced in by [`script`].

use std::time::Duration;

use serde_json::json;

use super::failure::SiteFailure;
use super::spec::{DriverSpec, Scripts};
use crate::browser::{BrowserError, Rect, Tab};
use crate::models::ProviderKind;
use crate::shaping::{DeepThinkEffort, ShapedRequest};
use switchyard_decode::Decode;

/// Shared helpers every page script starts with.
const PRELUDE: &str = include_str!("prelude.js");

/// The bound for one UI step inside a script (a menu opening, a toggle switching).
const STEP: Duration = Duration::from_secs(5);
/// How long an uploaded prompt file may take before Send enables (the reference's File
/// Upload Timeout).
const FILE_UPLOAD_TIMEOUT: Duration = Duration::from_secs(15);
/// The name of the uploaded prompt file.
const PROMPT_FILE: &str = "prompt.txt";

/// A driver failure, worded for the user.
#[derive(Debug, Clone)]
pub enum DriverError {
    /// The site shows a sign-in page; the lane cannot work until someone signs in.
    SignInRequired,
    /// The site's UI is not in English, which the selectors need.
    NotEnglish(String),
    /// The site does not serve the model the request selects (its own words).
    ModelUnavailable(String),
    /// A page step failed.
    Browser(BrowserError),
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriverError::SignInRequired => f.write_str(
                "the site asks for a sign-in; sign in once in this lane's browser profile \
                 (isolation = \"process\" keeps the session), then restart",
            ),
            DriverError::NotEnglish(lang) => write!(
                f,
                "UI language is not English (en-US) (detected: {lang}). Switch the site's \
                 language to English"
            ),
            DriverError::ModelUnavailable(why) => f.write_str(why),
            DriverError::Browser(e) => e.fmt(f),
        }
    }
}

impl From<BrowserError> for DriverError {
    fn from(e: BrowserError) -> Self {
        DriverError::Browser(e)
    }
}

/// What `send` learned that `stop` needs (the look of the Send control).
#[derive(Debug, Clone, Default)]
pub struct SendState {
    pub signature: String,
}

/// What the lane tells a stop script when the page cannot know it itself: with the replay
/// capture the page never reads the stream, so the site's own Stop cannot name the reply.
/// The script then calls the site's stop endpoint itself, from the page.
#[derive(Debug, Clone, Default)]
pub struct StopHints {
    /// The reply's id as the decoder read it from the stream ([`Decode::reply_id`]).
    pub reply_id: Option<String>,
    /// The headers of the captured completion request, for a follow-up call the site
    /// authenticates the same way (credentials stay in the page; cookies are left out).
    pub headers: Vec<(String, String)>,
}

/// The settings a chat is prepared with: everything of a request the prepare script reads
/// (model, toggles, effort, sampling, system text) and nothing of its prompt. A lane keeps the
/// one it prepared its next chat with, and compares it with the next request's.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatSetup(serde_json::Value);

impl ChatSetup {
    /// The setup a request needs.
    pub fn of(req: &ShapedRequest) -> ChatSetup {
        ChatSetup(json!({
            "thinking": req.toggles.thinking,
            "search": req.toggles.search,
            "expert": req.toggles.expert,
            "model": req.real_model,
            "system": req.system,
            "effort": req.deep_think_effort.map(|e| match e {
                DeepThinkEffort::High => "High",
                DeepThinkEffort::Max => "Max",
            }),
            // Where the site has them (AI Studio): the Thinking Level suffix (`high`, `r3`),
            // the request's sampling settings and URL context.
            "thinking_level": req.thinking_level.map(|l| l.suffix()),
            "temperature": req.sampling.temperature,
            "top_p": req.sampling.top_p,
            "max_tokens": req.sampling.max_tokens,
            "url_context": req.toggles.url_context,
            "thinking_effort": req.thinking_effort,
            "inference_provider": req.inference_provider,
        }))
    }

    /// Whether a chat prepared with `self` can be turned into one for `wanted` by changing
    /// settings alone, without a new chat. The scripts set a switch both ways, but a setting
    /// left unset (a model, an effort, a temperature, `null`) keeps what the chat has, and
    /// system text lives in the site's own state (a Space, a model's system prompt, the
    /// System Instructions): so a setting `self` has and `wanted` leaves unset, or other
    /// system text, needs a new chat, which starts from the site's defaults.
    pub fn adjustable_to(&self, wanted: &ChatSetup) -> bool {
        let (Some(have), Some(want)) = (self.0.as_object(), wanted.0.as_object()) else {
            return false;
        };
        have.get("system") == want.get("system")
            && have
                .iter()
                .all(|(key, v)| v.is_null() || want.get(key).is_some_and(|w| !w.is_null()))
    }
}

/// The driver of one provider: runs its spec's page scripts in a lane's page.
#[derive(Debug, Clone, Copy)]
pub struct Driver {
    provider: ProviderKind,
    pub(super) spec: &'static DriverSpec,
}

impl Driver {
    /// The driver of a provider, if this build has one.
    pub fn of(kind: ProviderKind) -> Option<Driver> {
        super::spec(kind).driver.as_ref().map(|spec| Driver {
            provider: kind,
            spec,
        })
    }

    pub fn provider(self) -> ProviderKind {
        self.provider
    }

    /// The page a lane opens, given the site's base URL.
    pub fn start_url(self, base_url: &str) -> String {
        format!("{base_url}/")
    }

    /// URL paths of the completion request the lane captures.
    pub fn stream_paths(self) -> &'static [&'static str] {
        self.spec.stream_paths
    }

    /// A fresh decoder for one response body.
    pub fn decoder(self) -> Box<dyn Decode + Send> {
        (self.spec.decoder)()
    }

    /// Reads the site's failure answer (HTTP status and body) as a typed failure.
    pub fn classify_failure(self, status: i64, body: &[u8]) -> SiteFailure {
        (super::spec(self.provider).classify)(status, body)
    }

    /// The site's send-as-file mode, when this request can use it.
    fn upload_for(self, req: &ShapedRequest) -> Option<&'static super::FileUpload> {
        let upload = super::spec(self.provider).site.file_upload.as_ref()?;
        (req.toggles.send_as_file && upload.applies(&req.toggles)).then_some(upload)
    }

    /// What goes into the chat box: the prompt, or beside an uploaded prompt file the filler.
    fn typed(self, req: &ShapedRequest) -> String {
        match self.upload_for(req) {
            Some(upload) => upload.filler.to_owned(),
            None => normalized_prompt(&req.prompt),
        }
    }

    fn scripts(self) -> &'static Scripts {
        &self.spec.scripts
    }

    /// A page script of this driver: the prelude, the hook table, `ARGS`, then `body`.
    pub(super) fn script(self, body: &str, args: &serde_json::Value) -> String {
        script(self.scripts().hooks, body, args)
    }

    /// Waits until the site shows its chat UI, and checks that it is in English.
    pub async fn wait_ready(self, tab: &Tab, timeout: Duration) -> Result<(), DriverError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let value = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let args = json!({ "timeout_ms": left.as_millis() as u64 });
            match tab
                .eval(
                    "waiting for the chat page",
                    &self.script(self.scripts().ready, &args),
                    left + tab.cdp_timeout(),
                )
                .await
            {
                Ok(value) => break value,
                // The site moved to another page while the check ran (a redirect in the
                // page's script, as sites do on a missing token): check the new page.
                Err(e) if navigated_away(&e) && !left.is_zero() => {
                    // The next document may not have its context yet: poll, to the deadline.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        if value["state"] == "auth" {
            return Err(DriverError::SignInRequired);
        }
        let lang = value["lang"].as_str().unwrap_or_default();
        if !(lang == "en" || lang.starts_with("en-")) {
            return Err(DriverError::NotEnglish(if lang.is_empty() {
                "none".to_owned()
            } else {
                lang.to_owned()
            }));
        }
        Ok(())
    }

    /// Opens a new chat, sets the toggles for the request and types the prompt: the whole
    /// preparation in one go, as `switchyard doctor --probe` runs it.
    pub async fn prepare(self, tab: &Tab, req: &ShapedRequest) -> Result<(), DriverError> {
        self.prepare_chat(tab, &ChatSetup::of(req), false).await?;
        self.enter_prompt(tab, req).await
    }

    /// Prepares the chat a prompt goes into: a new chat (unless `fresh` and the page already
    /// shows an empty new chat, which the script checks), the per-session guardrails, the
    /// model and toggles of `setup` (each changed only where it differs), and the focus in
    /// the empty chat box. The prepare script answers `true` once the chat box has the focus,
    /// or `{ focused, note }` with a remark for the log (a skipped control, said once per
    /// page), logged at info.
    pub async fn prepare_chat(
        self,
        tab: &Tab,
        setup: &ChatSetup,
        fresh: bool,
    ) -> Result<(), DriverError> {
        let mut args = setup.0.clone();
        args["fresh"] = json!(fresh);
        args["step_ms"] = json!(STEP.as_millis() as u64);
        let bound = STEP * 4 + tab.cdp_timeout();
        let prepared = tab
            .eval(
                "opening a new chat",
                &self.script(self.scripts().prepare, &args),
                bound,
            )
            .await?;
        // `true`, or `{ focused, note, models, unavailable }` when the script has something
        // to say: a remark (once), the site's live model list, a model it does not serve.
        let focused = prepared == serde_json::Value::Bool(true) || prepared["focused"] == true;
        if let Some(note) = prepared["note"].as_str() {
            tracing::info!(provider = %self.provider, "{note}");
        }
        if let Some(models) = prepared["models"].as_array() {
            let models = models
                .iter()
                .filter_map(|m| {
                    Some(super::LiveModel {
                        id: m["id"].as_str()?.to_owned(),
                        name: m["name"].as_str().unwrap_or_default().to_owned(),
                    })
                })
                .collect();
            super::report_live_models(self.provider, models);
        }
        if let Some(wanted) = prepared["unavailable"].as_str() {
            let served: Vec<String> = super::live_models(self.provider)
                .unwrap_or_default()
                .iter()
                .map(|m| format!("`{}`", m.id))
                .collect();
            return Err(DriverError::ModelUnavailable(format!(
                "Model `{wanted}` is not available on {}. The site serves {}.",
                self.provider,
                served.join(", ")
            )));
        }
        if !focused {
            return Err(DriverError::Browser(BrowserError::Script {
                what: "focusing the chat box".into(),
                cause: "the chat box did not take the focus".into(),
            }));
        }
        Ok(())
    }

    /// Takes up a chat prepared earlier: answers `true` once the chat box is there, empty and
    /// focused (no answer streams), `false` when the page no longer shows it (the caller
    /// prepares a chat again). One short script, the same for every site.
    pub async fn focus_prepared(self, tab: &Tab) -> Result<bool, DriverError> {
        let focused = tab
            .eval(
                "taking up the prepared chat",
                &self.script(FOCUS, &json!({})),
                tab.cdp_timeout(),
            )
            .await?;
        Ok(focused == serde_json::Value::Bool(true))
    }

    /// Puts the request's prompt into the focused, empty chat box of a prepared chat: attaches
    /// it as a file in send-as-file mode, then types it (or the filler beside the file).
    pub async fn enter_prompt(self, tab: &Tab, req: &ShapedRequest) -> Result<(), DriverError> {
        self.attach_prompt(tab, req).await?;
        self.type_prompt(tab, req).await
    }

    /// Types the prompt and presses Send, the two page steps in flight together: the send
    /// script waits (within the typing's own bound) until the chat box holds exactly the
    /// typed text, so it never presses Send on less, and the request saves a round trip
    /// through the browser, 10-40 ms on a busy one. A send that went through means the whole
    /// prompt was in the box, whatever the typing call said (its reply may have timed out
    /// after the text landed); otherwise the typing's error is the one reported.
    pub async fn type_and_send(
        self,
        tab: &Tab,
        req: &ShapedRequest,
        pointer: bool,
    ) -> Result<SendState, (&'static str, DriverError)> {
        let (typed, sent) = tokio::join!(self.type_prompt(tab, req), self.send(tab, req, pointer));
        match (typed, sent) {
            (_, Ok(sent)) => Ok(sent),
            (Err(e), Err(_)) => Err(("enter the prompt", e)),
            (Ok(()), Err(e)) => Err(("send the prompt", e)),
        }
    }

    /// Send-as-file mode: attaches the prompt as `prompt.txt` on the site's file input and
    /// waits until the page shows it attached. Nothing otherwise.
    pub async fn attach_prompt(self, tab: &Tab, req: &ShapedRequest) -> Result<(), DriverError> {
        if self.upload_for(req).is_some() {
            // The prompt goes as `prompt.txt` on the site's file input; the page uploads it
            // and shows its name once attached.
            let args = json!({ "text": req.prompt, "name": PROMPT_FILE, "wait_ms": FILE_UPLOAD_TIMEOUT.as_millis() as u64 });
            tab.eval(
                "attaching the prompt as a file",
                &self.script(ATTACH, &args),
                FILE_UPLOAD_TIMEOUT
                    + tab.cdp_timeout()
                    + Duration::from_millis(req.prompt.len() as u64 / 1000),
            )
            .await?;
        }
        Ok(())
    }

    /// Types the prompt (or the filler beside a prompt file) into the focused, empty chat box.
    pub async fn type_prompt(self, tab: &Tab, req: &ShapedRequest) -> Result<(), DriverError> {
        let prompt = self.typed(req);
        if prompt.is_empty() {
            return Ok(());
        }
        if typed_at_once(&prompt) {
            tab.insert_text(&prompt).await?;
        } else {
            let args = json!({ "text": prompt });
            let held = tab
                .eval(
                    "filling the chat box",
                    &self.script(FILL, &args),
                    typing_bound(tab, &prompt),
                )
                .await?;
            let expected = prompt.encode_utf16().count() as u64;
            if held.as_u64() != Some(expected) {
                return Err(DriverError::Browser(BrowserError::Script {
                    what: "filling the chat box".into(),
                    cause: format!("the chat box holds {held} characters, expected {expected}"),
                }));
            }
        }
        Ok(())
    }

    /// Presses Send. With `pointer` (`humanize_mouse`, where the site has it) the send script
    /// answers the boxes to click instead of clicking, and the pointer clicks them.
    pub async fn send(
        self,
        tab: &Tab,
        req: &ShapedRequest,
        pointer: bool,
    ) -> Result<SendState, DriverError> {
        // Beside a prompt file, Send enables once the upload is done.
        let step = if self.upload_for(req).is_some() {
            FILE_UPLOAD_TIMEOUT
        } else {
            STEP
        };
        let prompt = self.typed(req);
        let typed = prompt.encode_utf16().count();
        self.press_send(tab, typed, typing_bound(tab, &prompt), step, pointer)
            .await
    }

    /// `typing`: how long the text may take to reach the box (the typing call's own bound).
    async fn press_send(
        self,
        tab: &Tab,
        typed: usize,
        typing: Duration,
        step: Duration,
        pointer: bool,
    ) -> Result<SendState, DriverError> {
        let args = json!({
            "prompt_len": typed,
            "typed_ms": typing.as_millis() as u64,
            "step_ms": step.as_millis() as u64,
            "pointer": pointer,
        });
        let sent = tab
            .eval(
                "pressing Send",
                &self.script(self.scripts().send, &args),
                typing + step + tab.cdp_timeout(),
            )
            .await?;
        // `"<signature>"`, or `{ signature, clicks: [[x, y, width, height], …] }` to click in
        // order with the pointer.
        if let Some(clicks) = sent["clicks"].as_array() {
            for click in clicks {
                let n = |i: usize| click[i].as_f64().unwrap_or_default();
                let rect = Rect {
                    x: n(0),
                    y: n(1),
                    width: n(2),
                    height: n(3),
                };
                if rect.width <= 0.0 || rect.height <= 0.0 {
                    return Err(DriverError::Browser(BrowserError::Script {
                        what: "pressing Send".into(),
                        cause: "the control to click has no size on the page".into(),
                    }));
                }
                tab.human_click(rect).await?;
            }
        }
        let signature = sent.as_str().or_else(|| sent["signature"].as_str());
        Ok(SendState {
            signature: signature.unwrap_or_default().to_owned(),
        })
    }

    /// The site's Blocked-Response Handling, if it has it.
    pub fn nudge_spec(self) -> Option<&'static super::Nudge> {
        self.spec.nudge.as_ref()
    }

    /// One nudge after a blocked or empty answer: the page script replaces the blocked turn,
    /// the nudge text is typed into the empty composer, and Send is pressed.
    pub async fn nudge(self, tab: &Tab, pointer: bool) -> Result<SendState, DriverError> {
        let Some(nudge) = self.nudge_spec() else {
            return Err(DriverError::Browser(BrowserError::Script {
                what: "nudging the site".into(),
                cause: "this site has no Blocked-Response Handling".into(),
            }));
        };
        let args = json!({ "replacement": nudge.replacement, "step_ms": STEP.as_millis() as u64 });
        let focused = tab
            .eval(
                "replacing the blocked turn",
                &self.script(nudge.script, &args),
                STEP * 3 + tab.cdp_timeout(),
            )
            .await?;
        if focused != serde_json::Value::Bool(true) {
            return Err(DriverError::Browser(BrowserError::Script {
                what: "replacing the blocked turn".into(),
                cause: "the chat box did not take the focus".into(),
            }));
        }
        tab.insert_text(nudge.text).await?;
        let typing = typing_bound(tab, nudge.text);
        self.press_send(
            tab,
            nudge.text.encode_utf16().count(),
            typing,
            STEP,
            pointer,
        )
        .await
    }

    /// Presses the site's Stop control if it shows (and, given `hints`, tells the site to stop
    /// the reply the way its Stop would); returns whether it did.
    pub async fn stop(
        self,
        tab: &Tab,
        state: &SendState,
        hints: Option<&StopHints>,
    ) -> Result<bool, DriverError> {
        let headers: serde_json::Map<String, serde_json::Value> = hints
            .map(|h| h.headers.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|(name, _)| {
                let name = name.to_ascii_lowercase();
                !(name.starts_with(':')
                    || matches!(name.as_str(), "cookie" | "content-length" | "host"))
            })
            .map(|(name, value)| (name.to_ascii_lowercase(), json!(value)))
            .collect();
        let args = json!({
            "signature": state.signature,
            "reply_id": hints.and_then(|h| h.reply_id.clone()),
            "headers": headers,
        });
        let clicked = tab
            .eval(
                "pressing Stop",
                &self.script(self.scripts().stop, &args),
                tab.cdp_timeout(),
            )
            .await?;
        Ok(clicked == serde_json::Value::Bool(true))
    }
}

/// Whether a page script failed because its document went away (a navigation), not by itself.
fn navigated_away(e: &BrowserError) -> bool {
    match e {
        BrowserError::Cdp { cause, .. } | BrowserError::Script { cause, .. } => {
            cause.contains("context was destroyed") || cause.contains("Cannot find context")
        }
        _ => false,
    }
}

/// Wraps a script body as an async function call with the prelude, the driver's hook table and
/// its arguments.
fn script(hooks: &str, body: &str, args: &serde_json::Value) -> String {
    format!("(async () => {{\n{PRELUDE}\n{hooks}\nconst ARGS = {args};\n{body}\n}})()")
}

/// Takes up a prepared chat: the chat box must be there and empty with no answer streaming;
/// it gets the focus with the caret at its end (a contenteditable editor's last line).
const FOCUS: &str = "
const box = sy.hook('chat_box');
if (!box || sy.text(box).trim() !== '' || (HOOKS.stop && sy.hook('stop'))) return false;
box.focus();
if (box.isContentEditable) {
  const range = document.createRange();
  range.selectNodeContents(box.lastElementChild || box);
  range.collapse(false);
  const selection = getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
} else if (typeof box.select === 'function') {
  box.select();
}
return document.activeElement === box;
";

/// Sets the whole prompt as the chat box's value (the page's hook table finds the box).
const FILL: &str = "return sy.fill(sy.hook('chat_box'), ARGS.text);";

/// Sets `ARGS.text` as the file `ARGS.name` on the page's `file_input` hook (as a person's file
/// pick would), then waits until the composer shows the file's name (the site's attachment
/// chip).
const ATTACH: &str = "
const input = sy.hook('file_input');
if (!input) throw new Error('the file input was not found');
const files = new DataTransfer();
files.items.add(new File([ARGS.text], ARGS.name, { type: 'text/plain' }));
input.files = files.files;
input.dispatchEvent(new Event('change', { bubbles: true }));
await sy.until(
  `the attached file ${ARGS.name} to show`,
  () => (document.body.innerText || '').includes(ARGS.name),
  ARGS.wait_ms,
);
return true;
";

/// Prompts up to this many lines and characters are typed as one trusted input event
/// (`Input.insertText`, what a person's typing looks like to the page). Longer ones are set in
/// one step instead: `insertText` costs the renderer time per line (3,000 lines took 8 s, 10,000
/// ran past the CDP bound), while setting the value takes milliseconds at any size.
const TYPE_AT_MOST_LINES: usize = 200;
const TYPE_AT_MOST_CHARS: usize = 20_000;

/// How long typing `prompt` may take: `Tab::insert_text`'s own bound when it is typed at once,
/// otherwise the CDP bound and a second per 1 MB set in one step.
fn typing_bound(tab: &Tab, prompt: &str) -> Duration {
    if typed_at_once(prompt) {
        tab.insert_text_bound(prompt)
    } else {
        tab.cdp_timeout() + Duration::from_millis(prompt.len() as u64 / 1000)
    }
}

fn typed_at_once(prompt: &str) -> bool {
    prompt.len() <= TYPE_AT_MOST_CHARS && prompt.lines().count() <= TYPE_AT_MOST_LINES
}

/// A textarea stores line breaks as `\n`; typing the prompt that way lets the driver check the
/// box holds exactly what was typed.
fn normalized_prompt(prompt: &str) -> String {
    prompt.replace("\r\n", "\n").replace('\r', "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_get_their_arguments_and_the_prelude() {
        let s = script("const HOOKS = {};", "return ARGS.x;", &json!({"x": "a\"b"}));
        assert!(s.contains("const ARGS = {\"x\":\"a\\\"b\"};"));
        assert!(s.contains("const sy = "));
        assert!(s.contains("const HOOKS = {};"));
        assert!(s.starts_with("(async () => {"));
    }

    #[test]
    fn prompts_are_typed_with_unix_line_breaks() {
        assert_eq!(normalized_prompt("a\r\nb\rc\n"), "a\nb\nc\n");
    }
}
