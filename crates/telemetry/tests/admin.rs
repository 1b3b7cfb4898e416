//! The admin HTTP listener spoken to over a plain TCP stream.

mod common;

use common::Admin;
use mailstack_telemetry::{METRICS_CONTENT_TYPE, TelemetryError, bind_admin};

#[tokio::test]
async fn healthz_answers_ok() {
    let admin = Admin::start().await;
    let reply = admin.get("/healthz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "ok\n");
    admin.stop().await;
}

#[tokio::test]
async fn readyz_follows_checks_and_shutdown() {
    let admin = Admin::start().await;
    assert_eq!(admin.get("/readyz").await.status, 200, "no checks: ready");

    admin.readiness.set("store", false);
    admin.readiness.set("directory", true);
    let reply = admin.get("/readyz").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.body, "not ready:\nstore\n");

    admin.readiness.set("store", true);
    let reply = admin.get("/readyz").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ready\n"));

    admin.readiness.set_shutting_down();
    let reply = admin.get("/readyz").await;
    assert_eq!(reply.status, 503);
    assert!(reply.body.contains("shutting down"), "{}", reply.body);
    // Still alive while draining.
    assert_eq!(admin.get("/healthz").await.status, 200);
    admin.stop().await;
}

#[tokio::test]
async fn metrics_show_incremented_counter() {
    let admin = Admin::start().await;
    let counter = admin
        .metrics
        .counter("mailstack_test_messages", "Messages seen by the test");
    counter.inc_by(5);
    let reply = admin.get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some(METRICS_CONTENT_TYPE));
    assert!(
        reply.body.contains("mailstack_test_messages_total 5"),
        "{}",
        reply.body
    );
    assert!(
        reply
            .body
            .contains("# TYPE mailstack_test_messages counter"),
        "{}",
        reply.body
    );

    counter.inc();
    let reply = admin.get("/metrics").await;
    assert!(
        reply.body.contains("mailstack_test_messages_total 6"),
        "{}",
        reply.body
    );
    admin.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_are_rejected() {
    let admin = Admin::start().await;
    assert_eq!(admin.get("/").await.status, 404);
    assert_eq!(admin.get("/admin/delete-everything").await.status, 404);
    assert_eq!(admin.request("POST", "/healthz").await.status, 405);
    admin.stop().await;
}

#[tokio::test]
async fn port_in_use_error_names_address_and_cause() {
    let taken = bind_admin("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = bind_admin(&addr).await.unwrap_err();
    assert!(matches!(err, TelemetryError::Listen { .. }));
    assert_eq!(
        err.to_string(),
        format!("cannot listen on {addr} (admin HTTP): address already in use")
    );

    let err = bind_admin("no-port-here").await.unwrap_err();
    assert!(
        matches!(err, TelemetryError::InvalidAddress { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn stop_returns_after_shutdown_future() {
    let admin = Admin::start().await;
    let addr = admin.addr;
    admin.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed after stop"
    );
}
