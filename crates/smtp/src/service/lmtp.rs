//! lmtp-mda: LMTP listeners over [`LocalDelivery`].

use std::sync::Arc;

use mailstack_config::Config;
use mailstack_directory::ExpandLimits;
use mailstack_net::{Listener, Shutdown};
use mailstack_telemetry::{Metrics, Readiness, bind_admin, counted_server};

use super::{ServiceError, open_directory, open_store, serve_sessions, spawn_admin};
use crate::client::{ClientTls, NextHop};
use crate::junk::JunkPolicy;
use crate::lmtp::{LocalDelivery, SieveSettings};
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
    let handler = LocalDelivery::new(
        directory,
        store.clone(),
        hostname.clone(),
        ExpandLimits {
            max_depth: config.directory.max_expansion_depth,
            ..ExpandLimits::default()
        },
        config.store.default_quota.bytes(),
        config.store.default_folders.clone(),
        &metrics,
    )
    .with_junk_policy(JunkPolicy::from_config(section).map_err(ServiceError::Setting)?);
    let handler = Arc::new(match sieve_settings(config)? {
        Some(settings) => handler.with_sieve(settings),
        None => handler,
    });
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
    // Every session has ended: the folders' index connections kept for the next delivery go
    // now (closing checkpoints each index's WAL into its file).
    store.close_unused_indexes().await;
    admin_stop.trigger();
    let _ = admin_task.await;
    tracing::info!("lmtp-mda stopped");
    Ok(())
}

/// The `[lmtp_mda]` Sieve settings; `None` when `sieve = false`.
fn sieve_settings(config: &Config) -> Result<Option<SieveSettings>, ServiceError> {
    let section = &config.lmtp_mda;
    if !section.sieve {
        return Ok(None);
    }
    let mut limits = mailstack_sieve::Limits::default();
    limits.max_script_bytes = section.sieve_max_script_size.bytes() as usize;
    limits.max_redirects = section.sieve_max_redirects;
    limits.max_actions = section.sieve_max_actions;
    limits.vacation_min_period_secs = section.sieve_vacation_min_period.get().as_secs();
    limits.vacation_max_period_secs = section.sieve_vacation_max_period.get().as_secs();
    limits.subaddress_separator = config
        .directory
        .subaddress_delimiter
        .chars()
        .next()
        .map(String::from)
        .unwrap_or_else(|| "+".into());
    let relay = if section.sieve_relay_address.is_empty() {
        None
    } else {
        Some(NextHop {
            target: section
                .sieve_relay_address
                .parse()
                .map_err(|e| ServiceError::Setting(format!("lmtp_mda.sieve_relay_address: {e}")))?,
            server_name: section.sieve_relay_address.clone(),
            helo: config.hostname(),
            timeout: section.timeout.get(),
            tls: ClientTls::None,
            auth: None,
        })
    };
    Ok(Some(SieveSettings {
        before: section.sieve_before.iter().map(Into::into).collect(),
        after: section.sieve_after.iter().map(Into::into).collect(),
        limits,
        relay,
    }))
}
