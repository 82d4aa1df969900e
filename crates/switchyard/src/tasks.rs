//! Named long-lived tasks.
//!
//! Every task the gateway starts goes through [`spawn`], so a log line names the task when it
//! ends with a panic instead of the panic vanishing into a detached `JoinHandle`.

use std::future::Future;

use futures::FutureExt;
use tracing::error;

/// Spawns `fut` on the current runtime under `name`. A panic inside is logged with the name.
#[expect(
    clippy::disallowed_methods,
    reason = "the one place that may call tokio::spawn; everything else names its task here"
)]
pub fn spawn<F>(name: &'static str, fut: F) -> tokio::task::JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(panic) = std::panic::AssertUnwindSafe(fut).catch_unwind().await {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            error!(task = name, panic = %what, "task panicked; this is a bug, please report it");
        }
    })
}
