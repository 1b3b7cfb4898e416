//! Delivery status notifications: bounces, delay warnings, expiry, never for `<>`.

mod common;

use std::time::Duration;

use common::*;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use mailstack_net::Shutdown;
use mailstack_queue::{Notify, RecipientOutcome, RecipientSpec, admin};

/// The three parts of a DSN: (content type of the whole, human text, delivery-status text,
/// returned part's content type, returned part's body).
struct Dsn {
    top: String,
    report_type: Option<String>,
    from: String,
    auto_submitted: String,
    status: String,
    returned_type: String,
    returned: Vec<u8>,
}

fn parse_dsn(bytes: &[u8]) -> Dsn {
    let msg = MessageParser::default().parse(bytes).expect("DSN parses");
    let ct = msg.content_type().expect("content type");
    let top = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""));
    let report_type = ct.attribute("report-type").map(str::to_string);
    let from = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or("")
        .to_string();
    let auto_submitted = msg
        .header_raw("Auto-Submitted")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    assert_eq!(
        msg.parts.len(),
        4,
        "root + three parts: {:?}",
        String::from_utf8_lossy(bytes)
    );
    let part_type = |i: usize| {
        let ct = msg.parts[i].content_type().expect("part content type");
        format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""))
    };
    assert_eq!(part_type(1), "text/plain");
    assert_eq!(part_type(2), "message/delivery-status");
    let status = match &msg.parts[2].body {
        PartType::Text(t) => t.to_string(),
        PartType::Binary(b) | PartType::InlineBinary(b) => String::from_utf8_lossy(b).to_string(),
        other => panic!("unexpected delivery-status body {other:?}"),
    };
    let returned = match &msg.parts[3].body {
        PartType::Text(t) => t.as_bytes().to_vec(),
        PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
        PartType::Message(m) => m.raw_message().to_vec(),
        other => panic!("unexpected returned part {other:?}"),
    };
    Dsn {
        top,
        report_type,
        from,
        auto_submitted,
        status,
        returned_type: part_type(3),
        returned,
    }
}

#[tokio::test]
async fn a_permanent_failure_bounces_with_a_dsn_to_the_sender() {
    let tmp = tempfile::tempdir().unwrap();
    let q = open(options(tmp.path())).await;
    let t = FakeTransport::new(|req| {
        all(req, |r| {
            if r == "bad@example.com" {
                failed()
            } else {
                delivered()
            }
        })
    });
    let shutdown = Shutdown::new();
    let sched = q.start(t.clone(), shutdown.clone());
    let mut env = envelope(
        "sender@example.org",
        &["good@example.com", "bad@example.com"],
    );
    env.env_id = Some("ENV-42".to_string());
    env.recipients[1].orcpt = Some("rfc822;Bad@Example.com".to_string());
    let id = q.enqueue(env, MESSAGE).await.unwrap();

    wait_for("DSN delivered and queue empty", || {
        t.dsns().len() == 1 && admin::list(tmp.path()).unwrap().is_empty()
    })
    .await;
    let dsn = &t.dsns()[0];
    assert_eq!(dsn.req.sender, "", "DSNs have the null sender");
    assert_eq!(dsn.req.recipients, vec!["sender@example.org"]);
    let d = parse_dsn(&dsn.message);
    assert_eq!(d.top, "multipart/report");
    assert_eq!(d.report_type.as_deref(), Some("delivery-status"));
    assert_eq!(d.from, format!("MAILER-DAEMON@{HOST}"));
    assert_eq!(d.auto_submitted, "auto-replied");
    let s = &d.status;
    assert!(s.contains(&format!("Reporting-MTA: dns; {HOST}")), "{s}");
    assert!(s.contains("Original-Envelope-Id: ENV-42"), "{s}");
    assert!(
        s.contains("Final-Recipient: rfc822; bad@example.com"),
        "{s}"
    );
    assert!(
        s.contains("Original-Recipient: rfc822;Bad@Example.com"),
        "{s}"
    );
    assert!(s.contains("Action: failed"), "{s}");
    assert!(s.contains("Status: 5.1.1"), "{s}");
    assert!(
        s.contains("Diagnostic-Code: smtp; 550 5.1.1 <x> User unknown"),
        "{s}"
    );
    assert!(
        !s.contains("good@example.com"),
        "delivered recipients are not reported: {s}"
    );
    assert!(
        s.contains(id.as_str()),
        "the queue id is in the report: {s}"
    );
    assert_eq!(d.returned_type, "text/rfc822-headers");
    let returned = String::from_utf8_lossy(&d.returned);
    assert!(returned.contains("Subject: hello"), "{returned}");
    assert!(
        !returned.contains("Body line"),
        "only headers without RET=FULL: {returned}"
    );
    assert_eq!(q.stats().dsns, 1);
    shutdown.trigger();
    sched.await.unwrap();
}

