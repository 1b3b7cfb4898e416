//! Deferral with exponential back-off, agent failures backing off the transport.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use mailstack_net::Shutdown;
use mailstack_queue::{DeliveryOutcome, RetryPolicy, admin};

#[test]
fn backoff_formula() {
    let p = RetryPolicy::default();
    assert_eq!(p.min_backoff, Duration::from_secs(300));
    assert_eq!(p.backoff(1), Duration::from_secs(300));
    assert_eq!(p.backoff(2), Duration::from_secs(600));
    assert_eq!(p.backoff(3), Duration::from_secs(1200));
    assert_eq!(p.backoff(4), Duration::from_secs(2400));
    assert_eq!(
        p.backoff(5),
        Duration::from_secs(3600),
        "capped at max_backoff"
    );
    assert_eq!(p.backoff(500), Duration::from_secs(3600), "no overflow");
}

#[tokio::test]
async fn deferred_recipients_are_retried_and_only_they() {
    let tmp = tempfile::tempdir().unwrap();
    let q = open(options(tmp.path())).await; // min 50 ms, max 400 ms
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    // Attempt 1: b delivered, c deferred. Attempts 2, 3: c deferred. Attempt 4: c delivered.
    let t = FakeTransport::new(move |req| {
        let k = n2.fetch_add(1, Ordering::SeqCst);
        all(req, |r| {
            if r == "b@example.com" || k >= 3 {
                delivered()
            } else {
                deferred()
            }
        })
    });
    let shutdown = Shutdown::new();
    let sched = q.start(t.clone(), shutdown.clone());
    q.enqueue(
        envelope("a@example.com", &["b@example.com", "c@example.com"]),
        MESSAGE,
    )
    .await
    .unwrap();
    wait_for("four attempts and removal", || {
        t.calls().len() >= 4 && admin::list(tmp.path()).unwrap().is_empty()
    })
    .await;
    let calls = t.calls();
    assert_eq!(calls.len(), 4, "no attempt after everything was delivered");
    assert_eq!(
        calls[0].req.recipients,
        vec!["b@example.com", "c@example.com"]
    );
    for c in &calls[1..] {
        assert_eq!(
            c.req.recipients,
            vec!["c@example.com"],
            "delivered recipients are not repeated"
        );
    }
    assert!(
        t.dsns().is_empty(),
        "no DSN for deferrals before warn_after"
    );
    shutdown.trigger();
    sched.await.unwrap();
}

#[tokio::test]
async fn the_envelope_records_attempts_next_attempt_and_last_reply() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(tmp.path());
    opts.retry.min_backoff = Duration::from_secs(600);
    opts.retry.max_backoff = Duration::from_secs(3600);
    let q = open(opts).await;
    let t = FakeTransport::new(|req| all(req, |_| deferred()));
    let shutdown = Shutdown::new();
    let sched = q.start(t.clone(), shutdown.clone());
    let before = std::time::SystemTime::now();
    let id = q
        .enqueue(envelope("a@example.com", &["b@example.com"]), MESSAGE)
        .await
        .unwrap();
    wait_for("first attempt recorded", || {
        admin::list(tmp.path())
            .unwrap()
            .first()
            .is_some_and(|e| e.attempts == 1)
    })
    .await;
    let e = &admin::list(tmp.path()).unwrap()[0];
    assert_eq!(e.id, id);
    assert_eq!(
        e.pending[0].last_reply.as_deref(),
        Some("451 4.3.0 Try again later")
    );
    let wait = e.next_attempt.duration_since(before).unwrap();
    assert!(
        wait >= Duration::from_secs(599) && wait <= Duration::from_secs(660),
        "{wait:?}"
    );
    // flush makes it due at once
    q.flush();
    wait_for("second attempt after flush", || t.calls().len() == 2).await;
    shutdown.trigger();
    sched.await.unwrap();
}

#[tokio::test]
async fn agent_failure_backs_off_the_transport_then_delivers_after_recovery() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(tmp.path());
    opts.retry.min_backoff = Duration::from_millis(200);
    opts.retry.max_backoff = Duration::from_secs(3600);
    let q = open(opts).await;
    let t = FakeTransport::new(|_| DeliveryOutcome::AgentFailed {
        reason: "connect to 127.0.0.1:24: Connection refused".to_string(),
    });
    let shutdown = Shutdown::new();
    let sched = q.start(t.clone(), shutdown.clone());
    for i in 0..5 {
        q.enqueue(
            envelope("a@example.com", &[&format!("u{i}@example.com")]),
            MESSAGE,
        )
        .await
        .unwrap();
    }
    // Let the agent stay "down" for a while: the transport must not be hammered.
    let down = Instant::now();
    wait_for("several failed probes", || t.calls().len() >= 4).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let failures = t.calls().len();
    let elapsed = down.elapsed();
    // With back-off 10 ms→200 ms and one probe at a time, ~1 s allows only a handful of calls;
    // without back-off it would be hundreds.
    assert!(
        failures <= 20,
        "{failures} calls in {elapsed:?}: the transport was hammered"
    );
    let e = admin::list(tmp.path()).unwrap();
    assert_eq!(e.len(), 5);
    assert!(
        e.iter().all(|e| e.attempts == 0),
        "agent failures are not message attempts"
    );
    assert!(e.iter().any(|e| {
        e.pending[0]
            .last_reply
            .as_deref()
            .is_some_and(|r| r.contains("Connection refused"))
    }));

    // The agent comes back: everything is delivered soon after.
    t.set(|req| all(req, |_| delivered()));
    let back = Instant::now();
    wait_for("queue empty after recovery", || {
        admin::list(tmp.path()).unwrap().is_empty()
    })
    .await;
    assert!(
        back.elapsed() < Duration::from_secs(3),
        "delivery took {:?}",
        back.elapsed()
    );
    shutdown.trigger();
    sched.await.unwrap();
}

#[tokio::test]
async fn at_most_max_concurrent_deliveries_are_in_flight() {
    use async_trait::async_trait;
    use mailstack_queue::{DeliveryRequest, Transport};

    struct Slow {
        now: AtomicUsize,
        peak: AtomicUsize,
        done: AtomicUsize,
    }
    #[async_trait]
    impl Transport for Slow {
        async fn deliver(&self, req: &DeliveryRequest) -> DeliveryOutcome {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            self.done.fetch_add(1, Ordering::SeqCst);
            all(req, |_| delivered())
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(tmp.path());
    opts.max_concurrent_deliveries = 3;
    let q = open(opts).await;
    for i in 0..12 {
        q.enqueue(
            envelope("a@example.com", &[&format!("u{i}@example.com")]),
            MESSAGE,
        )
        .await
        .unwrap();
    }
    let t = Arc::new(Slow {
        now: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
    });
    let shutdown = Shutdown::new();
    let sched = q.start(t.clone(), shutdown.clone());
    wait_for("all delivered", || t.done.load(Ordering::SeqCst) == 12).await;
    assert_eq!(t.peak.load(Ordering::SeqCst), 3);
    shutdown.trigger();
    sched.await.unwrap();
}
