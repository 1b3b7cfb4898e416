//! submission as a service: 587 (STARTTLS) and 465 (implicit TLS) in one server with one
//! connection limit, one login throttle and one rate limiter, forwarding to smtp-mta's relay
//! listener.

use std::sync::Arc;

use mailstack_config::Config;
use mailstack_directory::{AuthThrottle, ExpandLimits};
use mailstack_net::{ImplicitTls, ListenAddr, ReloadingTlsAcceptor, Shutdown};
use mailstack_telemetry::{Metrics, Readiness, bind_admin, counted_server};

use super::{Access, ServiceError, open_directory, serve_sessions_with, spawn_admin};
use crate::client::{ClientTls, NextHop};
use crate::dkim::DkimSigner;
use crate::session::{Mode, SessionConfig};
use crate::submission::forward::RelayForwarder;
use crate::submission::rate::RateLimiter;
use crate::submission::{Submission, SubmissionPolicy};

/// Run submission until `shutdown` is triggered and every session has ended (a message being
/// received is finished and forwarded within `shutdown_grace`).
pub async fn run_submission(config: &Config, shutdown: Shutdown) -> Result<(), ServiceError> {
    let section = &config.submission;
    let hostname = config.hostname();
    let directory = open_directory(config).await?;
    let tls = ReloadingTlsAcceptor::from_config(&config.tls, &hostname)?;
    let relay: ListenAddr = section
        .relay_address
        .parse()
        .map_err(|e| ServiceError::Setting(format!("submission.relay_address: {e}")))?;
    let (listeners, implicit_tls) = ImplicitTls::bind(&section.listen, &section.tls_listen)?;
    let admin = bind_admin(&section.admin_listen).await?;

    let metrics = Metrics::new();
    let readiness = Readiness::new();
    let server = counted_server(
        listeners,
        section.max_connections,
        section.max_connections_per_ip,
        &metrics,
        "mailstack_submission_connections",
        "Submission connections open now",
    );
    let forwarder = RelayForwarder::new(NextHop {
        server_name: section.relay_address.clone(),
        target: relay,
        helo: hostname.clone(),
        timeout: section.timeout.get(),
        tls: ClientTls::None,
        auth: None,
    });
    let signer = section
        .dkim_sign
        .then(|| DkimSigner::new(section.dkim_dir.clone()));
    let handler = Arc::new(Submission::new(
        directory,
        AuthThrottle::new(section.auth_failure_delay.get()),
        RateLimiter::new(
            section.rate_window.get(),
            section.max_messages_per_window,
            section.max_recipients_per_window,
        ),
        SubmissionPolicy {
            hostname: hostname.clone(),
            allow_send_as_group: section.allow_send_as_group,
            hide_client_ip: section.hide_client_ip,
            expand_limits: ExpandLimits {
                max_depth: config.directory.max_expansion_depth,
                ..ExpandLimits::default()
            },
        },
        Arc::new(forwarder),
        signer,
        &metrics,
    ));
    let session = Arc::new(SessionConfig {
        max_message_size: section.max_message_size.bytes(),
        max_recipients: section.max_recipients,
        max_line_length: section.max_line_length,
        timeout: section.timeout.get(),
        data_timeout: section.data_timeout.get(),
        max_errors: section.max_errors,
        max_junk_commands: section.max_junk_commands,
        tls: Some(tls.clone()),
        allow_plaintext_auth: section.allow_plaintext_auth,
        max_auth_failures: section.max_auth_failures,
        ..SessionConfig::new(Mode::Submission, hostname.clone())
    });

    let tls_watcher = tls.spawn_watcher(shutdown.clone());
    let (admin_stop, admin_task) = spawn_admin(admin, metrics, readiness.clone(), &shutdown);
    readiness.set("submission listeners", true);
    tracing::info!(
        listen = ?section.listen, tls_listen = ?section.tls_listen, relay = %section.relay_address,
        admin = %section.admin_listen, %hostname, "submission ready"
    );
    let access = Access {
        allowed: None,
        implicit_tls: Some((implicit_tls, tls)),
    };
    serve_sessions_with(
        server,
        shutdown,
        section.shutdown_grace.get(),
        session,
        handler,
        access,
    )
    .await;
    let _ = tls_watcher.await;
    admin_stop.trigger();
    let _ = admin_task.await;
    tracing::info!("submission stopped");
    Ok(())
}
