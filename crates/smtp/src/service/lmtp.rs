//! lmtp-mda: LMTP listeners over [`LocalDelivery`].

use std::sync::Arc;

use mailstack_config::Config;
use mailstack_directory::ExpandLimits;
use mailstack_net::{Listener, Shutdown};
use mailstack_telemetry::{Metrics, Readiness, bind_admin, counted_server};

use super::{ServiceError, open_directory, open_store, serve_sessions, spawn_admin};
use crate::junk::JunkPolicy;
use crate::lmtp::LocalDelivery;
use crate::session::{Mode, SessionConfig};

/// Run lmtp-mda until `shutdown` is triggered and every session has ended.
pub async fn run_lmtp(config: &Config, shutdown: Shutdown) -> Result<(), ServiceError> {
    let section = &config.lmtp_mda;
    let hostname = config.hostname();
    let directory = open_directory(config).await?;
    let store = open_store(config)?;
    let listeners = Listener::bind_all(&section.listen)?;
    let admin = bind_admin(&section.admin_listen).await?;

    let metrics = Metrics::new();
    let readiness = Readiness::new();
    let server = counted_server(
        listeners,
        section.max_connections,
        section.max_connections_per_ip,
        &metrics,
        "mailstack_lmtp_connections",
        "LMTP connections open now",
    );
    let handler = Arc::new(
        LocalDelivery::new(
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
        )
        .with_junk_policy(JunkPolicy::from_config(section).map_err(ServiceError::Setting)?),
    );
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
        data_timeout: section.timeout.get(),
        max_errors: 20,
        ..SessionConfig::new(Mode::Lmtp, hostname.clone())
    });

    let (admin_stop, admin_task) = spawn_admin(admin, metrics, readiness.clone(), &shutdown);
    readiness.set("lmtp listeners", true);
    tracing::info!(listen = ?section.listen, admin = %section.admin_listen, %hostname, "lmtp-mda ready");

    serve_sessions(
        server,
        shutdown,
        section.shutdown_grace.get(),
        session,
        handler,
        None,
    )
    .await;
    admin_stop.trigger();
    let _ = admin_task.await;
    tracing::info!("lmtp-mda stopped");
    Ok(())
}
