//! What every service binary does around its own work: parse `--config` and `--log-format`,
//! start logging, load and validate the config, turn SIGTERM/SIGINT into a [`Shutdown`], run
//! the service, and exit non-zero with one clear message when anything fails. The binaries'
//! `main.rs` stay a few lines of wiring.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use mailstack_config::Config;
use mailstack_net::Shutdown;

use crate::logging::{LogFormat, init_logging};

/// The command line every service binary shares.
#[derive(Debug, clap::Parser)]
#[command(version)]
pub struct ServiceArgs {
    /// The stack's config file.
    #[arg(long, env = "MAILSTACK_CONFIG", default_value = mailstack_config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Log format on stderr.
    #[arg(long, default_value = "text")]
    pub log_format: LogFormat,
}

/// Run the service `name` (`smtp-mta`, `lmtp-mda`, ...) with `run`, on a multi-threaded tokio
/// runtime, until it returns. Errors are printed as `name: what: why: cause` on stderr.
pub fn run_service<F, Fut, E>(name: &'static str, about: &'static str, run: F) -> ExitCode
where
    F: FnOnce(Config, Shutdown) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error,
{
    use clap::{CommandFactory, FromArgMatches};
    let matches = ServiceArgs::command().name(name).about(about).get_matches();
    let args = match ServiceArgs::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    init_logging(args.log_format);
    let config = match mailstack_config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: invalid configuration:\n{e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = mailstack_net::shutdown_on_signals();
        run(config, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("{name}: cannot run: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// A [`mailstack_net::Server`] over `listeners` with `max_connections` in total and
/// `max_connections_per_ip`, its open connections published as the gauge `gauge` (every
/// service shows them the same way).
pub fn counted_server(
    listeners: Vec<mailstack_net::Listener>,
    max_connections: usize,
    max_connections_per_ip: usize,
    metrics: &crate::Metrics,
    gauge: &str,
    help: &str,
) -> mailstack_net::Server {
    let server = mailstack_net::Server::new(
        listeners,
        mailstack_net::ServerLimits {
            max_connections,
            max_connections_per_ip,
        },
    );
    let stats = server.stats();
    metrics.gauge_fn(gauge, help, move || stats.active() as i64);
    server
}
