//! Warm lanes: after a request, a lane prepares its next chat while it is idle, so the next
//! request starts with typing.
//!
//! Preparing a chat (a new chat, the per-session guardrails, the model and toggles) is split
//! from entering a prompt and pressing Send (`providers::Driver::prepare_chat` and
//! `type_and_send`). The supervisor runs [`Lane::prepare_next`] as soon as a request is over
//! (`super::supervisor`), with the settings of the lane's last request ([`ChatSetup`]); a
//! request then takes the prepared chat ([`Lane::open_chat`]):
//!
//! - the same settings, prepared at most [`WARM_FOR`] ago: the chat box is checked empty and
//!   focused (one short script), and the prompt is typed;
//! - other settings that the chat can take by itself (`ChatSetup::adjustable_to`), or a page
//!   just loaded (which shows a new chat): the prepare script runs without its "New chat"
//!   step and changes only what differs;
//! - otherwise (nothing prepared, a setting to reset, other system text): the full
//!   preparation, as before warm lanes.
//!
//! A prepared chat older than [`WARM_FOR`] is checked again by the prepare script, so a
//! per-session guardrail (Kimi's memory, Qwen's settings, each checked at most every 15 s)
//! is never older at a request than it would be without warm lanes.
//!
//! **The board.** A preparing lane is `ready` and dispatchable; its row's `next_chat` says
//! `preparing`. A request that arrives meanwhile is taken (its lane time starts) and waits for
//! the preparation to end: a script is not cut halfway, which would leave the page in a
//! state no one knows. A preparation that fails or times out (each script is bounded) puts
//! the lane into recovery with a log line, and the waiting request goes back to the queue
//! in its place.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::lane::Lane;
use crate::providers::{ChatSetup, DriverError};
use crate::shaping::ShapedRequest;

/// How long a prepared chat is taken as it is. Older, the request runs the prepare script on
/// it (without a new chat), which also checks the guardrails that are due.
pub const WARM_FOR: Duration = Duration::from_secs(15);

/// The lane's next chat, as `/api/lanes` shows it (`next_chat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NextChat {
    /// Not prepared: the page is opening, or its last chat was used and the lane has not
    /// prepared another (a request that now arrives prepares it itself).
    #[default]
    None,
    /// The page was just loaded and shows a new chat; the next request sets its settings.
    Fresh,
    /// The lane is preparing it (idle and dispatchable: a request waits for it).
    Preparing,
    /// Ready: a new empty chat with the settings of the lane's last request.
    Prepared,
}

/// What the lane knows of its page's chat. Written by the lane's own task only (the
/// supervisor's idle loop and the request task, never both at once).
#[derive(Debug, Default)]
pub struct Warm(Mutex<State>);

#[derive(Debug, Default)]
struct State {
    chat: Chat,
    /// The settings of the last chat a request used, for the next preparation.
    last: Option<ChatSetup>,
}

#[derive(Debug, Default)]
enum Chat {
    #[default]
    Used,
    Fresh,
    Prepared {
        setup: ChatSetup,
        at: Instant,
    },
}

/// How a request gets its chat.
#[derive(Debug, PartialEq)]
enum Take {
    /// The prepared chat as it is.
    AsIs,
    /// The chat on the page, with its settings changed where they differ.
    Adjust,
    /// A new chat.
    New,
}

impl Warm {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves at worst a stale state, which the next
        // preparation or request checks anyway.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The page was (re)loaded: it shows a new chat whose settings no one set.
    pub fn page_loaded(&self) {
        self.state().chat = Chat::Fresh;
    }

    /// The page is about to be replaced or reloaded: nothing about it is known.
    pub fn page_gone(&self) {
        self.state().chat = Chat::Used;
    }

    /// What the board shows.
    pub fn shown(&self) -> NextChat {
        match self.state().chat {
            Chat::Used => NextChat::None,
            Chat::Fresh => NextChat::Fresh,
            Chat::Prepared { .. } => NextChat::Prepared,
        }
    }

    /// The settings to prepare the next chat with, when the lane should prepare one: its
    /// last chat was used and it knows the settings of the last request.
    pub fn to_prepare(&self) -> Option<ChatSetup> {
        let state = self.state();
        match state.chat {
            Chat::Used => state.last.clone(),
            Chat::Fresh | Chat::Prepared { .. } => None,
        }
    }

    fn prepared(&self, setup: ChatSetup) {
        self.state().chat = Chat::Prepared {
            setup,
            at: Instant::now(),
        };
    }

    /// A request takes the page's chat: from now on it is used, whatever happens.
    fn take(&self, wanted: &ChatSetup) -> Take {
        let chat = std::mem::take(&mut self.state().chat);
        choose(chat, wanted, Instant::now())
    }

    /// A request's chat is prepared with `setup`: the next preparation uses it.
    fn used(&self, setup: ChatSetup) {
        self.state().last = Some(setup);
    }
}

/// How a request with `wanted` takes `chat` at `now`.
fn choose(chat: Chat, wanted: &ChatSetup, now: Instant) -> Take {
    match chat {
        Chat::Prepared { setup, at } if &setup == wanted && now - at <= WARM_FOR => Take::AsIs,
        Chat::Prepared { setup, .. } if setup.adjustable_to(wanted) => Take::Adjust,
        Chat::Fresh => Take::Adjust,
        Chat::Prepared { .. } | Chat::Used => Take::New,
    }
}

