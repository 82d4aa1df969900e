//! The shutdown signals: SIGINT (Ctrl-C) and SIGTERM (systemd, Docker, Kubernetes) are one and
//! the same request to stop gracefully; a second one, while the gateway is still stopping,
//! exits at once.

use tracing::warn;

/// Waits for SIGINT or SIGTERM; returns the signal's name.
pub async fn shutdown() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                }
            }
            Err(e) => {
                warn!(cause = %e, "cannot listen for SIGTERM; only Ctrl-C stops the gateway gracefully");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// After the first signal: a second one exits the process at once (code 130), for a shutdown
/// that takes too long for the person waiting.
pub fn exit_on_second() {
    crate::tasks::spawn("second-signal", async {
        let name = shutdown().await;
        eprintln!("switchyard: {name} again; exiting now without waiting for the lanes.");
        std::process::exit(130);
    });
}
