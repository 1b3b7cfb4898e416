//! smtp-mta: the public MX listener and the internal relay listener (both feeding the one
//! durable queue through [`Inbound`]), the queue's scheduler delivering through the
//! [`RouterTransport`] (local domains over LMTP, other domains over SMTP to their MX hosts or
//! the smarthost), and the admin endpoint.

use std::sync::Arc;

use mailstack_config::{Cidr, Config};
use mailstack_directory::ExpandLimits;
use mailstack_net::{ListenAddr, Listener, ReloadingTlsAcceptor, Shutdown};
use mailstack_queue::{Queue, QueueOptions, RetryPolicy};
use mailstack_telemetry::{Metrics, Readiness, bind_admin, counted_server};

use super::{ServiceError, open_directory, serve_sessions, spawn_admin};
use crate::client::{ClientTls, LmtpTransport};
use crate::inbound::{Inbound, InboundPolicy};
use crate::outbound::{OutboundOptions, RemoteTransport, RouterTransport, Smarthost};
use crate::session::{Mode, SessionConfig};
use crate::verify::{Verifier, VerifyOptions};

/// Run smtp-mta until `shutdown` is triggered, every session has ended and the queue's
/// deliveries in progress are done. Messages still queued stay on disk for the next start.
pub async fn run_smtp_mta(config: &Config, shutdown: Shutdown) -> Result<(), ServiceError> {
    let section = &config.smtp_mta;
    let hostname = config.hostname();
    let directory = open_directory(config).await?;
    let tls = if section.starttls {
        Some(ReloadingTlsAcceptor::from_config(&config.tls, &hostname)?)
    } else {
        None
    };
    let mx_listeners = Listener::bind_all(&section.listen)?;
    let relay_listeners = Listener::bind_all(&section.relay_listen)?;
    let admin = bind_admin(&section.admin_listen).await?;
    let lmtp: ListenAddr = section
        .lmtp_address
        .parse()
        .map_err(|e| ServiceError::Setting(format!("smtp_mta.lmtp_address: {e}")))?;
    let relay_networks: Vec<Cidr> = section
        .relay_networks
        .iter()
        .filter_map(|n| Cidr::parse(n))
        .collect();
    let verifier = if section.verify {
        let resolver = dns_resolver(section)?;
        Some(Verifier::new(VerifyOptions {
            resolver,
            timeout: section.dns_timeout.get(),
            auth_serv_id: hostname.clone(),
        })?)
    } else {
        None
    };
    let q = &config.queue;
    let queue = Queue::open(QueueOptions {
        dir: q.dir.clone().into(),
        fsync: q.fsync,
        retry: RetryPolicy {
            min_backoff: q.min_backoff.get(),
            max_backoff: q.max_backoff.get(),
            max_lifetime: q.max_lifetime.get(),
            warn_after: Some(q.warn_after.get()).filter(|d| !d.is_zero()),
        },
        max_concurrent_deliveries: q.max_concurrent_deliveries,
        hostname: hostname.clone(),
    })
    .await?;

    let metrics = Metrics::new();
    let readiness = Readiness::new();
    let server = |listeners, gauge, help| {
        counted_server(
            listeners,
            section.max_connections,
            section.max_connections_per_ip,
            &metrics,
            gauge,
            help,
        )
    };
    let mx_server = server(
        mx_listeners,
        "mailstack_smtp_connections",
        "SMTP connections open now (MX listener)",
    );
    let relay_server = server(
        relay_listeners,
        "mailstack_smtp_relay_connections",
        "SMTP connections open now (relay listener)",
    );
    type StatFn = fn(&mailstack_queue::QueueStats) -> u64;
    let queue_gauges: [(&str, &str, StatFn); 5] = [
        (
            "mailstack_queue_enqueued",
            "Messages enqueued since start (DSNs included)",
            |s| s.enqueued,
        ),
        (
            "mailstack_queue_commit_batches",
            "Group commits since start (enqueues share their fsyncs)",
            |s| s.commit_batches,
        ),
        (
            "mailstack_queue_dir_fsyncs",
            "Spool directory fsyncs since start",
            |s| s.dir_fsyncs,
        ),
        (
            "mailstack_queue_delivery_attempts",
            "Delivery attempts since start",
            |s| s.delivery_attempts,
        ),
        (
            "mailstack_queue_dsns",
            "Delivery status notifications generated since start",
            |s| s.dsns,
        ),
    ];
    for (name, help, read) in queue_gauges {
        let q = queue.clone();
        metrics.gauge_fn(name, help, move || read(&q.stats()) as i64);
    }

    let session = |mode: Mode| -> Result<Arc<SessionConfig>, ServiceError> {
        Ok(Arc::new(SessionConfig {
            max_message_size: section.max_message_size.bytes(),
            max_recipients: section.max_recipients,
            max_line_length: section.max_line_length,
            bare_newlines: section
                .bare_newlines
                .parse()
                .map_err(ServiceError::Setting)?,
            timeout: section.timeout.get(),
            data_timeout: section.data_timeout.get(),
            max_errors: section.max_errors,
            max_junk_commands: section.max_junk_commands,
            tls: tls.clone(),
            ..SessionConfig::new(mode, hostname.clone())
        }))
    };
    let handler = |relay: bool| {
        Inbound::new(
            directory.clone(),
            queue.clone(),
            verifier.clone(),
            hostname.clone(),
            InboundPolicy {
                relay,
                max_received_headers: section.max_received_headers,
                reject_dmarc_reject: section.reject_dmarc_reject,
                reject_spf_fail: section.reject_spf_fail,
            },
            ExpandLimits {
                max_depth: config.directory.max_expansion_depth,
                ..ExpandLimits::default()
            },
            &metrics,
        )
    };
    let milter_results = metrics.counter_family(
        "mailstack_milter_results",
        "Milter decisions by milter, stage and result (continue, accept, reject, tempfail, discard, quarantine, modify, shutdown, error)",
    );
    let milters = |key: &str, list: &[String]| -> Result<mailstack_milter::Milters, ServiceError> {
        let m = milters_from_config(section, key, list, &section.max_message_size)?;
        let family = milter_results.clone();
        Ok(m.with_observer(Arc::new(move |milter, stage, result| {
            let labels = vec![
                ("milter".to_string(), milter.to_string()),
                ("stage".to_string(), stage.to_string()),
                ("result".to_string(), result.to_string()),
            ];
            family.get_or_create(&labels).inc();
        })))
    };
    let mx_handler = Arc::new(handler(false).with_milters(milters("milters", &section.milters)?));
    let relay_handler =
        Arc::new(handler(true).with_milters(milters("relay_milters", &section.relay_milters)?));
    let (mx_session, relay_session) = (session(Mode::Smtp)?, session(Mode::Relay)?);

    let local = Arc::new(LmtpTransport::new(
        lmtp,
        hostname.clone(),
        section.timeout.get(),
    ));
    let remote = Arc::new(
        RemoteTransport::new(outbound_options(section, &hostname)?)
            .map_err(|e| ServiceError::Setting(e.to_string()))?,
    );
    let opened = remote.clone();
    metrics.gauge_fn(
        "mailstack_outbound_connections_opened",
        "SMTP connections opened to remote MX hosts since start",
        move || opened.connections_opened() as i64,
    );
    let transport = Arc::new(RouterTransport::new(directory.clone(), local, remote));
    let scheduler = queue.start(transport, shutdown.clone());
    let tls_watcher = tls.as_ref().map(|t| t.spawn_watcher(shutdown.clone()));
    let (admin_stop, admin_task) = spawn_admin(admin, metrics, readiness.clone(), &shutdown);
    readiness.set("smtp listeners", true);
    tracing::info!(
        listen = ?section.listen, relay = ?section.relay_listen, lmtp = %section.lmtp_address,
        admin = %section.admin_listen, %hostname, "smtp-mta ready"
    );

    let grace = section.shutdown_grace.get();
    tokio::join!(
        serve_sessions(
            mx_server,
            shutdown.clone(),
            grace,
            mx_session,
            mx_handler,
            None
        ),
        serve_sessions(
            relay_server,
            shutdown.clone(),
            grace,
            relay_session,
            relay_handler,
            Some(Arc::new(relay_networks))
        ),
    );
    let _ = scheduler.await;
    if let Some(w) = tls_watcher {
        let _ = w.await;
    }
    admin_stop.trigger();
    let _ = admin_task.await;
    tracing::info!("smtp-mta stopped");
    Ok(())
}

