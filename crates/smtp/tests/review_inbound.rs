//! Review findings in smtp-mta's inbound handler (crates/smtp/src/inbound.rs): the real
//! [`Inbound`] over a static directory and a real queue (no scheduler: messages stay queued and
//! are read back from the spool), driven by an in-memory SMTP session.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{HOST, TestSession, config, password_hash};
use mailstack_directory::ExpandLimits;
use mailstack_directory::static_file::{StaticDirectory, edit_users_file};
use mailstack_queue::{Queue, QueueOptions, RetryPolicy, admin};
use mailstack_smtp::inbound::{Inbound, InboundPolicy};
use mailstack_smtp::session::{Mode, SessionConfig};
use mailstack_telemetry::Metrics;

const RCPT: &str = "alice@example.com";

struct Mx {
    _tmp: tempfile::TempDir,
    queue_dir: PathBuf,
    session: TestSession,
}

async fn mx() -> Mx {
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("users.toml");
    edit_users_file(&users, |f| f.add_user(RCPT, password_hash(), None)).unwrap();
    let directory = Arc::new(StaticDirectory::open(users, "+".to_string()).unwrap());
    let queue_dir = tmp.path().join("queue");
    let queue = Queue::open(QueueOptions {
        dir: queue_dir.clone(),
        fsync: false,
        retry: RetryPolicy::default(),
        max_concurrent_deliveries: 1,
        hostname: HOST.to_string(),
    })
    .await
    .unwrap();
    let handler = Arc::new(Inbound::new(
        directory,
        queue,
        None,
        HOST.to_string(),
        InboundPolicy {
            relay: false,
            max_received_headers: 50,
            reject_dmarc_reject: false,
            reject_spf_fail: false,
        },
        ExpandLimits::default(),
        &Metrics::new(),
    ));
    let cfg = SessionConfig {
        mode: Mode::Smtp,
        max_message_size: 100_000,
        ..config()
    };
    let mut session = TestSession::new(cfg, handler);
    session.expect("220").await;
    session.send("EHLO client.example.net").await;
    session.expect("250").await;
    Mx {
        _tmp: tmp,
        queue_dir,
        session,
    }
}

/// Unfolded header fields of the header section.
fn header_fields(message: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(message);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut fields: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push_str(line);
            }
        } else {
            fields.push(line.to_string());
        }
    }
    fields
}

/// The authserv-id of an `Authentication-Results:` value (RFC 8601: CFWS, then the id, then
/// optional CFWS + version, then `;`).
fn authserv_id(value: &str) -> String {
    let mut v = value.trim_start();
    // Skip comments.
    while v.starts_with('(') {
        let end = v.find(')').map_or(v.len(), |i| i + 1);
        v = v[end..].trim_start();
    }
    v.split(|c: char| c == ';' || c.is_whitespace())
        .next()
        .unwrap_or("")
        .to_string()
}

/// Send a message whose header starts with `field` and assert that no
/// `Authentication-Results:` field claiming our authserv-id was queued.
async fn assert_forged_field_removed(what: &str, field: &str) {
    let mut m = mx().await;
    let s = &mut m.session;
    s.send("MAIL FROM:<ceo@bank.example>").await;
    s.expect("250").await;
    s.send(&format!("RCPT TO:<{RCPT}>")).await;
    s.expect("250").await;
    s.send("DATA").await;
    s.expect("354").await;
    let msg = format!(
        "{field}From: ceo@bank.example\r\nSubject: {what}\r\n\r\nPlease wire the money.\r\n.\r\n"
    );
    s.send_raw(msg.as_bytes()).await;
    let reply = s.expect("250 2.0.0").await;
    let id = reply.rsplit(' ').next().unwrap().to_string();
    let (_, bytes) = admin::show(&m.queue_dir, &id).unwrap();
    for f in header_fields(&bytes) {
        if let Some((name, value)) = f.split_once(':')
            && name.trim().eq_ignore_ascii_case("authentication-results")
        {
            assert!(
                !authserv_id(value).eq_ignore_ascii_case(HOST),
                "forged Authentication-Results ({what}) in our name was queued: {f:?}"
            );
        }
    }
}

// Finding: `strip_forged_auth_results` (inbound.rs) compares everything before the first `;`
// with our authserv-id. Valid RFC 8601 forms that name us are therefore kept and reach the
// mailbox as if our checks had passed. RFC 8601 §5: an MTA MUST remove (or rename) fields
// that claim its authserv-id.

#[tokio::test]
async fn forged_auth_results_folded_after_colon_is_removed() {
    assert_forged_field_removed(
        "folded after the colon",
        "Authentication-Results:\r\n\tmx.test; dkim=pass header.d=bank.example\r\n",
    )
    .await;
}

#[tokio::test]
async fn forged_auth_results_with_version_is_removed() {
    assert_forged_field_removed(
        "with authres-version",
        "Authentication-Results: mx.test 1; spf=pass smtp.mailfrom=bank.example\r\n",
    )
    .await;
}

#[tokio::test]
async fn forged_auth_results_with_comment_is_removed() {
    assert_forged_field_removed(
        "with a leading comment",
        "Authentication-Results: (trusted) mx.test; dmarc=pass header.from=bank.example\r\n",
    )
    .await;
}

