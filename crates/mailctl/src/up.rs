//! `mailctl up`: every service of the stack in this one process, with the embedded defaults:
//! config, users file, store and a self-signed certificate under `./var`, dev ports. For a first
//! try and for development; production runs each binary on its own (or in its container).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use mailstack_config::Config;

use crate::cli::UpArgs;

/// The embedded defaults (config/mailstack-dev.toml) with paths under `dir`.
fn dev_config(dir: &Path) -> String {
    include_str!("../../../config/mailstack-dev.toml").replace("@DIR@", &dir.display().to_string())
}

pub(crate) fn run(
    config_path: &Path,
    args: UpArgs,
    log_format: mailstack_telemetry::LogFormat,
) -> anyhow::Result<ExitCode> {
    mailstack_telemetry::init_logging(log_format);
    let dir = std::path::absolute(&args.dir).context("cannot resolve the data directory")?;
    std::fs::create_dir_all(dir.join("run"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    // `--config` given explicitly wins; otherwise use (and on first start write) var/mailstack.toml.
    let path = if config_path.exists() && config_path != Path::new(mailstack_config::DEFAULT_PATH) {
        config_path.to_path_buf()
    } else {
        let p = dir.join("mailstack.toml");
        if !p.exists() {
            std::fs::write(&p, dev_config(&dir))
                .with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!("wrote {}", p.display());
        }
        p
    };
    let config = crate::config_cmd::load(&path)?;
    prepare(&config)?;
    print_banner(&config, &path);

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let shutdown = mailstack_net::shutdown_on_signals();
        // Each service runs until shutdown; a service that cannot start stops the others, so
        // the problem is seen at once (in production each runs on its own).
        let stop_all = |r: anyhow::Result<()>| {
            if r.is_err() {
                shutdown.trigger();
            }
            r
        };
        let (lmtp, mta, imap, submission, web) = tokio::join!(
            async {
                let r = mailstack_smtp::service::run_lmtp(&config, shutdown.clone()).await;
                stop_all(r.context("lmtp-mda"))
            },
            async {
                let r = mailstack_smtp::service::run_smtp_mta(&config, shutdown.clone()).await;
                stop_all(r.context("smtp-mta"))
            },
            async {
                let shared = match mailstack_imap::service::Shared::open(&config).await {
                    Ok(s) => s,
                    Err(e) => return stop_all(Err(anyhow::Error::new(e).context("imap-server"))),
                };
                let sieve = mailstack_managesieve::service::Shared {
                    directory: shared.directory.clone(),
                    store: shared.store.clone(),
                    metrics: shared.metrics.clone(),
                    readiness: shared.readiness.clone(),
                    throttle: shared.throttle.clone(),
                };
                let (imap, managesieve) = tokio::join!(
                    async {
                        let r = mailstack_imap::service::run_imap_with(
                            &config,
                            shutdown.clone(),
                            shared,
                        )
                        .await;
                        stop_all(r.context("imap-server"))
                    },
                    async {
                        let r = mailstack_managesieve::service::run_managesieve(
                            &config,
                            shutdown.clone(),
                            sieve,
                        )
                        .await;
                        stop_all(r.context("managesieve"))
                    },
                );
                imap.and(managesieve)
            },
            async {
                let r = mailstack_smtp::service::run_submission(&config, shutdown.clone()).await;
                stop_all(r.context("submission"))
            },
            async {
                let r = mailstack_web::run_web(&config, shutdown.clone()).await;
                stop_all(r.context("web"))
            },
        );
        lmtp.and(mta).and(imap).and(submission).and(web)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// First start: the users file (empty, with its header) and the self-signed certificate.
fn prepare(config: &Config) -> anyhow::Result<()> {
    let users = Path::new(&config.directory.users_file);
    if config.directory.backend == "static" && !users.exists() {
        mailstack_directory::static_file::edit_users_file(users, |_| Ok(()))?;
    }
    let (cert, key) = (
        Path::new(&config.tls.cert_file),
        Path::new(&config.tls.key_file),
    );
    if config.tls.generate_self_signed && config.tls.acme_file.is_empty() {
        let mut names = vec![config.hostname()];
        if names[0] != "localhost" {
            names.push("localhost".to_string());
        }
        if mailstack_net::ensure_self_signed(&names, cert, key)? {
            eprintln!("generated a self-signed certificate: {}", cert.display());
        }
    }
    // Load it once now: an unreadable or mismatched certificate stops start-up here, with the
    // file named, rather than at the first STARTTLS.
    mailstack_net::ReloadingTlsAcceptor::from_config(&config.tls, &config.hostname())
        .context("TLS certificate ([tls] cert_file, key_file or acme_file)")?;
    Ok(())
}

fn print_banner(config: &Config, path: &Path) {
    println!("mailstack is starting (config {})", path.display());
    println!(
        "  smtp-mta   SMTP on {}   relay {}   admin http://{}/readyz",
        config.smtp_mta.listen.join(", "),
        config.smtp_mta.relay_listen.join(", "),
        config.smtp_mta.admin_listen
    );
    println!(
        "  lmtp-mda   LMTP on {}   admin http://{}/readyz",
        config.lmtp_mda.listen.join(", "),
        config.lmtp_mda.admin_listen
    );
    println!(
        "  imap       IMAP on {} (STARTTLS), {} (TLS)   admin http://{}/readyz",
        config.imap.listen.join(", "),
        config.imap.tls_listen.join(", "),
        config.imap.admin_listen
    );
    println!(
        "  sieve      ManageSieve on {} (STARTTLS)",
        config.managesieve.listen.join(", ")
    );
    println!(
        "  submission SMTP AUTH on {} (STARTTLS), {} (TLS)   admin http://{}/readyz",
        config.submission.listen.join(", "),
        config.submission.tls_listen.join(", "),
        config.submission.admin_listen
    );
    println!(
        "  web        autoconfig, autodiscover, MTA-STS policy on http://{}",
        config.web.listen.join(", http://")
    );
    println!("  DKIM keys  {}", config.submission.dkim_dir);
    println!("  mail store {}", config.store.root);
    println!("  queue      {}", config.queue.dir);
    println!("  users      {}", config.directory.users_file);
    println!();
    println!("Add a user:   mailctl user add alice@example.com");
    println!("Send a mail:  swaks --server 127.0.0.1:2525 --to alice@example.com");
    println!(
        "Send as a user: swaks --server 127.0.0.1:2587 --tls --auth-user alice@example.com --from alice@example.com --to bob@example.com"
    );
    println!("Read it:      mutt -f imaps://alice@example.com@127.0.0.1:1993/INBOX");
    println!("Queue:        mailctl queue list");
    println!("Stop:         Ctrl-C");
}
