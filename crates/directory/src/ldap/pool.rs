//! Connections to the LDAP servers: failover across the configured URLs, a bounded pool of
//! reusable connections, timeouts, and reconnection after a server restart.
//!
//! - A new connection tries the servers in the configured order, skipping those that failed in
//!   the last [`DOWN_FOR`] (unless every server failed recently: then all are tried again, so a
//!   restarted single server is used as soon as it answers).
//! - An idle connection whose server closed it is discarded on checkout; an operation that fails
//!   on a reused connection is retried once on a fresh one (the server may have restarted).
//! - Connections are recycled after [`MAX_AGE`], so traffic returns to the preferred server
//!   after a failover.
//! - Any failure to reach a server is [`DirectoryError::Unavailable`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ldap3::result::SearchResult;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::DirectoryError;

/// How long a server that failed is tried only after the others.
pub(super) const DOWN_FOR: Duration = Duration::from_secs(30);
/// Connections older than this are closed instead of reused.
pub(super) const MAX_AGE: Duration = Duration::from_secs(300);

/// LDAP result codes this module distinguishes (RFC 4511 §4.1.9).
mod rc {
    pub(super) const SUCCESS: u32 = 0;
    pub(super) const SIZE_LIMIT_EXCEEDED: u32 = 4;
    pub(super) const NO_SUCH_OBJECT: u32 = 32;
    pub(super) const INAPPROPRIATE_AUTHENTICATION: u32 = 48;
    pub(super) const INVALID_CREDENTIALS: u32 = 49;
    pub(super) const INSUFFICIENT_ACCESS: u32 = 50;
    pub(super) const UNWILLING_TO_PERFORM: u32 = 53;
}

/// The configured servers and what is known about them, shared by the pools.
pub(super) struct Servers {
    urls: Vec<String>,
    settings: LdapConnSettings,
    timeout: Duration,
    state: Mutex<ServerState>,
}

struct ServerState {
    down_until: Vec<Option<Instant>>,
    last: Option<String>,
}