impl Lane {
    /// Prepares the next chat with the last request's settings (see the module's doc).
    /// `Ok(false)`: nothing to prepare, or the site refused the model (the next request of it
    /// hears so itself); `Err`: the page step failed, and the lane must recover.
    pub async fn prepare_next(&self) -> Result<bool, String> {
        let Some(setup) = self.warm.to_prepare() else {
            return Ok(false);
        };
        let began = Instant::now();
        match self.driver.prepare_chat(&self.tab, &setup, false).await {
            Ok(()) => {
                self.warm.prepared(setup);
                let ms = began.elapsed().as_millis();
                tracing::debug!(lane = %self.spec.id, ms, "the next chat is prepared");
                self.note(format!("the next chat is prepared ({ms} ms)"));
                Ok(true)
            }
            Err(DriverError::ModelUnavailable(why)) => {
                self.note(format!("the next chat was not prepared: {why}"));
                Ok(false)
            }
            Err(e) => Err(format!("could not prepare the next chat: {e}")),
        }
    }

    /// Gets the chat for a request ready (the prepared one, or one made now) and attaches its
    /// prompt file in send-as-file mode; the relay types the prompt as it presses Send
    /// (`Driver::type_and_send`).
    pub(super) async fn open_chat(&self, req: &ShapedRequest) -> Result<(), DriverError> {
        let wanted = ChatSetup::of(req);
        let take = self.warm.take(&wanted);
        let ready = match take {
            Take::AsIs => self.driver.focus_prepared(&self.tab).await?,
            Take::Adjust | Take::New => false,
        };
        if !ready {
            if take == Take::AsIs {
                self.note("the prepared chat is gone from the page; opening a new one");
            }
            let fresh = take == Take::Adjust;
            self.driver.prepare_chat(&self.tab, &wanted, fresh).await?;
        }
        let how = match (take, ready) {
            (Take::AsIs, true) => "took the prepared chat",
            (Take::Adjust, _) => "set the chat's settings (no new chat needed)",
            _ => "opened a new chat",
        };
        tracing::debug!(lane = %self.spec.id, "{how}");
        self.note(how);
        self.warm.used(wanted);
        self.driver.attach_prompt(&self.tab, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Mode, ProviderKind};
    use crate::shaping::{RequestKind, Sampling, Toggles};

    fn request() -> ShapedRequest {
        ShapedRequest {
            provider: ProviderKind::DeepSeek,
            client_model: "deepseek-chat".into(),
            kind: RequestKind::Text,
            mode: Mode::Chat,
            prompt: "hi".into(),
            system: None,
            toggles: Toggles::default(),
            send_thinking: false,
            real_model: None,
            deep_think_effort: None,
            thinking_effort: None,
            inference_provider: None,
            thinking_level: None,
            sampling: Sampling::default(),
        }
    }

    fn setup(model: &str, thinking: bool) -> ChatSetup {
        let mut req = request();
        req.real_model = (!model.is_empty()).then(|| model.to_owned());
        req.toggles.thinking = thinking;
        ChatSetup::of(&req)
    }

    #[test]
    fn a_request_takes_a_prepared_chat_as_it_is_only_with_its_settings_and_in_time() {
        let now = Instant::now();
        let prepared = |at| Chat::Prepared {
            setup: setup("m", true),
            at,
        };
        assert_eq!(choose(prepared(now), &setup("m", true), now), Take::AsIs);
        let late = now + WARM_FOR + Duration::from_millis(1);
        assert_eq!(choose(prepared(now), &setup("m", true), late), Take::Adjust);
        // Other toggles: changed in place; a model the request leaves unset: a new chat.
        assert_eq!(choose(prepared(now), &setup("m", false), now), Take::Adjust);
        assert_eq!(choose(prepared(now), &setup("", true), now), Take::New);
        assert_eq!(choose(Chat::Fresh, &setup("", true), now), Take::Adjust);
        assert_eq!(choose(Chat::Used, &setup("m", true), now), Take::New);
    }

    #[test]
    fn other_system_text_needs_a_new_chat() {
        let mut req = request();
        let plain = ChatSetup::of(&req);
        req.system = Some("Be brief.".into());
        let with_system = ChatSetup::of(&req);
        assert!(!plain.adjustable_to(&with_system));
        assert!(!with_system.adjustable_to(&plain));
        assert!(with_system.adjustable_to(&with_system));
    }

    #[test]
    fn a_taken_chat_is_used_until_the_lane_prepares_the_next() {
        let warm = Warm::default();
        assert_eq!(
            warm.to_prepare(),
            None,
            "no last request: nothing to prepare"
        );
        warm.page_loaded();
        assert_eq!(warm.shown(), NextChat::Fresh);
        assert_eq!(warm.take(&setup("m", true)), Take::Adjust);
        assert_eq!(warm.shown(), NextChat::None);
        warm.used(setup("m", true));
        assert_eq!(warm.to_prepare(), Some(setup("m", true)));
        warm.prepared(setup("m", true));
        assert_eq!(warm.to_prepare(), None);
        assert_eq!(warm.shown(), NextChat::Prepared);
    }
}
