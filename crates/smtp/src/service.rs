//! Running a protocol service: bind every listener and the admin endpoint first (so a port in
//! use or a bad certificate stops start-up with a clear message), then serve until shutdown,
//! letting transactions in flight finish within the grace period.

use std::path::PathBuf;
use std::sync::Arc;

use mailstack_config::Config;
use mailstack_directory::static_file::StaticDirectory;
use mailstack_directory::{Directory, DirectoryError, ExpandLimits};
use mailstack_net::{Admission, ListenAddr, Listener, NetError, Server, ServerLimits, Shutdown};
use mailstack_store::{Store, StoreError, StoreOptions};
use mailstack_telemetry::{Metrics, Readiness, TelemetryError, bind_admin, serve_admin};

use crate::lmtp::LocalDelivery;
use crate::reply::Reply;
use crate::session::{Mode, SessionConfig, run_session};

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
    /// A setting is unusable in a way validation could not see.
    #[error("{0}")]
    Setting(String),
}

/// Open the directory backend the config names.
pub fn open_directory(config: &Config) -> Result<Arc<dyn Directory>, ServiceError> {
    match config.directory.backend.as_str() {
        "static" => Ok(Arc::new(StaticDirectory::open(
            PathBuf::from(&config.directory.users_file),
            config.directory.subaddress_delimiter.clone(),
        )?)),
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

/// Run lmtp-mda until `shutdown` is triggered and every session has ended.
pub async fn run_lmtp(config: &Config, shutdown: Shutdown) -> Result<(), ServiceError> {
    let section = &config.lmtp_mda;
    let hostname = config.hostname();
    let directory = open_directory(config)?;
    let store = open_store(config)?;
    let listeners = bind_all("lmtp_mda.listen", &section.listen)?;
    let admin = bind_admin(&section.admin_listen).await?;

    let metrics = Metrics::new();
    let readiness = Readiness::new();
    let server = Server::new(
        listeners,
        ServerLimits {
            max_connections: section.max_connections,
            max_connections_per_ip: section.max_connections_per_ip,
        },
    );
    let stats = server.stats();
    metrics.gauge_fn(
        "mailstack_lmtp_connections",
        "LMTP connections open now",
        move || stats.active() as i64,
    );
    let handler = Arc::new(LocalDelivery::new(
        directory,
        store,
        hostname.clone(),
        ExpandLimits {
            max_depth: config.directory.max_expansion_depth,
            ..ExpandLimits::default()
        },
        config.store.default_quota.bytes(),
        config.store.default_folders.clone(),
        &metrics,
    ));
    let session = Arc::new(SessionConfig {
        mode: Mode::Lmtp,
        hostname: hostname.clone(),
        max_message_size: section.max_message_size.bytes(),
        max_recipients: section.max_recipients,
        max_line_length: section.max_line_length,
        bare_newlines: section
            .bare_newlines
            .parse()
            .map_err(ServiceError::Setting)?,
        timeout: section.timeout.get(),
        max_errors: 20,
    });

    let admin_stop = Shutdown::new();
    let admin_task = {
        let stop = admin_stop.clone();
        tokio::spawn(serve_admin(admin, metrics, readiness.clone(), async move {
            stop.triggered().await
        }))
    };
    readiness.set("lmtp listeners", true);
    {
        let readiness = readiness.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            shutdown.triggered().await;
            tracing::info!("shutting down: finishing transactions in progress");
            readiness.set_shutting_down();
        });
    }
    tracing::info!(listen = ?section.listen, admin = %section.admin_listen, %hostname, "lmtp-mda ready");

    server
        .run(
            shutdown,
            section.shutdown_grace.get(),
            move |conn, peer, admission, sd| {
                let session = session.clone();
                let handler = handler.clone();
                async move {
                    if let Admission::OverLimit(_) = admission {
                        use tokio::io::AsyncWriteExt;
                        let mut conn = conn;
                        let _ = conn
                            .write_all(
                                Reply::too_many_connections(&session.hostname)
                                    .to_wire()
                                    .as_bytes(),
                            )
                            .await;
                        return;
                    }
                    let ending = run_session(conn, peer.to_string(), session, handler, sd).await;
                    tracing::debug!(%peer, ?ending, "session ended");
                }
            },
        )
        .await;
    admin_stop.trigger();
    let _ = admin_task.await;
    tracing::info!("lmtp-mda stopped");
    Ok(())
}
