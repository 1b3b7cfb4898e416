//! The admin HTTP listener: `/healthz`, `/readyz`, `/metrics`.

use std::future::Future;
use std::io;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::error::TelemetryError;
use crate::{Metrics, Readiness};

/// `Content-Type` of `/metrics` (OpenMetrics text, which Prometheus scrapes natively).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds the admin listener on `addr` (`host:port`; a host name is resolved).
///
/// Errors say which address and why, e.g. `cannot listen on 127.0.0.1:9024
/// (admin HTTP): address already in use`.
pub async fn bind_admin(addr: &str) -> Result<TcpListener, TelemetryError> {
    TcpListener::bind(addr).await.map_err(|source| {
        if source.kind() == io::ErrorKind::InvalidInput {
            TelemetryError::InvalidAddress {
                addr: addr.to_owned(),
                reason: "expected host:port, e.g. 127.0.0.1:9024".to_owned(),
            }
        } else {
            TelemetryError::Listen {
                addr: addr.to_owned(),
                source,
            }
        }
    })
}

#[derive(Clone)]
struct AdminState {
    metrics: Metrics,
    readiness: Readiness,
}

/// Serves the admin routes on `listener` until `shutdown` completes, then
/// finishes the requests in flight and returns.
///
/// Stop it *after* the protocol listeners have drained, so that `/readyz`
/// keeps answering 503 ("shutting down") and `/healthz` 200 during the grace
/// period. Errors of individual connections are handled inside; a failure of
/// the listener itself is logged.
pub async fn serve_admin(
    listener: TcpListener,
    metrics: Metrics,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let local = listener.local_addr().ok();
    let app = router(AdminState { metrics, readiness });
    tracing::info!(addr = ?local, "admin HTTP listener started");
    if let Err(err) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(addr = ?local, "admin HTTP listener failed: {err}");
    }
}

fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let failing = state.readiness.failing();
    if failing.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let mut body = String::from("not ready:\n");
        for reason in failing {
            body.push_str(&reason);
            body.push('\n');
        }
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

async fn metrics(State(state): State<AdminState>) -> Response {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        state.metrics.encode(),
    )
        .into_response()
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found\n")
}

/// Start the admin endpoint for a service; it keeps answering while the protocol listeners
/// drain and stops when the returned token is triggered. Readiness turns false as soon as
/// `shutdown` triggers, so a load balancer stops sending clients at once.
pub fn spawn_admin(
    admin: tokio::net::TcpListener,
    metrics: crate::Metrics,
    readiness: crate::Readiness,
    shutdown: &mailstack_net::Shutdown,
) -> (mailstack_net::Shutdown, tokio::task::JoinHandle<()>) {
    let admin_stop = mailstack_net::Shutdown::new();
    let task = {
        let stop = admin_stop.clone();
        tokio::spawn(serve_admin(admin, metrics, readiness.clone(), async move {
            stop.triggered().await
        }))
    };
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        shutdown.triggered().await;
        tracing::info!("shutting down: finishing transactions in progress");
        readiness.set_shutting_down();
    });
    (admin_stop, task)
}