#[tokio::test]
async fn ret_full_returns_the_whole_message() {
    let tmp = tempfile::tempdir().unwrap();
    let q = open(options(tmp.path())).await;
    let t = FakeTransport::new(|req| {
        if req.sender.is_empty() {
            all(req, |_| delivered())
        } else {
            all(req, |_| failed())
        }
    });
    let shutdown = Shutdown::new();
    let sched = q.start(t.clone(), shutdown.clone());
    let mut env = envelope("sender@example.org", &["bad@example.com"]);
    env.ret_full = true;
    q.enqueue(env, MESSAGE).await.unwrap();
    wait_for("DSN delivered", || t.dsns().len() == 1).await;
    let d = parse_dsn(&t.dsns()[0].message);
    assert_eq!(d.returned_type, "message/rfc822");
    assert!(String::from_utf8_lossy(&d.returned).contains("Body line"));
    shutdown.trigger();
    sched.await.unwrap();
}

#[tokio::test]
async fn no_dsn_for_the_null_sender_or_notify_never() {
    let tmp = tempfile::tempdir().unwrap();
    let q = open(options(tmp.path())).await;
    let t = FakeTransport::new(|req| all(req, |_| failed()));
    let shutdown = Shutdown::new();
    let sched = q.start(t.clone(), shutdown.clone());
    q.enqueue(envelope("", &["bad@example.com"]), MESSAGE)
        .await
        .unwrap();
    let mut env = envelope("sender@example.org", &["bad@example.com"]);
    env.recipients[0] = RecipientSpec {
        notify: Notify::NEVER,
        ..RecipientSpec::new("bad@example.com")
    };
    q.enqueue(env, MESSAGE).await.unwrap();
    wait_for("both bounced and removed", || {
        t.calls().len() >= 2 && admin::list(tmp.path()).unwrap().is_empty()
    })
    .await;
    assert_eq!(t.calls().len(), 2, "no DSN was delivered");
    assert_eq!(q.stats().dsns, 0);
    assert_eq!(q.stats().enqueued, 2);
    shutdown.trigger();
    sched.await.unwrap();
}

#[tokio::test]
async fn one_delay_warning_after_warn_after() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(tmp.path());
    opts.retry.min_backoff = Duration::from_millis(20);
    opts.retry.max_backoff = Duration::from_millis(20);
    opts.retry.warn_after = Some(Duration::from_millis(100));
    let q = open(opts).await;
    let t = FakeTransport::new(|req| {
        if req.sender.is_empty() {
            all(req, |_| delivered())
        } else {
            all(req, |_| deferred())
        }
    });
    let shutdown = Shutdown::new();
    let sched = q.start(t.clone(), shutdown.clone());
    q.enqueue(
        envelope("sender@example.org", &["slow@example.com"]),
        MESSAGE,
    )
    .await
    .unwrap();
    wait_for("delay DSN", || t.dsns().len() == 1).await;
    // Keep retrying for a while: still exactly one warning.
    let attempts = t.calls_from("sender@example.org").len();
    wait_for("more attempts", || {
        t.calls_from("sender@example.org").len() >= attempts + 3
    })
    .await;
    assert_eq!(t.dsns().len(), 1, "the delay warning is sent once");
    let d = parse_dsn(&t.dsns()[0].message);
    assert!(d.status.contains("Action: delayed"), "{}", d.status);
    assert!(d.status.contains("Status: 4.3.0"), "{}", d.status);
    assert!(d.status.contains("Will-Retry-Until:"), "{}", d.status);
    assert!(
        d.status
            .contains("Diagnostic-Code: smtp; 451 4.3.0 Try again later"),
        "{}",
        d.status
    );
    assert_eq!(
        admin::list(tmp.path()).unwrap().len(),
        1,
        "the message is still queued"
    );
    shutdown.trigger();
    sched.await.unwrap();
}

#[tokio::test]
async fn max_lifetime_bounces_pending_recipients() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(tmp.path());
    opts.retry.min_backoff = Duration::from_millis(20);
    opts.retry.max_backoff = Duration::from_millis(20);
    opts.retry.max_lifetime = Duration::from_millis(150);
    let q = open(opts).await;
    let t = FakeTransport::new(|req| {
        if req.sender.is_empty() {
            all(req, |_| delivered())
        } else {
            all(req, |r| {
                if r == "ok@example.com" {
                    delivered()
                } else {
                    RecipientOutcome::Deferred {
                        reply: "452 4.2.2 Mailbox full".to_string(),
                    }
                }
            })
        }
    });
    let shutdown = Shutdown::new();
    let sched = q.start(t.clone(), shutdown.clone());
    q.enqueue(
        envelope(
            "sender@example.org",
            &["ok@example.com", "full@example.com"],
        ),
        MESSAGE,
    )
    .await
    .unwrap();
    wait_for("bounce delivered, queue empty", || {
        t.dsns().len() == 1 && admin::list(tmp.path()).unwrap().is_empty()
    })
    .await;
    let d = parse_dsn(&t.dsns()[0].message);
    assert!(
        d.status
            .contains("Final-Recipient: rfc822; full@example.com"),
        "{}",
        d.status
    );
    assert!(d.status.contains("Action: failed"), "{}", d.status);
    assert!(d.status.contains("Status: 4.4.7"), "{}", d.status);
    assert!(
        d.status
            .contains("Diagnostic-Code: smtp; 452 4.2.2 Mailbox full"),
        "{}",
        d.status
    );
    assert!(!d.status.contains("ok@example.com"), "{}", d.status);
    shutdown.trigger();
    sched.await.unwrap();
}
