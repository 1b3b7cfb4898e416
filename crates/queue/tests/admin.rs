//! `mailctl queue` operations on the spool while a scheduler runs.

mod common;

use std::time::Duration;

use common::*;
use mailstack_net::Shutdown;
use mailstack_queue::{QueueError, admin};

#[tokio::test]
async fn list_show_hold_release_delete_flush_while_the_scheduler_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let mut opts = options(&dir);
    opts.retry.min_backoff = Duration::from_secs(3600);
    opts.retry.max_backoff = Duration::from_secs(3600);
    let q = open(opts).await;
    let t = FakeTransport::new(|req| all(req, |_| deferred()));
    let shutdown = Shutdown::new();
    let sched = q.start(t.clone(), shutdown.clone());

    let a = q
        .enqueue(envelope("a@example.com", &["x@example.com"]), MESSAGE)
        .await
        .unwrap();
    let b = q
        .enqueue(envelope("b@example.com", &["y@example.com"]), MESSAGE)
        .await
        .unwrap();
    wait_for("both tried once", || {
        admin::list(&dir)
            .unwrap()
            .iter()
            .filter(|e| e.attempts == 1)
            .count()
            == 2
    })
    .await;

    // list and show
    let list = admin::list(&dir).unwrap();
    assert_eq!(
        list.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(list[0].sender, "a@example.com");
    assert_eq!(list[0].pending[0].address, "x@example.com");
    assert_eq!(
        list[0].pending[0].last_reply.as_deref(),
        Some("451 4.3.0 Try again later")
    );
    assert!(!list[0].held);
    assert!(list[0].next_attempt > std::time::SystemTime::now() + Duration::from_secs(3000));
    let (entry, bytes) = admin::show(&dir, a.as_str()).unwrap();
    assert_eq!(entry.id, a);
    assert_eq!(bytes, MESSAGE);

    // hold a, then flush: only b is tried again
    admin::hold(&dir, a.as_str()).unwrap();
    assert!(admin::list(&dir).unwrap()[0].held);
    // No wait needed: even if the scheduler dispatches a before its scan sees the hold, the
    // attempt re-reads the envelope under the message lock and skips a held message.
    admin::request_flush(&dir).unwrap();
    wait_for("b retried after flush", || {
        t.calls_from("b@example.com").len() == 2
    })
    .await;
    wait_for("flush request consumed", || !dir.join("flush").exists()).await;
    assert_eq!(
        t.calls_from("a@example.com").len(),
        1,
        "a held message is not delivered"
    );

    // release a: it becomes due at once and is tried
    admin::release(&dir, a.as_str()).unwrap();
    wait_for("a retried after release", || {
        t.calls_from("a@example.com").len() == 2
    })
    .await;

    // delete b: it vanishes and is never tried again
    admin::delete(&dir, b.as_str()).unwrap();
    assert_eq!(admin::list(&dir).unwrap().len(), 1);
    assert!(matches!(
        admin::show(&dir, b.as_str()),
        Err(QueueError::NotFound(_))
    ));
    assert!(matches!(
        admin::delete(&dir, b.as_str()),
        Err(QueueError::NotFound(_))
    ));
    admin::request_flush(&dir).unwrap();
    wait_for("a retried after second flush", || {
        t.calls_from("a@example.com").len() == 3
    })
    .await;
    assert_eq!(
        t.calls_from("b@example.com").len(),
        2,
        "deleted message not delivered"
    );
    assert!(!dir.join("messages").join(b.as_str()).exists());

    // now let a through
    t.set(|req| all(req, |_| delivered()));
    q.flush();
    wait_for("queue empty", || admin::list(&dir).unwrap().is_empty()).await;
    shutdown.trigger();
    sched.await.unwrap();
}

#[test]
fn admin_refuses_bad_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let err = admin::hold(tmp.path(), "../../etc/passwd").unwrap_err();
    assert!(matches!(err, QueueError::InvalidId(_)), "{err}");
    assert!(!err.is_temporary());
    assert!(
        admin::request_flush(tmp.path()).is_err(),
        "not a queue directory"
    );
}
