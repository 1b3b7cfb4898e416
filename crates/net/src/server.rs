//! The accept loop shared by every service: limits, tasks, graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::{Connection, Listener, Peer, Shutdown};

/// How many connections a server admits.
///
/// Unix-socket connections count towards `max_connections` only (they have
/// no IP). IPv4-mapped IPv6 addresses count as the IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Concurrent admitted connections in total; 0 means no limit.
    pub max_connections: usize,
    /// Concurrent admitted connections from one IP address; 0 means no limit.
    pub max_connections_per_ip: usize,
}

impl Default for ServerLimits {
    /// 1000 in total, 20 per IP (Postfix's `smtpd_client_connection_count_limit`
    /// is 50 with a process limit of 100; an async server can hold more in
    /// total but one client should not take a large share).
    fn default() -> Self {
        Self {
            max_connections: 1000,
            max_connections_per_ip: 20,
        }
    }
}

/// Which limit a connection exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverLimit {
    /// `max_connections` was reached.
    Total,
    /// `max_connections_per_ip` was reached for this client's address.
    PerIp,
}

/// Whether the handler should serve the connection or refuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Within limits: run the protocol.
    Accepted,
    /// Over a limit: write the protocol's refusal (SMTP `421 4.7.0 Too many
    /// connections`, IMAP `* BYE Too many connections`) and return. The
    /// handler is cancelled after [`REJECT_TIMEOUT`] if it takes longer, and
    /// it does not count towards the limits.
    OverLimit(OverLimit),
}

impl Admission {
    /// True for [`Admission::Accepted`].
    pub fn is_accepted(self) -> bool {
        self == Admission::Accepted
    }
}

/// How long a handler may take to refuse an over-limit connection.
pub const REJECT_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many over-limit connections are being refused at once;
/// beyond that they are closed without a word, so a flood cannot make the
/// server hold unbounded refusals.
const MAX_PENDING_REJECTS: usize = 256;

/// Pause after an accept error such as EMFILE, so that the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Connection counters of a server, cheap to clone and read from anywhere
/// (for example a metrics gauge).
#[derive(Debug, Clone, Default)]
pub struct ConnectionStats {
    inner: Arc<StatsInner>,
}

#[derive(Debug, Default)]
struct StatsInner {
    active: AtomicUsize,
    accepted: AtomicU64,
    rejected: AtomicU64,
}

