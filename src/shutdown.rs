//! Stopping on a signal.

/// Ctrl-C (SIGINT) or SIGTERM, which Kubernetes, systemd and Airflow send
/// to stop a job or a server: either way a run stops and releases the
/// lock, and a scheduler stops serving. A run installs the handlers before
/// it takes the lock, so a signal that arrives between taking the lock and
/// starting the steps is not lost (it would otherwise kill the process
/// with the lock left behind).
pub struct Shutdown {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Shutdown {
    pub fn listen() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for {name}; it will kill the process without cleaning up");
                None
            }
        };
        Shutdown {
            interrupt: install(SignalKind::interrupt(), "SIGINT"),
            terminate: install(SignalKind::terminate(), "SIGTERM"),
        }
    }

    pub async fn requested(&mut self) {
        async fn received(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = received(&mut self.interrupt) => {}
            _ = received(&mut self.terminate) => {}
        }
    }
}