impl Servers {
    pub(super) fn new(urls: Vec<String>, settings: LdapConnSettings, timeout: Duration) -> Self {
        let n = urls.len();
        Servers {
            urls,
            settings: settings.set_conn_timeout(timeout),
            timeout,
            state: Mutex::new(ServerState {
                down_until: vec![None; n],
                last: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ServerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Server indexes in the order to try: healthy ones first (configured order), then the
    /// ones that failed recently.
    fn order(&self) -> Vec<usize> {
        let now = Instant::now();
        let st = self.lock();
        let (mut up, down): (Vec<usize>, Vec<usize>) =
            (0..self.urls.len()).partition(|&i| st.down_until[i].is_none_or(|t| t <= now));
        up.extend(down);
        up
    }

    fn mark_down(&self, i: usize, why: &str) {
        let mut st = self.lock();
        let now = Instant::now();
        if st.down_until[i].is_none_or(|t| t <= now) {
            tracing::warn!(server = %self.urls[i], error = why, "LDAP server failed");
        }
        st.down_until[i] = Some(now + DOWN_FOR);
    }

    fn answered(&self, i: usize) {
        let mut st = self.lock();
        if st.down_until[i].take().is_some() {
            tracing::info!(server = %self.urls[i], "LDAP server answers again");
        }
        if st.last.as_deref() != Some(self.urls[i].as_str()) {
            st.last = Some(self.urls[i].clone());
        }
    }

    /// The URL of the server that answered the last operation.
    pub(super) fn last(&self) -> Option<String> {
        self.lock().last.clone()
    }
}

struct Conn {
    ldap: Ldap,
    server: usize,
    born: Instant,
}

/// A pool of connections, bound as the service account (`bind` is `Some`) or left anonymous
/// for user binds.
pub(super) struct Pool {
    servers: Arc<Servers>,
    bind: Option<(String, String)>,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
}

/// The outcome of a user bind.
pub(super) enum BindOutcome {
    Accepted,
    Refused,
}

impl Pool {
    pub(super) fn new(servers: Arc<Servers>, bind: Option<(String, String)>, size: usize) -> Self {
        Pool {
            servers,
            bind,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size.max(1))),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Conn>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subtree or base search. `noSuchObject` is an empty result; `sizeLimitExceeded` returns
    /// the entries received (at most `limit`; 0 is no limit).
    pub(super) async fn search(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[String],
        limit: i32,
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let mut retried = false;
        loop {
            let (mut conn, reused, _permit) = self.checkout().await?;
            let res = conn
                .ldap
                .with_search_options(SearchOptions::new().sizelimit(limit))
                .with_timeout(self.servers.timeout)
                .search(base, scope, filter, attrs)
                .await;
            let url = &self.servers.urls[conn.server];
            match res {
                Ok(SearchResult(entries, result)) => {
                    let server = conn.server;
                    match result.rc {
                        rc::SUCCESS | rc::SIZE_LIMIT_EXCEEDED | rc::NO_SUCH_OBJECT => {
                            self.checkin(conn);
                            self.servers.answered(server);
                            return Ok(entries
                                .into_iter()
                                .filter(|e| !e.is_ref() && !e.is_intermediate())
                                .map(SearchEntry::construct)
                                .collect());
                        }
                        code => {
                            // Busy, unavailable, a filter the server rejects, missing access:
                            // all mean "cannot answer now"; an administrator must look.
                            let msg = format!(
                                "{url} answered {code} ({}) to a search under {base:?}",
                                result.text
                            );
                            tracing::error!(error = %msg, "LDAP search failed");
                            return Err(DirectoryError::Unavailable(msg));
                        }
                    }
                }
                Err(e) => {
                    let server = conn.server;
                    drop(conn);
                    if reused && !retried {
                        retried = true;
                        continue;
                    }
                    let msg = format!("{url}: search failed: {e}");
                    self.servers.mark_down(server, &msg);
                    return Err(DirectoryError::Unavailable(msg));
                }
            }
        }
    }

    /// Bind as `dn` with `password` (never empty: callers refuse empty passwords, which LDAP
    /// would treat as an unauthenticated bind).
    pub(super) async fn bind(
        &self,
        dn: &str,
        password: &str,
    ) -> Result<BindOutcome, DirectoryError> {
        debug_assert!(!password.is_empty());
        let mut retried = false;
        loop {
            let (mut conn, reused, _permit) = self.checkout().await?;
            let res = conn
                .ldap
                .with_timeout(self.servers.timeout)
                .simple_bind(dn, password)
                .await;
            let server = conn.server;
            match res {
                Ok(result) => {
                    let outcome = match result.rc {
                        rc::SUCCESS => BindOutcome::Accepted,
                        rc::INVALID_CREDENTIALS
                        | rc::INAPPROPRIATE_AUTHENTICATION
                        | rc::INSUFFICIENT_ACCESS
                        | rc::UNWILLING_TO_PERFORM
                        | rc::NO_SUCH_OBJECT => BindOutcome::Refused,
                        code => {
                            let msg = format!(
                                "{} answered {code} ({}) to a user bind",
                                self.servers.urls[server], result.text
                            );
                            tracing::error!(error = %msg, "LDAP bind failed");
                            return Err(DirectoryError::Unavailable(msg));
                        }
                    };
                    self.checkin(conn);
                    self.servers.answered(server);
                    return Ok(outcome);
                }
                Err(e) => {
                    drop(conn);
                    if reused && !retried {
                        retried = true;
                        continue;
                    }
                    let msg = format!("{}: bind failed: {e}", self.servers.urls[server]);
                    self.servers.mark_down(server, &msg);
                    return Err(DirectoryError::Unavailable(msg));
                }
            }
        }
    }

    /// A connection (reused if a live idle one exists) and the permit that bounds concurrency.
    async fn checkout(&self) -> Result<(Conn, bool, OwnedSemaphorePermit), DirectoryError> {
        let permit = tokio::time::timeout(
            self.servers.timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        .map_err(|_| DirectoryError::Unavailable("LDAP connection pool busy".into()))?
        .map_err(|_| DirectoryError::Unavailable("LDAP connection pool closed".into()))?;
        loop {
            let Some(mut c) = self.idle().pop() else {
                break;
            };
            if !c.ldap.is_closed() && c.born.elapsed() < MAX_AGE {
                return Ok((c, true, permit));
            }
        }
        let c = self.connect().await?;
        Ok((c, false, permit))
    }

    fn checkin(&self, conn: Conn) {
        self.idle().push(conn);
    }

    /// Open a connection to the first server that answers, bound as the service account.
    async fn connect(&self) -> Result<Conn, DirectoryError> {
        let mut errors = Vec::new();
        for i in self.servers.order() {
            let url = &self.servers.urls[i];
            match self.connect_one(url).await {
                Ok(ldap) => {
                    tracing::debug!(server = %url, "LDAP connection opened");
                    return Ok(Conn {
                        ldap,
                        server: i,
                        born: Instant::now(),
                    });
                }
                Err(e) => {
                    self.servers.mark_down(i, &e);
                    errors.push(format!("{url}: {e}"));
                }
            }
        }
        Err(DirectoryError::Unavailable(format!(
            "no LDAP server reachable ({})",
            errors.join("; ")
        )))
    }

    async fn connect_one(&self, url: &str) -> Result<Ldap, String> {
        let (conn, mut ldap) = LdapConnAsync::with_settings(self.servers.settings.clone(), url)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "LDAP connection ended");
            }
        });
        if let Some((dn, password)) = &self.bind {
            let r = ldap
                .with_timeout(self.servers.timeout)
                .simple_bind(dn, password)
                .await
                .map_err(|e| format!("service bind: {e}"))?;
            if r.rc != rc::SUCCESS {
                return Err(format!(
                    "service bind as {dn:?} refused: {} ({})",
                    r.rc, r.text
                ));
            }
        }
        Ok(ldap)
    }
}
