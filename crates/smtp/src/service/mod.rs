//! Running a protocol service: bind every listener and the admin endpoint first (so a port in
//! use or a bad certificate stops start-up with a clear message), then serve until shutdown,
//! letting transactions in flight finish within the grace period.
//!
//! - lmtp-mda: [`run_lmtp`].
//! - smtp-mta (MX listener, relay listener, queue and its LMTP delivery): [`run_smtp_mta`].
//! - submission (587 STARTTLS, 465 implicit TLS, forwarding to smtp-mta): [`run_submission`].

mod lmtp;
mod mta;
mod submission;

pub use lmtp::run_lmtp;
pub use mta::run_smtp_mta;
pub use submission::run_submission;

use std::path::PathBuf;
use std::sync::Arc;

use mailstack_config::{Cidr, Config};
use mailstack_directory::{Directory, DirectoryError};
use mailstack_net::{
    Admission, ImplicitTls, NetError, ReloadingTlsAcceptor, Server, Shutdown, TLS_HANDSHAKE_TIMEOUT,
};
use mailstack_store::{Store, StoreError, StoreOptions};
use mailstack_telemetry::TelemetryError;

use crate::reply::Reply;
use crate::session::{MailHandler, SessionConfig, run_session};

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A listener could not be set up.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The admin endpoint could not be set up.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// The directory could not be opened.
    #[error("directory: {0}")]
    Directory(#[from] DirectoryError),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The queue could not be opened.
    #[error("queue: {0}")]
    Queue(#[from] mailstack_queue::QueueError),
    /// The DNS resolver for SPF/DKIM/DMARC could not be set up.
    #[error("authentication checks: {0}")]
    Verify(#[from] crate::verify::VerifyError),
    /// A setting is unusable in a way validation could not see.
    #[error("{0}")]
    Setting(String),
}

/// Open the directory backend the config names (see [`mailstack_directory::open`]).
pub async fn open_directory(config: &Config) -> Result<Arc<dyn Directory>, ServiceError> {
    Ok(mailstack_directory::open(&config.directory).await?)
}

/// Open the store the config names.
pub fn open_store(config: &Config) -> Result<Store, ServiceError> {
    Ok(Store::new(StoreOptions {
        root: PathBuf::from(&config.store.root),
        fsync: config.store.fsync,
    })?)
}

/// Serve SMTP/LMTP sessions on `server` until shutdown. Over-limit connections get `421`;
/// when `allowed` is given, clients outside those networks get `554 5.7.1` at connect.
pub(crate) async fn serve_sessions<H: MailHandler>(
    server: Server,
    shutdown: Shutdown,
    grace: std::time::Duration,
    session: Arc<SessionConfig>,
    handler: Arc<H>,
    allowed: Option<Arc<Vec<Cidr>>>,
) {
    let access = Access {
        allowed,
        implicit_tls: None,
    };
    serve_sessions_with(server, shutdown, grace, session, handler, access).await;
}

/// Who may connect to a server's listeners and how they start.
#[derive(Clone, Default)]
pub(crate) struct Access {
    /// Only clients in these networks (the relay listener).
    pub(crate) allowed: Option<Arc<Vec<Cidr>>>,
    /// Connections to these listeners start with a TLS handshake (465).
    pub(crate) implicit_tls: Option<(ImplicitTls, ReloadingTlsAcceptor)>,
}

/// [`serve_sessions`] with implicit TLS on some listeners.
pub(crate) async fn serve_sessions_with<H: MailHandler>(
    server: Server,
    shutdown: Shutdown,
    grace: std::time::Duration,
    session: Arc<SessionConfig>,
    handler: Arc<H>,
    access: Access,
) {
    server
        .run(shutdown, grace, move |conn, peer, admission, sd| {
            let session = session.clone();
            let handler = handler.clone();
            let Access {
                allowed,
                implicit_tls,
            } = access.clone();
            async move {
                use tokio::io::AsyncWriteExt;
                let mut conn = conn;
                if let Some((ports, tls)) = &implicit_tls
                    && ports.applies_to(&peer)
                {
                    let handshake = ImplicitTls::handshake(conn, tls, &peer, TLS_HANDSHAKE_TIMEOUT);
                    let Some(c) = handshake.await else { return };
                    conn = c;
                }
                let refuse = if let Admission::OverLimit(_) = admission {
                    Some(Reply::too_many_connections(&session.hostname))
                } else if let Some(nets) = &allowed {
                    let inside = peer
                        .addr
                        .is_some_and(|a| nets.iter().any(|n| n.contains(a.ip())));
                    (!inside).then(|| {
                        tracing::warn!(%peer, "relay listener: client not in relay_networks");
                        Reply::new(554, "5.7.1", format!("{} Access denied", session.hostname))
                    })
                } else {
                    None
                };
                if let Some(reply) = refuse {
                    let _ = conn.write_all(reply.to_wire().as_bytes()).await;
                    let _ = conn.shutdown().await;
                    return;
                }
                let ending = run_session(conn, peer.to_string(), session, handler, sd).await;
                tracing::debug!(%peer, ?ending, "session ended");
            }
        })
        .await;
}

pub(crate) use mailstack_telemetry::spawn_admin;
