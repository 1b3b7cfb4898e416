//! ManageSieve as a service inside imap-server: bind the `[managesieve]` listeners (a port in
//! use stops start-up with a clear message), then run one session per connection until
//! shutdown. Wired like IMAP's service: [`counted_server`] (limits and the
//! `mailstack_managesieve_connections` gauge on the process's metrics), STARTTLS and implicit
//! TLS with the reloading certificate, and the process's shared [`AuthThrottle`].

use std::sync::Arc;

use mailstack_config::Config;
use mailstack_directory::{AuthThrottle, Directory};
use mailstack_net::{ImplicitTls, NetError, ReloadingTlsAcceptor, Shutdown};
use mailstack_store::Store;
use mailstack_store::sieve::SieveQuota;
use mailstack_telemetry::{Metrics, Readiness, counted_server};

use crate::proto::Limits;
use crate::session::{SieveConfig, run_managesieve_session};

/// Why ManageSieve could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A listener or the certificate could not be set up.
    #[error("managesieve: {0}")]
    Net(#[from] NetError),
}

/// What the service shares with the rest of its process (imap-server).
#[derive(Clone)]
pub struct Shared {
    /// The directory for logins.
    pub directory: Arc<dyn Directory>,
    /// The store (users' homes).
    pub store: Store,
    /// The process's metrics, served by its admin listener.
    pub metrics: Metrics,
    /// The process's readiness.
    pub readiness: Readiness,
    /// Failed-login counters shared with IMAP.
    pub throttle: AuthThrottle,
}

/// The session settings `[managesieve]` (and `[lmtp_mda]`'s interpreter limits) give.
pub fn session_config(
    config: &Config,
    starttls: Option<ReloadingTlsAcceptor>,
    throttle: AuthThrottle,
) -> SieveConfig {
    let section = &config.managesieve;
    let max_script = section.max_script_size.bytes();
    SieveConfig {
        allow_plaintext_auth: section.allow_plaintext_auth,
        limits: Limits {
            max_line: section.max_line_length,
            // Room for a script over the limit to be refused with QUOTA/MAXSIZE.
            max_literal: max_script,
            max_discard: max_script.saturating_mul(4).max(1 << 20),
            ..Limits::default()
        },
        quota: SieveQuota {
            max_scripts: section.max_scripts as u64,
            max_script_size: max_script,
            max_storage: section.max_storage.bytes(),
        },
        sieve_limits: crate::script::limits(config),
        max_auth_failures: section.max_auth_failures as u32,
        max_errors: 20,
        timeout: section.timeout.get(),
        starttls,
        throttle,
    }
}

/// Run ManageSieve until `shutdown`; returns at once when `[managesieve] listen` and
/// `tls_listen` are both empty.
pub async fn run_managesieve(
    config: &Config,
    shutdown: Shutdown,
    shared: Shared,
) -> Result<(), ServiceError> {
    let section = &config.managesieve;
    if section.listen.is_empty() && section.tls_listen.is_empty() {
        tracing::info!("managesieve disabled (no listen addresses)");
        return Ok(());
    }
    let needs_tls = section.starttls || !section.tls_listen.is_empty();
    let tls = if needs_tls {
        Some(ReloadingTlsAcceptor::from_config(
            &config.tls,
            &config.hostname(),
        )?)
    } else {
        None
    };
    let (listeners, implicit_tls) = ImplicitTls::bind(&section.listen, &section.tls_listen)?;
    let server = counted_server(
        listeners,
        section.max_connections,
        section.max_connections_per_ip,
        &shared.metrics,
        "mailstack_managesieve_connections",
        "ManageSieve connections open now",
    );
    let session_config = Arc::new(session_config(
        config,
        tls.clone().filter(|_| section.starttls),
        shared.throttle.clone(),
    ));
    let tls_watcher = tls.as_ref().map(|t| t.spawn_watcher(shutdown.clone()));
    shared.readiness.set("managesieve listeners", true);
    tracing::info!(listen = ?section.listen, tls_listen = ?section.tls_listen, "managesieve ready");
    let Shared {
        directory, store, ..
    } = shared;
    server
        .run(
            shutdown.clone(),
            config.imap.shutdown_grace.get(),
            move |conn, peer, admission, sd| {
                let session_config = session_config.clone();
                let directory = directory.clone();
                let store = store.clone();
                let tls = tls.clone();
                let implicit_tls = implicit_tls.clone();
                async move {
                    let over_limit = b"BYE (TRYLATER) \"Too many connections, try later\"\r\n";
                    let admitted =
                        implicit_tls.admit(conn, tls.as_ref(), &peer, &admission, over_limit);
                    let Some(conn) = admitted.await else { return };
                    let ending = run_managesieve_session(
                        conn,
                        peer.to_string(),
                        session_config,
                        directory,
                        store,
                        sd,
                    )
                    .await;
                    tracing::debug!(%peer, ?ending, "managesieve session ended");
                }
            },
        )
        .await;
    if let Some(w) = tls_watcher {
        let _ = w.await;
    }
    tracing::info!("managesieve stopped");
    Ok(())
}