/// A listener's milters from `[smtp_mta]`: each entry parsed with the `milter_*` settings as
/// defaults, the macro lists per stage.
fn milters_from_config(
    section: &mailstack_config::SmtpMtaConfig,
    key: &str,
    list: &[String],
    max_message_size: &mailstack_config::ByteSize,
) -> Result<mailstack_milter::Milters, ServiceError> {
    use mailstack_milter::proto::Stage;
    use mailstack_milter::{EomLimits, MacroNames, MilterDefaults, MilterSpec, Milters};
    let defaults = MilterDefaults {
        connect_timeout: section.milter_connect_timeout.get(),
        command_timeout: section.milter_command_timeout.get(),
        content_timeout: section.milter_content_timeout.get(),
        default_action: section
            .milter_default_action
            .parse()
            .map_err(|e| ServiceError::Setting(format!("smtp_mta.milter_default_action: {e}")))?,
        protocol: section.milter_protocol,
    };
    let specs = list
        .iter()
        .map(|m| {
            MilterSpec::parse(m, &defaults)
                .map_err(|e| ServiceError::Setting(format!("smtp_mta.{key}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let macros = MacroNames::from_lists(&[
        (Stage::Connect, &section.milter_connect_macros),
        (Stage::Helo, &section.milter_helo_macros),
        (Stage::Mail, &section.milter_mail_macros),
        (Stage::Rcpt, &section.milter_rcpt_macros),
        (Stage::Data, &section.milter_data_macros),
        (Stage::Eoh, &section.milter_end_of_header_macros),
        (Stage::Eom, &section.milter_end_of_data_macros),
    ]);
    let limits = EomLimits {
        // A replacement body may not be larger than a message we would accept.
        max_body: usize::try_from(max_message_size.bytes()).unwrap_or(usize::MAX),
        ..EomLimits::default()
    };
    Ok(Milters::new(specs, macros, limits))
}

/// The outbound settings of `[smtp_mta]`.
fn outbound_options(
    section: &mailstack_config::SmtpMtaConfig,
    hostname: &str,
) -> Result<OutboundOptions, ServiceError> {
    let path = |s: &str| (!s.is_empty()).then(|| std::path::PathBuf::from(s));
    let resolver = dns_resolver(section)?;
    let smarthost = if section.smarthost.is_empty() {
        None
    } else {
        let (host, port) = match section.smarthost.rsplit_once(':') {
            Some((h, p)) => (
                h.trim_matches(['[', ']']).to_string(),
                p.parse::<u16>().map_err(|_| {
                    ServiceError::Setting(format!(
                        "smtp_mta.smarthost: {:?} is not host:port",
                        section.smarthost
                    ))
                })?,
            ),
            None => {
                return Err(ServiceError::Setting(format!(
                    "smtp_mta.smarthost: {:?} is not host:port",
                    section.smarthost
                )));
            }
        };
        let tls = match section.smarthost_tls.as_str() {
            "none" => ClientTls::None,
            "opportunistic" => ClientTls::Opportunistic,
            _ => ClientTls::Required {
                ca_file: path(&section.outbound_ca_file),
            },
        };
        let auth = if section.smarthost_user.is_empty() {
            None
        } else {
            let file = &section.smarthost_password_file;
            let password = std::fs::read_to_string(file).map_err(|e| {
                ServiceError::Setting(format!("smtp_mta.smarthost_password_file {file}: {e}"))
            })?;
            let password = password.lines().next().unwrap_or("").to_string();
            Some((section.smarthost_user.clone(), password))
        };
        Some(Smarthost {
            host,
            port,
            tls,
            auth,
        })
    };
    Ok(OutboundOptions {
        helo: hostname.to_string(),
        port: section.outbound_port,
        connect_timeout: section.outbound_connect_timeout.get(),
        timeout: section.outbound_timeout.get(),
        max_per_domain: section.outbound_max_per_domain,
        max_messages_per_connection: u32::try_from(section.outbound_max_messages_per_connection)
            .unwrap_or(u32::MAX),
        idle_timeout: section.outbound_idle_timeout.get(),
        dane: section.dane,
        mta_sts: section.mta_sts,
        mta_sts_port: section.mta_sts_port,
        mta_sts_cache_file: path(&section.mta_sts_cache_file),
        ca_file: path(&section.outbound_ca_file),
        resolver,
        dns_timeout: section.dns_timeout.get(),
        smarthost,
    })
}

/// `smtp_mta.dns_resolver` as an address (`None`: the system's resolver).
fn dns_resolver(
    section: &mailstack_config::SmtpMtaConfig,
) -> Result<Option<std::net::SocketAddr>, ServiceError> {
    if section.dns_resolver.is_empty() {
        return Ok(None);
    }
    section.dns_resolver.parse().map(Some).map_err(|_| {
        ServiceError::Setting(format!(
            "smtp_mta.dns_resolver: {:?} is not ip:port",
            section.dns_resolver
        ))
    })
}
