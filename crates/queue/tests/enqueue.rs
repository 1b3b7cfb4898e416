//! Enqueue durability, group commit, crash recovery.

mod common;

use common::*;
use mailstack_net::Shutdown;
use mailstack_queue::{QueueError, admin};

#[tokio::test]
async fn enqueue_is_durable_in_the_documented_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let q = open(options(tmp.path())).await;
    let id = q
        .enqueue(envelope("a@example.com", &["b@example.com"]), MESSAGE)
        .await
        .unwrap();

    let msg = tmp.path().join("messages").join(id.as_str());
    assert_eq!(std::fs::read(&msg).unwrap(), MESSAGE);
    let env = tmp.path().join("envelopes").join(format!("{id}.json"));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&env).unwrap()).unwrap();
    assert_eq!(json["sender"], "a@example.com");
    assert_eq!(json["recipients"][0]["address"], "b@example.com");
    assert_eq!(json["recipients"][0]["state"], "pending");
    assert_eq!(json["size"], MESSAGE.len());
    assert!(
        files(&tmp.path().join("tmp")).is_empty(),
        "tmp/ must be empty after commit"
    );

    let stats = q.stats();
    assert_eq!(stats.enqueued, 1);
    assert_eq!(stats.file_fsyncs, 2, "message and envelope fsynced");
    assert_eq!(stats.dir_fsyncs, 2, "messages/ and envelopes/ fsynced");

    let list = admin::list(tmp.path()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, id);
    assert_eq!(list[0].size, MESSAGE.len() as u64);
}

#[tokio::test]
async fn enqueue_from_a_file_copies_it_from_the_start() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let q = open(options(tmp.path())).await;
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(MESSAGE).unwrap(); // position is at the end now
    let id = q
        .enqueue(envelope("a@example.com", &["b@example.com"]), f)
        .await
        .unwrap();
    let (entry, bytes) = admin::show(tmp.path(), id.as_str()).unwrap();
    assert_eq!(bytes, MESSAGE);
    assert_eq!(entry.size, MESSAGE.len() as u64);
}

#[tokio::test]
async fn invalid_envelopes_are_refused_permanently() {
    let tmp = tempfile::tempdir().unwrap();
    let q = open(options(tmp.path())).await;
    let err = q
        .enqueue(envelope("a@example.com", &[]), MESSAGE)
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::InvalidEnvelope(_)), "{err}");
    assert!(!err.is_temporary());
    let err = q
        .enqueue(envelope("a@example.com", &["b@x>\r\nRCPT"]), MESSAGE)
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::InvalidEnvelope(_)), "{err}");
    assert!(files(&tmp.path().join("messages")).is_empty());
    assert!(files(&tmp.path().join("tmp")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_enqueues_share_directory_fsyncs() {
    let tmp = tempfile::tempdir().unwrap();
    let q = open(options(tmp.path())).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!("Subject: {i}\r\n\r\nmessage {i}\r\n");
            q.enqueue(
                envelope("a@example.com", &["b@example.com"]),
                body.as_bytes(),
            )
            .await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50, "ids are unique");
    let stats = q.stats();
    assert_eq!(stats.enqueued, 50);
    assert_eq!(stats.file_fsyncs, 100, "every file is fsynced");
    assert!(
        stats.dir_fsyncs < 50,
        "group commit: {} directory fsyncs in {} batches for 50 enqueues",
        stats.dir_fsyncs,
        stats.commit_batches
    );
    assert_eq!(stats.dir_fsyncs, 2 * stats.commit_batches);
    assert_eq!(admin::list(tmp.path()).unwrap().len(), 50);
}

#[tokio::test]
async fn a_queue_reopened_after_a_crash_delivers_what_was_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let id = {
        let q = open(options(tmp.path())).await;
        q.enqueue(
            envelope("a@example.com", &["b@example.com", "c@example.com"]),
            MESSAGE,
        )
        .await
        .unwrap()
        // dropped without ever starting a scheduler: the "crash"
    };
    // Leftovers of an enqueue that was never acknowledged.
    std::fs::write(tmp.path().join("tmp").join("ZZZ.msg"), b"partial").unwrap();
    std::fs::write(tmp.path().join("tmp").join("ZZZ.json"), b"{").unwrap();
    std::fs::write(tmp.path().join("messages").join("ORPHAN"), b"no envelope").unwrap();

    let q = open(options(tmp.path())).await;
    assert!(
        files(&tmp.path().join("tmp")).is_empty(),
        "incomplete files discarded"
    );
    assert_eq!(
        files(&tmp.path().join("messages")),
        vec![id.to_string()],
        "orphan message discarded"
    );

    let t = FakeTransport::delivering();
    let shutdown = Shutdown::new();
    let sched = q.start(t.clone(), shutdown.clone());
    wait_for("message delivered and removed", || {
        admin::list(tmp.path()).unwrap().is_empty()
    })
    .await;
    let calls = t.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].req.queue_id, id);
    assert_eq!(
        calls[0].req.recipients,
        vec!["b@example.com", "c@example.com"]
    );
    assert_eq!(calls[0].req.sender, "a@example.com");
    assert_eq!(calls[0].req.size, MESSAGE.len() as u64);
    assert_eq!(calls[0].message, MESSAGE);
    assert!(files(&tmp.path().join("messages")).is_empty());
    shutdown.trigger();
    sched.await.unwrap();
}
