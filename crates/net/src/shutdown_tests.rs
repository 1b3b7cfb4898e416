use std::time::Duration;

use super::*;

#[tokio::test]
async fn trigger_is_seen_by_all_clones() {
    let a = Shutdown::new();
    let b = a.clone();
    assert!(!b.is_triggered());
    let waiter = tokio::spawn(async move { b.triggered().await });
    a.trigger();
    a.trigger();
    tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
    assert!(a.is_triggered());
    // Already triggered: completes at once.
    tokio::time::timeout(Duration::from_secs(5), a.triggered())
        .await
        .unwrap();
}

#[tokio::test]
async fn sigterm_triggers_shutdown() {
    let shutdown = shutdown_on_signals();
    // SAFETY-free way to signal ourselves: the `kill` tool from procps/coreutils.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(5), shutdown.triggered())
        .await
        .expect("SIGTERM triggers shutdown");
}
