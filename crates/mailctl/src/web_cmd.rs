//! `mailctl web`: run the autoconfig / autodiscover / MTA-STS web service
//! ([`mailstack_web`]) in the foreground until SIGTERM or Ctrl-C.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

pub(crate) fn run(
    config_path: &Path,
    log_format: mailstack_telemetry::LogFormat,
) -> anyhow::Result<ExitCode> {
    mailstack_telemetry::init_logging(log_format);
    let config = crate::config_cmd::load(config_path)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let shutdown = mailstack_net::shutdown_on_signals();
        mailstack_web::run_web(&config, shutdown).await
    })
    .context("web")?;
    Ok(ExitCode::SUCCESS)
}
