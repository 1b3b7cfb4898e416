//! Telemetry for every mailstack service: logging, Prometheus metrics and the
//! admin HTTP listener (`/healthz`, `/readyz`, `/metrics`).
//!
//! # What this crate does
//!
//! * [`init_logging`] installs one `tracing` subscriber that writes to
//!   **stderr**, as text or JSON ([`LogFormat`]), filtered by the
//!   `MAILSTACK_LOG` environment variable (default `info`, syntax of
//!   `tracing_subscriber::EnvFilter`, e.g. `info,mailstack_smtp=debug`).
//! * [`Metrics`] is a cloneable handle to one Prometheus registry per process.
//!   Services ask it for counters, gauges, histograms and labelled families
//!   by name; asking twice for the same name returns the same metric.
//! * [`Readiness`] holds named checks ("queue", "directory", ...) that the
//!   service sets; the process is ready when every check is true and it is
//!   not shutting down.
//! * [`bind_admin`] + [`serve_admin`] run the admin HTTP listener:
//!
//! | route          | answer                                                        |
//! |----------------|---------------------------------------------------------------|
//! | `GET /healthz` | `200 ok` while the process runs                               |
//! | `GET /readyz`  | `200 ready`, or `503` with one failing check per line         |
//! | `GET /metrics` | `200`, OpenMetrics text (`application/openmetrics-text`)      |
//! | anything else  | `404`                                                         |
//!
//! # Wiring in a service
//!
//! ```no_run
//! # async fn run() -> Result<(), mailstack_telemetry::TelemetryError> {
//! use mailstack_telemetry::{bind_admin, init_logging, serve_admin, LogFormat, Metrics, Readiness};
//!
//! init_logging(LogFormat::Text);
//! let metrics = Metrics::new();
//! let delivered = metrics.counter("mailstack_delivered", "Messages delivered");
//! let readiness = Readiness::new();
//! readiness.set("store", false);
//!
//! let admin = bind_admin("127.0.0.1:9024").await?;
//! let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
//! let admin_task = tokio::spawn(serve_admin(admin, metrics.clone(), readiness.clone(), async {
//!     let _ = admin_stopped.await;
//! }));
//!
//! readiness.set("store", true);
//! delivered.inc();
//! // ... run the protocol server; on SIGTERM:
//! readiness.set_shutting_down();
//! // ... wait for in-flight sessions, then stop the admin listener last:
//! let _ = stop_admin.send(());
//! let _ = admin_task.await;
//! # Ok(()) }
//! ```
//!
//! # What this crate must not do
//!
//! * It knows nothing about mail protocols, configuration files or other
//!   mailstack crates: it is a base crate and depends on none of them.
//! * It never writes logs to stdout (stdout belongs to tools such as
//!   `mailctl` that print results) and never installs a second subscriber.
//! * The admin listener serves only the three read-only routes above; it
//!   must not grow administrative actions (those belong to `mailctl`), and it
//!   should be bound to a loopback or internal address.

#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

mod admin;
mod error;
mod logging;
mod metrics;
mod readiness;
mod service;

pub use admin::{METRICS_CONTENT_TYPE, bind_admin, serve_admin, spawn_admin};
pub use error::TelemetryError;
pub use logging::{LOG_ENV, LogFormat, init_logging};
pub use metrics::{CounterFamily, GaugeFamily, HistogramBuckets, HistogramFamily, Labels, Metrics};
pub use readiness::Readiness;
pub use service::{ServiceArgs, counted_server, run_service};

/// Metric types returned by [`Metrics`], re-exported so that services do not
/// need their own `prometheus-client` dependency.
pub mod metric_types {
    pub use prometheus_client::metrics::counter::Counter;
    pub use prometheus_client::metrics::gauge::Gauge;
    pub use prometheus_client::metrics::histogram::{
        Histogram, exponential_buckets, linear_buckets,
    };
}
