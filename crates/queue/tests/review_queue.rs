//! Review findings in the queue (crates/queue/src/*).

mod common;

use std::time::Duration;

use common::*;
use mailstack_net::Shutdown;
use mailstack_queue::RetryPolicy;

/// Finding: when every remaining recipient of a message failed (5xx, or expired) and the DSN
/// cannot be enqueued, attempt.rs puts the failed recipients back to pending and sets
/// `next_attempt_ms = min(next_attempt_ms, now + min_backoff)`. `apply` did not touch
/// `next_attempt_ms` in that case (it returns early when nothing is pending), so the old value
/// (the arrival time, long past) wins: the message is retried at once, in a tight loop that
/// hammers the delivery agent and the disk for as long as the DSN cannot be written.
///
/// The DSN enqueue is made to fail by the transport double replacing the message file with a
/// directory (reading the original for the DSN then fails with EISDIR, while the lock and the
/// envelope rewrite still work) — a stand-in for any I/O error on the DSN path.
#[tokio::test]
async fn failed_dsn_enqueue_does_not_retry_in_a_tight_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(tmp.path());
    opts.retry = RetryPolicy {
        min_backoff: Duration::from_secs(3),
        max_backoff: Duration::from_secs(10),
        max_lifetime: Duration::from_secs(3600),
        warn_after: None,
    };
    let q = open(opts).await;
    let t = FakeTransport::new(|req| {
        if req.message_path.is_file() {
            std::fs::remove_file(&req.message_path).unwrap();
            std::fs::create_dir(&req.message_path).unwrap();
        }
        all(req, |_| failed())
    });
    let shutdown = Shutdown::new();
    let sched = q.start(t.clone(), shutdown.clone());
    q.enqueue(envelope("a@example.com", &["b@example.com"]), MESSAGE)
        .await
        .unwrap();
    wait_for("first attempt", || !t.calls().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let n = t.calls_from("a@example.com").len();
    shutdown.trigger();
    let _ = sched.await;
    assert!(
        n <= 2,
        "{n} delivery attempts within 1.5 s although min_backoff is 3 s: \
         retried without back-off after a failed DSN enqueue"
    );
}
