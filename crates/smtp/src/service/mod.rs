//! Running a protocol service: bind every listener and the admin endpoint first (so a port in
//! use or a bad certificate stops start-up with a clear message), then serve until shutdown,
//! letting transactions in flight finish within the grace period.
//!
//! - lmtp-mda: [`run_lmtp`].
//! - smtp-mta (MX listener, relay listener, queue and its LMTP delivery): [`run_smtp_mta`].

mod lmtp;
mod mta;

pub use lmtp::run_lmtp;
pub use mta::run_smtp_mta;

use std::path::PathBuf;
use std::sync::Arc;

use mailstack_config::{Cidr, Config};
use mailstack_directory::static_file::StaticDirectory;
use mailstack_directory::{Directory, DirectoryError};
use mailstack_net::{Admission, ListenAddr, Listener, NetError, Server, Shutdown};
use mailstack_store::{Store, StoreError, StoreOptions};
use mailstack_telemetry::{Metrics, Readiness, TelemetryError, serve_admin};

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

/// Open the directory backend the config names. An LDAP directory whose servers are all down
/// still opens: it answers "unavailable" (4xx) until one is reachable.
pub async fn open_directory(config: &Config) -> Result<Arc<dyn Directory>, ServiceError> {
    let d = &config.directory;
    match d.backend.as_str() {
        "static" => Ok(Arc::new(StaticDirectory::open(
            PathBuf::from(&d.users_file),
            d.subaddress_delimiter.clone(),
        )?)),
        "ldap" => {
            use mailstack_directory::ldap::{AuthMethod, LdapDirectory, LdapOptions, Preset};
            let bind_password = if d.ldap_bind_password_file.is_empty() {
                std::env::var("MAILSTACK_LDAP_BIND_PASSWORD").unwrap_or_default()
            } else {
                std::fs::read_to_string(&d.ldap_bind_password_file)
                    .map_err(|e| {
                        ServiceError::Setting(format!(
                            "directory.ldap_bind_password_file: cannot read {}: {e}",
                            d.ldap_bind_password_file
                        ))
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_string()
            };
            let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
            let opts = LdapOptions {
                urls: d.ldap_urls.clone(),
                bind_dn: d.ldap_bind_dn.clone(),
                bind_password,
                base_dn: d.ldap_base_dn.clone(),
                preset: if d.ldap_preset == "active-directory" {
                    Preset::ActiveDirectory
                } else {
                    Preset::OpenLdap
                },
                user_filter: non_empty(&d.ldap_user_filter),
                group_filter: non_empty(&d.ldap_group_filter),
                alias_attributes: (!d.ldap_alias_attributes.is_empty())
                    .then(|| d.ldap_alias_attributes.clone()),
                auth: if d.ldap_auth == "compare" {
                    AuthMethod::Compare
                } else {
                    AuthMethod::Bind
                },
                starttls: d.ldap_starttls,
                ca_file: non_empty(&d.ldap_ca_file).map(PathBuf::from),
                timeout: d.ldap_timeout.get(),
                pool_size: d.ldap_pool_size,
                cache_ttl: d.ldap_cache_ttl.get(),
                negative_cache_ttl: d.ldap_negative_cache_ttl.get(),
                local_domains: d.local_domains.clone(),
                subaddress_delimiters: d.subaddress_delimiter.clone(),
            };
            Ok(Arc::new(LdapDirectory::connect(opts).await?))
        }
        other => Err(ServiceError::Setting(format!(
            "unknown directory backend {other:?}"
        ))),
    }
}

/// Open the store the config names.
pub fn open_store(config: &Config) -> Result<Store, ServiceError> {
    Ok(Store::new(StoreOptions {
        root: PathBuf::from(&config.store.root),
        fsync: config.store.fsync,
    })?)
}

/// Bind every address of a listener list.
pub fn bind_all(key: &str, addrs: &[String]) -> Result<Vec<Listener>, ServiceError> {
    addrs
        .iter()
        .map(|a| {
            let addr: ListenAddr = a
                .parse()
                .map_err(|e| ServiceError::Setting(format!("{key}: {a:?}: {e}")))?;
            Ok(Listener::bind(&addr)?)
        })
        .collect()
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
    server
        .run(shutdown, grace, move |conn, peer, admission, sd| {
            let session = session.clone();
            let handler = handler.clone();
            let allowed = allowed.clone();
            async move {
                use tokio::io::AsyncWriteExt;
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
                    let mut conn = conn;
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

/// Start the admin endpoint; it is stopped with the returned token after the protocol
/// listeners have drained. Readiness turns false as soon as `shutdown` triggers.
pub(crate) fn spawn_admin(
    admin: tokio::net::TcpListener,
    metrics: Metrics,
    readiness: Readiness,
    shutdown: &Shutdown,
) -> (Shutdown, tokio::task::JoinHandle<()>) {
    let admin_stop = Shutdown::new();
    let task = {
        let stop = admin_stop.clone();
        tokio::spawn(serve_admin(admin, metrics, readiness.clone(), async move {
            stop.triggered().await
        }))
    };
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        shutdown.triggered().await;
        tracing::info!("shutting down: finishing transactions in progress");
        readiness.set_shutting_down();
    });
    (admin_stop, task)
}
