//! A cloneable shutdown token and SIGTERM/SIGINT handling.

use std::sync::Arc;

use tokio::sync::watch;

/// A cloneable, one-way shutdown signal.
///
/// Every clone sees the same state: once [`trigger`](Self::trigger) was
/// called on any clone, [`is_triggered`](Self::is_triggered) is true
/// everywhere and every [`triggered`](Self::triggered) future completes.
/// Session handlers receive one from [`serve`](crate::serve) and check it at
/// transaction boundaries (after a `250` for DATA, between IMAP commands) to
/// end the session politely (`421 4.3.2 Shutting down`, `* BYE`).
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A token that is not triggered.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Triggers shutdown; idempotent.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// True once shutdown was triggered.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Completes when shutdown is triggered (immediately if it already was).
    /// Cancel-safe: usable in `tokio::select!`.
    pub async fn triggered(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so `wait_for` cannot see it closed.
        let _ = rx.wait_for(|triggered| *triggered).await;
    }
}

/// A [`Shutdown`] triggered by the first SIGTERM or SIGINT.
///
/// Must be called inside a tokio runtime. A second signal is logged and
/// otherwise ignored: the grace period given to [`serve`](crate::serve)
/// bounds how long shutdown takes. If the handlers cannot be installed
/// (which only happens when the runtime has no signal driver) the error is
/// logged and the token can still be triggered by hand.
pub fn shutdown_on_signals() -> Shutdown {
    use tokio::signal::unix::{SignalKind, signal};

    let shutdown = Shutdown::new();
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        (Err(err), _) | (_, Err(err)) => {
            tracing::error!("cannot install SIGTERM/SIGINT handlers: {err}");
            return shutdown;
        }
    };
    let token = shutdown.clone();
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                Some(()) = term.recv() => "SIGTERM",
                Some(()) = int.recv() => "SIGINT",
                else => return,
            };
            if token.is_triggered() {
                tracing::warn!("received {name} again; already shutting down");
            } else {
                tracing::info!("received {name}, shutting down");
                token.trigger();
            }
        }
    });
    shutdown
}

#[cfg(test)]
#[path = "shutdown_tests.rs"]
mod tests;
