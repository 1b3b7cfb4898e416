//! imap-server as a service: bind the listeners and the admin endpoint first (so a port in
//! use or a bad certificate stops start-up with a clear message), then run one
//! [`run_imap_session`] per connection until shutdown.
//!
//! `[imap] listen` (143) offers STARTTLS; connections to `tls_listen` (993) do the TLS
//! handshake before the greeting (RFC 8314). Both share one connection limit, one login
//! throttle and one inotify watcher.

use std::path::PathBuf;
use std::sync::Arc;

use mailstack_config::Config;
use mailstack_directory::{AuthThrottle, Directory, DirectoryError};
use mailstack_net::{ImplicitTls, NetError, ReloadingTlsAcceptor, Shutdown};
use mailstack_store::{Store, StoreError, StoreOptions};
use mailstack_telemetry::{
    Metrics, Readiness, TelemetryError, bind_admin, counted_server, spawn_admin,
};

use crate::learn::{self, LearnError, SpamLearner};
use crate::proto::Limits;
use crate::session::{ImapConfig, run_imap_session};
use crate::watch::{MaildirWatcher, WatchError};

/// Why imap-server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A listener or the certificate could not be set up.
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
    /// The inotify watcher could not be started.
    #[error("inotify: {0}")]
    Watch(#[from] WatchError),
    /// The spam-learning settings cannot be used.
    #[error(transparent)]
    Learn(#[from] LearnError),
}

/// The session settings `[imap]` gives, with a new failed-login throttle.
pub fn session_config(config: &Config, starttls: Option<ReloadingTlsAcceptor>) -> ImapConfig {
    let throttle = AuthThrottle::new(config.imap.auth_failure_delay.get());
    session_config_with(config, starttls, throttle)
}

/// The failed-login throttle `[imap]` asks for, to share with the process's other logins
/// (ManageSieve).
pub fn login_throttle(config: &Config) -> AuthThrottle {
    AuthThrottle::new(config.imap.auth_failure_delay.get())
}

/// The session settings `[imap]` gives, counting failed logins in `throttle`.
pub fn session_config_with(
    config: &Config,
    starttls: Option<ReloadingTlsAcceptor>,
    throttle: AuthThrottle,
) -> ImapConfig {
    let section = &config.imap;
    let max_message = section.max_message_size.bytes();
    ImapConfig {
        allow_plaintext_auth: section.allow_plaintext_auth,
        limits: Limits {
            max_line: section.max_line_length,
            max_append_literal: max_message,
            max_append_command: max_message.saturating_mul(4),
            ..Limits::default()
        },
        max_auth_failures: section.max_auth_failures as u32,
        autologout: section.autologout.get(),
        idle_poll: section.idle_poll.get(),
        default_folders: config.store.default_folders.clone(),
        starttls,
        throttle,
        spam_learner: None,
    }
}

/// What imap-server's services share: one directory, one store, one metrics registry and
/// readiness (served by IMAP's admin listener), one failed-login throttle.
#[derive(Clone)]
pub struct Shared {
    /// The directory.
    pub directory: Arc<dyn Directory>,
    /// The store.
    pub store: Store,
    /// The process's metrics.
    pub metrics: Metrics,
    /// The process's readiness.
    pub readiness: Readiness,
    /// Failed-login counters of every login of the process.
    pub throttle: AuthThrottle,
}

impl Shared {
    /// Open the directory and the store `config` names.
    pub async fn open(config: &Config) -> Result<Shared, ServiceError> {
        Ok(Shared {
            directory: mailstack_directory::open(&config.directory).await?,
            store: Store::new(StoreOptions {
                root: PathBuf::from(&config.store.root),
                fsync: config.store.fsync,
            })?,
            metrics: Metrics::new(),
            readiness: Readiness::new(),
            throttle: login_throttle(config),
        })
    }
}

/// Run imap-server until `shutdown` is triggered and every session has ended (sessions are
/// told `* BYE` at once; a command in progress has `shutdown_grace` to finish).
pub async fn run_imap(config: &Config, shutdown: Shutdown) -> Result<(), ServiceError> {
    let shared = Shared::open(config).await?;
    run_imap_with(config, shutdown, shared).await
}

/// [`run_imap`] with the directory, store, metrics and throttle given (shared with the
/// other services of the process).
pub async fn run_imap_with(
    config: &Config,
    shutdown: Shutdown,
    shared: Shared,
) -> Result<(), ServiceError> {
    let section = &config.imap;
    let Shared {
        directory,
        store,
        metrics,
        readiness,
        throttle,
    } = shared;
    let needs_tls = section.starttls || !section.tls_listen.is_empty();
    let tls = if needs_tls {
        Some(ReloadingTlsAcceptor::from_config(
            &config.tls,
            &config.hostname(),
        )?)
    } else {
        None
    };
    // Connections arriving on the tls_listen addresses speak TLS from the first byte.
    let (listeners, implicit_tls) = ImplicitTls::bind(&section.listen, &section.tls_listen)?;
    let admin = bind_admin(&section.admin_listen).await?;
    let watcher = MaildirWatcher::new()?;

    let server = counted_server(
        listeners,
        section.max_connections,
        section.max_connections_per_ip,
        &metrics,
        "mailstack_imap_connections",
        "IMAP connections open now",
    );
    let mut session_config =
        session_config_with(config, tls.clone().filter(|_| section.starttls), throttle);
    if let Some(settings) = learn::settings_from_config(section)? {
        tracing::info!(url = %settings.url, folder = %settings.spam_folder, "spam learning on");
        session_config.spam_learner = Some(SpamLearner::start(settings, &metrics)?);
    }
    let session_config = Arc::new(session_config);
    let tls_watcher = tls.as_ref().map(|t| t.spawn_watcher(shutdown.clone()));
    let (admin_stop, admin_task) = spawn_admin(admin, metrics, readiness.clone(), &shutdown);
    readiness.set("imap listeners", true);
    tracing::info!(
        listen = ?section.listen, tls_listen = ?section.tls_listen,
        admin = %section.admin_listen, "imap-server ready"
    );

    let store_at_exit = store.clone();
    server
        .run(
            shutdown.clone(),
            section.shutdown_grace.get(),
            move |conn, peer, admission, sd| {
                let session_config = session_config.clone();
                let directory = directory.clone();
                let store = store.clone();
                let watcher = watcher.clone();
                let tls = tls.clone();
                let implicit_tls = implicit_tls.clone();
                async move {
                    let over_limit = b"* BYE [UNAVAILABLE] Too many connections, try later\r\n";
                    // Both boxed: a connection's task is as large as the largest state of
                    // its future, for as long as the connection lives; boxed, the handshake's
                    // state is freed once it is done and an idle session keeps only its own.
                    let admitted = Box::pin(implicit_tls.admit(
                        conn,
                        tls.as_ref(),
                        &peer,
                        &admission,
                        over_limit,
                    ));
                    let Some(conn) = admitted.await else { return };
                    let ending = Box::pin(run_imap_session(
                        conn,
                        peer.to_string(),
                        session_config,
                        directory,
                        store,
                        watcher,
                        sd,
                    ))
                    .await;
                    tracing::debug!(%peer, ?ending, "imap session ended");
                }
            },
        )
        .await;
    if let Some(w) = tls_watcher {
        let _ = w.await;
    }
    // Every session has ended: the index connections kept for the next open go now (closing
    // checkpoints each index's WAL into its file).
    store_at_exit.close_unused_indexes().await;
    admin_stop.trigger();
    let _ = admin_task.await;
    tracing::info!("imap-server stopped");
    Ok(())
}