impl ConnectionStats {
    /// Admitted connections currently open.
    pub fn active(&self) -> usize {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// Connections admitted since start.
    pub fn accepted_total(&self) -> u64 {
        self.inner.accepted.load(Ordering::Relaxed)
    }

    /// Connections refused for a limit since start.
    pub fn rejected_total(&self) -> u64 {
        self.inner.rejected.load(Ordering::Relaxed)
    }
}

/// Admission bookkeeping: the total lives in the stats, per-IP counts here.
struct Tracker {
    limits: ServerLimits,
    stats: ConnectionStats,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Releases one admitted connection when dropped (handler finished, panicked
/// or was aborted).
struct Slot {
    tracker: Arc<Tracker>,
    ip: Option<IpAddr>,
}

impl Tracker {
    fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Slot, OverLimit> {
        // The accept loop is the only caller, so checking then incrementing
        // the total is not racy; releases only make room.
        let total = self.stats.inner.active.load(Ordering::Relaxed);
        if self.limits.max_connections > 0 && total >= self.limits.max_connections {
            return Err(OverLimit::Total);
        }
        if let Some(ip) = ip {
            let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
            let count = per_ip.entry(ip).or_insert(0);
            if self.limits.max_connections_per_ip > 0
                && *count >= self.limits.max_connections_per_ip
            {
                return Err(OverLimit::PerIp);
            }
            *count += 1;
        }
        self.stats.inner.active.fetch_add(1, Ordering::Relaxed);
        self.stats.inner.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            tracker: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            let mut per_ip = self
                .tracker
                .per_ip
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(count) = per_ip.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
        self.tracker
            .stats
            .inner
            .active
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// A set of listeners served by one handler under one set of limits.
///
/// Use [`Server::stats`] before [`Server::run`] to export the counters;
/// [`serve`] is the shortcut when the counters are not needed.
pub struct Server {
    listeners: Vec<Listener>,
    tracker: Arc<Tracker>,
}

impl Server {
    /// A server over `listeners` (all already bound).
    pub fn new(listeners: Vec<Listener>, limits: ServerLimits) -> Self {
        let tracker = Arc::new(Tracker {
            limits,
            stats: ConnectionStats::default(),
            per_ip: Mutex::new(HashMap::new()),
        });
        Self { listeners, tracker }
    }

    /// The live counters of this server.
    pub fn stats(&self) -> ConnectionStats {
        self.tracker.stats.clone()
    }

    /// Accepts on every listener and runs `handler` in its own task per
    /// connection until `shutdown` is triggered. See [`serve`].
    pub async fn run<H, Fut>(self, shutdown: Shutdown, grace: Duration, handler: H)
    where
        H: Fn(Connection, Peer, Admission, Shutdown) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Server { listeners, tracker } = self;
        let names: Vec<String> = listeners
            .iter()
            .map(|l| l.local_addr().to_string())
            .collect();
        tracing::info!(listeners = ?names, "accepting connections");
        let mut sessions = JoinSet::new();
        let pending_rejects = Arc::new(AtomicUsize::new(0));
        let mut next = 0usize;

        loop {
            let accepted = tokio::select! {
                () = shutdown.triggered() => break,
                Some(done) = sessions.join_next(), if !sessions.is_empty() => {
                    report_task_end(done);
                    continue;
                }
                accepted = accept_any(&listeners, &mut next) => accepted,
            };
            let (conn, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    if !is_per_connection_error(&err) {
                        tracing::warn!("accept failed: {err}; pausing");
                        tokio::select! {
                            () = shutdown.triggered() => break,
                            () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                        }
                    }
                    continue;
                }
            };
            let ip = peer.addr.map(|a| a.ip().to_canonical());
            match tracker.admit(ip) {
                Ok(slot) => {
                    let session = handler(conn, peer, Admission::Accepted, shutdown.clone());
                    sessions.spawn(async move {
                        let _slot = slot;
                        session.await;
                    });
                }
                Err(limit) => {
                    tracker.stats.inner.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%peer, ?limit, "connection over limit");
                    if pending_rejects.load(Ordering::Relaxed) >= MAX_PENDING_REJECTS {
                        drop(conn);
                        continue;
                    }
                    pending_rejects.fetch_add(1, Ordering::Relaxed);
                    let pending = Arc::clone(&pending_rejects);
                    let refusal =
                        handler(conn, peer, Admission::OverLimit(limit), shutdown.clone());
                    sessions.spawn(async move {
                        let _ = tokio::time::timeout(REJECT_TIMEOUT, refusal).await;
                        pending.fetch_sub(1, Ordering::Relaxed);
                    });
                }
            }
        }

        // Stop accepting: close the sockets (and remove unix socket files).
        drop(listeners);
        tracing::info!(
            sessions = sessions.len(),
            ?grace,
            "stopped accepting; waiting for sessions"
        );
        let drained = tokio::time::timeout(grace, async {
            while let Some(done) = sessions.join_next().await {
                report_task_end(done);
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                sessions = sessions.len(),
                "grace period over; aborting sessions"
            );
            sessions.abort_all();
            while let Some(done) = sessions.join_next().await {
                report_task_end(done);
            }
        }
        tracing::info!("all sessions ended");
    }
}

/// Serves `listeners` until `shutdown` is triggered.
///
/// Each connection runs `handler(conn, peer, admission, shutdown)` in its own
/// task. Connections over `limits` are still handed to the handler, with
/// [`Admission::OverLimit`], so the protocol can answer before closing.
///
/// On shutdown: the listeners are closed at once (new clients are refused),
/// running handlers get up to `grace` to end on their own (they watch the
/// [`Shutdown`] they were given and stop at a transaction boundary), then the
/// remaining ones are aborted (their connections are closed). Returns when
/// every handler task has ended. A panicking handler is logged and only ends
/// its own connection.
pub async fn serve<H, Fut>(
    listeners: Vec<Listener>,
    limits: ServerLimits,
    shutdown: Shutdown,
    grace: Duration,
    handler: H,
) where
    H: Fn(Connection, Peer, Admission, Shutdown) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Server::new(listeners, limits)
        .run(shutdown, grace, handler)
        .await
}

/// Accepts from whichever listener is ready first, starting the scan at a
/// rotating index so that a busy listener cannot starve the others. Never
/// completes when there are no listeners.
async fn accept_any(listeners: &[Listener], next: &mut usize) -> io::Result<(Connection, Peer)> {
    std::future::poll_fn(|cx| {
        let n = listeners.len();
        for i in 0..n {
            let index = (*next + i) % n;
            if let Poll::Ready(result) = listeners[index].poll_accept(cx) {
                *next = (index + 1) % n;
                return Poll::Ready(result);
            }
        }
        Poll::Pending
    })
    .await
}

/// Errors that concern only the connection being accepted (the client gave
/// up), as opposed to resource exhaustion (EMFILE) that calls for a pause.
fn is_per_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

fn report_task_end(result: Result<(), tokio::task::JoinError>) {
    if let Err(err) = result
        && err.is_panic()
    {
        tracing::error!("session handler panicked: {err}");
    }
}