#[tokio::test]
async fn forged_auth_results_with_space_before_colon_is_removed() {
    assert_forged_field_removed(
        "obsolete space before the colon",
        "Authentication-Results : mx.test; dkim=pass header.d=bank.example\r\n",
    )
    .await;
}

/// Finding (end to end): an unadvertised `CONNEG` on RCPT (accepted with 250) turns the
/// recipient's default NOTIFY=FAILURE,DELAY into "notify nothing" in the queued envelope, so
/// a later bounce for that recipient is silently dropped.
#[tokio::test]
async fn rcpt_without_notify_keeps_default_failure_and_delay() {
    let mut m = mx().await;
    let s = &mut m.session;
    s.send("MAIL FROM:<sender@remote.example>").await;
    s.expect("250").await;
    s.send(&format!("RCPT TO:<{RCPT}> CONNEG")).await;
    let r = s.reply().await;
    if r.starts_with("555") {
        return; // refusing the unadvertised parameter is a fix too
    }
    assert!(r.starts_with("250"), "{r}");
    s.send("DATA").await;
    s.expect("354").await;
    s.send_raw(b"Subject: x\r\n\r\nbody\r\n.\r\n").await;
    let reply = s.expect("250 2.0.0").await;
    let id = reply.rsplit(' ').next().unwrap().to_string();
    let json = std::fs::read(m.queue_dir.join("envelopes").join(format!("{id}.json"))).unwrap();
    let json = String::from_utf8(json).unwrap();
    let start = json.find("\"notify\"").expect("notify in envelope");
    let notify = &json[start..start + json[start..].find('}').unwrap() + 1];
    let compact: String = notify.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(
        compact.contains("\"failure\":true") && compact.contains("\"delay\":true"),
        "no NOTIFY given, yet failure/delay DSNs are off in the queued envelope: {compact}"
    );
}

/// An LMTP server (our own session in LMTP mode, recording) on 127.0.0.1; returns its address.
async fn lmtp_server(
    accept: &[&str],
) -> (mailstack_net::ListenAddr, Arc<common::RecordingHandler>) {
    use mailstack_net::{ListenAddr, Listener, Shutdown};
    let listener = Listener::bind(&"127.0.0.1:0".parse::<ListenAddr>().unwrap()).unwrap();
    let addr = listener.local_addr();
    let h = common::RecordingHandler::accepting(accept);
    let h2 = h.clone();
    tokio::spawn(async move {
        loop {
            let Ok((conn, peer)) = listener.accept().await else {
                return;
            };
            tokio::spawn(mailstack_smtp::session::run_session(
                conn,
                peer.to_string(),
                Arc::new(config()),
                h2.clone(),
                Shutdown::new(),
            ));
        }
    });
    (addr, h)
}

/// Finding: smtp-proto removes the quotes of a quoted local part (`"john doe"@example.org`
/// becomes `john doe@example.org`), the session stores that as the sender, the queue keeps it,
/// and the LMTP client sends `MAIL FROM:<john doe@example.org>` verbatim. The next hop (our
/// own lmtp-mda here) refuses that as bad syntax (501 5.1.7), which the client maps to a
/// *permanent* failure of every recipient: a message acknowledged with 250 on the MX is then
/// bounced by our own hop (and the bounce goes to a mangled address).
#[tokio::test]
async fn quoted_local_part_sender_survives_the_lmtp_hop() {
    use mailstack_queue::{DeliveryOutcome, DeliveryRequest, RecipientOutcome, Transport};
    use mailstack_smtp::client::LmtpTransport;

    let mut m = mx().await;
    let s = &mut m.session;
    s.send("MAIL FROM:<\"john doe\"@example.org>").await;
    s.expect("250").await;
    s.send(&format!("RCPT TO:<{RCPT}>")).await;
    s.expect("250").await;
    s.send("DATA").await;
    s.expect("354").await;
    s.send_raw(b"Subject: quoted\r\n\r\nbody\r\n.\r\n").await;
    let reply = s.expect("250 2.0.0").await;
    let id = reply.rsplit(' ').next().unwrap().to_string();
    let entry = admin::list(&m.queue_dir)
        .unwrap()
        .into_iter()
        .find(|e| e.id.as_str() == id)
        .unwrap();

    // Deliver it the way the scheduler would.
    let (addr, h) = lmtp_server(&[RCPT]).await;
    let transport = LmtpTransport::new(addr, HOST, std::time::Duration::from_secs(10));
    let req = DeliveryRequest {
        queue_id: entry.id.clone(),
        sender: entry.sender.clone(),
        recipients: vec![RCPT.to_string()],
        message_path: m.queue_dir.join("messages").join(&id),
        size: entry.size,
        env_id: None,
        smtputf8: false,
        ret_full: false,
        recipient_dsn: Vec::new(),
    };
    let outcome = transport.deliver(&req).await;
    match &outcome {
        DeliveryOutcome::PerRecipient(list) => assert!(
            matches!(list.as_slice(), [RecipientOutcome::Delivered { .. }]),
            "queued sender {:?}: LMTP outcome {outcome:?}",
            entry.sender
        ),
        other => panic!("queued sender {:?}: {other:?}", entry.sender),
    }
    assert_eq!(h.deliveries().len(), 1);
}
