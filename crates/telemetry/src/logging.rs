//! Process-wide `tracing` subscriber writing to stderr.

use std::fmt;
use std::str::FromStr;
use std::sync::Once;

use tracing_subscriber::EnvFilter;

/// The environment variable holding the log filter (`EnvFilter` syntax).
pub const LOG_ENV: &str = "MAILSTACK_LOG";

/// Filter used when [`LOG_ENV`] is unset or empty.
const DEFAULT_FILTER: &str = "info";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (`--log-format text`, the default).
    #[default]
    Text,
    /// One JSON object per line (`--log-format json`), for log shippers.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    /// Parses `text` or `json`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("text") {
            Ok(Self::Text)
        } else if s.eq_ignore_ascii_case("json") {
            Ok(Self::Json)
        } else {
            Err(format!(
                "unknown log format {s:?}: expected \"text\" or \"json\""
            ))
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::Json => "json",
        })
    }
}

static INIT: Once = Once::new();

/// Installs the global `tracing` subscriber: stderr, `format`, filter from
/// `MAILSTACK_LOG` (default `info`).
///
/// Idempotent: only the first call in a process has an effect, later calls
/// (for example from several tests) do nothing. If another global subscriber
/// was installed by someone else, that one stays. An invalid `MAILSTACK_LOG`
/// falls back to `info` and logs a warning explaining why.
pub fn init_logging(format: LogFormat) {
    INIT.call_once(|| {
        let (filter, bad_filter) = build_filter(std::env::var(LOG_ENV).ok().as_deref());
        let builder = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            // Colours only for a person at a terminal, never into files or journald.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_env_filter(filter);
        let installed = match format {
            LogFormat::Text => builder.try_init().is_ok(),
            LogFormat::Json => builder.json().try_init().is_ok(),
        };
        if let (true, Some(reason)) = (installed, bad_filter) {
            tracing::warn!("ignoring invalid {LOG_ENV}: {reason}; using \"{DEFAULT_FILTER}\"");
        }
    });
}

/// Builds the filter from the variable's value; returns the reason when the
/// value was invalid and the default was used instead.
fn build_filter(value: Option<&str>) -> (EnvFilter, Option<String>) {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => (EnvFilter::new(DEFAULT_FILTER), None),
        Some(directives) => match EnvFilter::try_new(directives) {
            Ok(filter) => (filter, None),
            Err(err) => (
                EnvFilter::new(DEFAULT_FILTER),
                Some(format!("{directives:?}: {err}")),
            ),
        },
    }
}

#[cfg(test)]
#[path = "logging_tests.rs"]
mod tests;
