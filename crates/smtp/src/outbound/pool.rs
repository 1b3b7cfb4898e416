//! Connection reuse: idle SMTP sessions kept per destination (address, host name, TLS policy)
//! for the next message, like Postfix's `scache`. A session taken from the pool is checked
//! with `RSET` first; an idle one is closed (`QUIT`) after the idle timeout. Sessions that
//! carried `max_messages` transactions are closed instead of kept.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::client::SmtpSession;

/// What a reusable session must match.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) addr: SocketAddr,
    pub(crate) host: String,
    /// The TLS policy the session was opened under (`may`, `dane`, `mta-sts`, ...).
    pub(crate) policy: &'static str,
}

struct Idle {
    id: u64,
    session: SmtpSession,
}

/// The idle sessions.
pub(crate) struct Pool {
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
    idle_timeout: Duration,
    max_messages: u32,
    next_id: AtomicU64,
    opened: AtomicU64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("idle_timeout", &self.idle_timeout)
            .field("max_messages", &self.max_messages)
            .finish()
    }
}

impl Pool {
    pub(crate) fn new(idle_timeout: Duration, max_messages: u32) -> Arc<Pool> {
        Arc::new(Pool {
            idle: Mutex::new(HashMap::new()),
            idle_timeout,
            max_messages: max_messages.max(1),
            next_id: AtomicU64::new(0),
            opened: AtomicU64::new(0),
        })
    }

    /// Count a newly opened connection (for metrics and tests).
    pub(crate) fn opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections opened so far.
    pub(crate) fn opened_count(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// An idle session for `key` that answered `RSET`, if any.
    pub(crate) async fn take(&self, key: &Key) -> Option<SmtpSession> {
        loop {
            let idle = {
                let mut map = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                let list = map.get_mut(key)?;
                let idle = list.pop();
                if list.is_empty() {
                    map.remove(key);
                }
                idle
            }?;
            let mut session = idle.session;
            if session.reset().await {
                return Some(session);
            }
            // Closed by the server meanwhile: try the next one, or connect anew.
        }
    }

    /// Keep `session` for reuse, or close it when it has carried enough messages.
    pub(crate) fn put(self: &Arc<Self>, key: Key, session: SmtpSession) {
        if session.transactions >= self.max_messages || self.idle_timeout.is_zero() {
            tokio::spawn(session.quit());
            return;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .push(Idle { id, session });
        let pool = Arc::downgrade(self);
        let wait = self.idle_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let Some(pool) = pool.upgrade() else {
                return;
            };
            let expired = {
                let mut map = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
                let Some(list) = map.get_mut(&key) else {
                    return;
                };
                let found = list.iter().position(|i| i.id == id).map(|p| list.remove(p));
                if list.is_empty() {
                    map.remove(&key);
                }
                found
            };
            if let Some(idle) = expired {
                idle.session.quit().await;
            }
        });
    }
}
