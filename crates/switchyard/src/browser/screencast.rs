//! A page's live view: CDP `Page.startScreencast`, throttled, for the dashboard.
//!
//! [`Screen`] is a handle a lane's supervisor puts on the board (`Tab::screen`); it can do one
//! thing with the page: start a screencast. The screencast is one call future in the page task
//! (which stays the page's one owner): it listens for `Page.screencastFrame`, starts the
//! screencast (JPEG, low quality, at most [`MAX_WIDTH`] wide, every [`EVERY_NTH_FRAME`]th
//! frame), and acknowledges each frame no sooner than [`MIN_FRAME_GAP`] after the last one
//! (Chromium sends the next frame only after the ack, so this is the throttle). Frames go to a
//! channel of [`FRAME_BUFFER`]; one the viewer has not taken yet is dropped, never queued. When
//! the [`Screencast`] is dropped (the viewer went away), the future calls `Page.stopScreencast`
//! and ends; it also ends when the page closes. Every CDP call is bounded by the tab's timeout.

#![expect(
    clippy::disallowed_types,
    reason = "the screencast runs as a call future inside the page task, the Page's one owner"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::page::{
    EventScreencastFrame, ScreencastFrameAckParams, StartScreencastFormat, StartScreencastParams,
    StopScreencastParams,
};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::tab::{Call, Command, PageHandle};
use super::{BrowserError, timed};

/// The widest frame Chromium sends.
pub const MAX_WIDTH: i64 = 800;
/// The tallest frame Chromium sends.
pub const MAX_HEIGHT: i64 = 600;
/// JPEG quality (0–100).
pub const QUALITY: i64 = 40;
/// Chromium sends every n-th frame it paints.
pub const EVERY_NTH_FRAME: i64 = 2;
/// The shortest time between two frames: at most 4 a second.
pub const MIN_FRAME_GAP: Duration = Duration::from_millis(250);
/// Frames waiting for the viewer; a newer frame is dropped while it is full.
const FRAME_BUFFER: usize = 2;

/// A handle that can start a screencast of one page. Cheap to clone.
#[derive(Clone)]
pub struct Screen {
    page: PageHandle,
    cdp_timeout: Duration,
}

/// A running screencast: its JPEG frames. Dropping it stops the screencast.
pub struct Screencast {
    frames: mpsc::Receiver<Vec<u8>>,
    /// Dropped with the screencast; the page task's future then stops it.
    _stop: oneshot::Sender<()>,
    /// Counts this screencast among the page's viewers while it lives.
    _viewer: Viewer,
}

/// One of a page's viewers: while it lives the page task keeps the page's window shown.
struct Viewer(Arc<AtomicUsize>);

impl Viewer {
    fn new(viewers: &Arc<AtomicUsize>) -> Viewer {
        viewers.fetch_add(1, Ordering::Relaxed);
        Viewer(viewers.clone())
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Screencast {
    /// The next frame; `None` once the page closed or the screencast failed.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        self.frames.recv().await
    }
}

impl Screen {
    pub(super) fn new(page: PageHandle, cdp_timeout: Duration) -> Screen {
        Screen { page, cdp_timeout }
    }

    /// Starts a screencast of the page; the answer comes once Chromium started it.
    pub async fn start(&self) -> Result<Screencast, BrowserError> {
        let what = "Page.startScreencast";
        let t = self.cdp_timeout;
        let (frames_tx, frames) = mpsc::channel(FRAME_BUFFER);
        let (stop, stop_rx) = oneshot::channel();
        let (started_tx, started) = oneshot::channel();
        // Counted before the call is sent: the page task shows a hidden page before it runs
        // any call, and must not hide it again while the screencast runs.
        let viewer = Viewer::new(&self.page.viewers);
        let call: Call =
            Box::new(move |page: Page| Box::pin(run(page, t, frames_tx, stop_rx, started_tx)));
        if !self.page.send(Command::Call(call)) {
            return Err(BrowserError::Cdp {
                what: what.to_owned(),
                cause: "the page is closed".to_owned(),
            });
        }
        // Two bounded calls come before the answer: the listener and the start.
        super::tab::await_reply(what, t * 2, started).await?;
        Ok(Screencast {
            frames,
            _stop: stop,
            _viewer: viewer,
        })
    }
}

/// The screencast's future in the page task.
async fn run(
    page: Page,
    t: Duration,
    frames: mpsc::Sender<Vec<u8>>,
    mut stop: oneshot::Receiver<()>,
    started: oneshot::Sender<Result<(), BrowserError>>,
) {
    let listener = timed(
        "listening for Page.screencastFrame",
        t,
        page.event_listener::<EventScreencastFrame>(),
    )
    .await;
    let mut listener = match listener {
        Ok(l) => l,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    let params = StartScreencastParams {
        format: Some(StartScreencastFormat::Jpeg),
        quality: Some(QUALITY),
        max_width: Some(MAX_WIDTH),
        max_height: Some(MAX_HEIGHT),
        every_nth_frame: Some(EVERY_NTH_FRAME),
    };
    if let Err(e) = timed("Page.startScreencast", t, page.execute(params)).await {
        let _ = started.send(Err(e));
        return;
    }
    if started.send(Ok(())).is_err() {
        // The viewer gave up waiting; stop at once.
        let _ = timed(
            "Page.stopScreencast",
            t,
            page.execute(StopScreencastParams::default()),
        )
        .await;
        return;
    }
    let mut last: Option<tokio::time::Instant> = None;
    loop {
        // Which branch wins: the viewer gone (stop), or a frame (forwarded, then acked after
        // the throttle's gap); the listener ends when the page closes.
        let frame = tokio::select! {
            _ = &mut stop => break,
            frame = listener.next() => match frame {
                Some(f) => f,
                None => break,
            },
        };
        if let Ok(jpeg) =
            base64::engine::general_purpose::STANDARD.decode(AsRef::<str>::as_ref(&frame.data))
        {
            // A full buffer means the viewer is behind: this frame is dropped.
            let _ = frames.try_send(jpeg);
        }
        if let Some(at) = last {
            tokio::select! {
                _ = &mut stop => break,
                () = tokio::time::sleep_until(at + MIN_FRAME_GAP) => {}
            }
        }
        last = Some(tokio::time::Instant::now());
        let ack = ScreencastFrameAckParams::new(frame.session_id);
        if timed("Page.screencastFrameAck", t, page.execute(ack))
            .await
            .is_err()
        {
            break;
        }
    }
    let _ = timed(
        "Page.stopScreencast",
        t,
        page.execute(StopScreencastParams::default()),
    )
    .await;
}
