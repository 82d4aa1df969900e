//! The shutdown signals: SIGINT (Ctrl-C) and SIGTERM (systemd, Docker, Kubernetes) are one and
//! the same request to stop gracefully; a second one, while the gateway is still stopping,
//! exits at once.
//!
//! [`Signals::listen`] registers both at once, before anything waits, and the same listener
//! then waits for the second signal, so no signal falls between two listeners.
//!
//! SIGHUP is a request to reload the config file ([`Hangups`]); registered at start too, so a
//! SIGHUP during start-up does not end the process (its default action).

use tracing::warn;

/// The registered SIGINT and SIGTERM listeners.
pub struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Registers the listeners (call inside the runtime, before the gateway starts serving).
    pub fn listen() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let register = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    warn!(cause = %e, "cannot listen for {name}; it will not stop the gateway gracefully");
                    None
                }
            };
            Signals {
                interrupt: register(SignalKind::interrupt(), "SIGINT"),
                terminate: register(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// Waits for the next SIGINT or SIGTERM; returns its name.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = next(&mut self.interrupt) => "SIGINT",
                () = next(&mut self.terminate) => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }

    /// After the first signal: a second one exits the process at once (code 130), for a
    /// shutdown that takes too long for the person waiting. Browsers still running are left to
    /// the operating system.
    pub fn exit_on_second(mut self) {
        crate::tasks::spawn("second-signal", async move {
            let name = self.recv().await;
            eprintln!("switchyard: {name} again; exiting now without waiting for the lanes.");
            std::process::exit(130);
        });
    }
}

/// The registered SIGHUP listener: each SIGHUP asks for a config reload.
pub struct Hangups {
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    /// Registers the listener (call inside the runtime, before the gateway starts).
    pub fn listen() -> Hangups {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::hangup()) {
                Ok(s) => Hangups { hangup: Some(s) },
                Err(e) => {
                    warn!(cause = %e, "cannot listen for SIGHUP; use POST /api/config/reload to reload the config");
                    Hangups { hangup: None }
                }
            }
        }
        #[cfg(not(unix))]
        {
            Hangups {}
        }
    }

    /// Waits for the next SIGHUP (forever where there is none).
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = &mut self.hangup {
            s.recv().await;
            return;
        }
        std::future::pending::<()>().await;
    }
}

/// Waits for SIGINT or SIGTERM; each SIGHUP meanwhile reloads the gateway's config (logged
/// either way). Returns the stopping signal's name.
pub async fn serve_until_stopped(
    signals: &mut Signals,
    hangups: &mut Hangups,
    gateway: &crate::gateway::Gateway,
) -> &'static str {
    loop {
        tokio::select! {
            name = signals.recv() => return name,
            () = hangups.recv() => {
                tracing::info!("SIGHUP received: reloading the config");
                // The outcome is logged by the reload itself.
                let _ = gateway.reload().await;
            }
        }
    }
}
