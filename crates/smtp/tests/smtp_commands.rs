//! The SMTP modes of the session (smtp-mta's MX and relay listeners), in memory: greeting,
//! EHLO capabilities, HELO, ordering, BDAT (RFC 3030), DSN parameters, junk-command limit.

mod common;

use common::{HOST, RecordingHandler, TestSession, config};
use mailstack_smtp::data::BareNewlines;
use mailstack_smtp::session::{Ending, Mode, SessionConfig};

const RCPT: &str = "b@example.com";

fn smtp() -> SessionConfig {
    SessionConfig {
        mode: Mode::Smtp,
        ..config()
    }
}

async fn ehlo(cfg: SessionConfig) -> (TestSession, std::sync::Arc<RecordingHandler>) {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::new(cfg, h.clone());
    s.expect(&format!("220 {HOST} ESMTP")).await;
    s.send("EHLO client.test").await;
    s.expect("250-").await;
    (s, h)
}

#[tokio::test]
async fn ehlo_lists_smtp_extensions_without_starttls_when_no_certificate() {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::new(smtp(), h);
    s.expect(&format!("220 {HOST} ESMTP mailstack")).await;
    s.send("EHLO client.test").await;
    let caps = s.expect("250-").await;
    for ext in [
        "PIPELINING",
        "SIZE 10000",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "SMTPUTF8",
        "DSN",
        "CHUNKING",
    ] {
        assert!(
            caps.lines().any(|l| l[4..] == *ext),
            "{ext} missing in {caps}"
        );
    }
    assert!(
        !caps.contains("STARTTLS") && !caps.contains("XFORWARD"),
        "{caps}"
    );
    s.send("STARTTLS").await;
    s.expect("502 5.5.1").await;
    s.send("LHLO x").await;
    s.expect("500 5.5.2").await;
}

#[tokio::test]
async fn helo_works_and_mail_needs_a_greeting() {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::new(smtp(), h);
    s.expect("220").await;
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("503 5.5.1 Send EHLO or HELO first").await;
    s.send("HELO client.test").await;
    assert_eq!(s.expect("250 ").await, format!("250 {HOST}"));
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250 2.1.0").await;
}

#[tokio::test]
async fn single_reply_after_data_and_dsn_parameters_reach_the_handler() {
    let (mut s, h) = ehlo(smtp()).await;
    s.send("MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ123 SMTPUTF8")
        .await;
    s.expect("250 2.1.0").await;
    s.send(&format!(
        "RCPT TO:<{RCPT}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@example.com"
    ))
    .await;
    s.expect("250 2.1.5").await;
    s.send("DATA").await;
    s.expect("354").await;
    s.send_raw(b"Subject: x\r\n\r\nbody\r\n.\r\n").await;
    s.expect("250 2.0.0").await;
    let d = &h.deliveries()[0];
    assert!(!d.envelope.ret_full);
    assert_eq!(d.envelope.env_id.as_deref(), Some("QQ123"));
    assert!(d.envelope.smtputf8);
    assert_eq!(
        d.envelope.rcpt_params[0].orcpt.as_deref(),
        Some("orig@example.com")
    );
    assert_ne!(d.envelope.rcpt_params[0].notify, 0);
    assert_eq!(d.envelope.protocol, "ESMTP");
    assert_eq!(d.envelope.client_ip, Some("192.0.2.7".parse().unwrap()));
}

#[tokio::test]
async fn bdat_chunks_are_exact_and_binary_clean() {
    let (mut s, h) = ehlo(smtp()).await;
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250").await;
    s.send(&format!("RCPT TO:<{RCPT}>")).await;
    s.expect("250").await;
    // A chunk may contain what DATA would treat as the end: here it is content.
    let one = b"Subject: chunks\r\n\r\n.\r\nQUIT\r\n";
    s.send_raw(&[format!("BDAT {}\r\n", one.len()).as_bytes(), one].concat())
        .await;
    s.expect(&format!("250 2.0.0 {} octets received", one.len()))
        .await;
    s.send_raw(b"BDAT 7 LAST\r\nend\r\n\r\n").await;
    s.expect("250 2.0.0").await;
    assert_eq!(
        h.deliveries()[0].message,
        [&one[..], b"end\r\n\r\n"].concat()
    );
    // DATA after BDAT in one transaction is refused; BDAT with no recipients is read and refused.
    s.send_raw(b"BDAT 3\r\nabc").await;
    s.expect("503 5.5.1").await;
    s.send("NOOP").await;
    s.expect("250").await;
}

#[tokio::test]
async fn bdat_with_bare_newline_is_refused_or_normalized() {
    let (mut s, h) = ehlo(smtp()).await;
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250").await;
    s.send(&format!("RCPT TO:<{RCPT}>")).await;
    s.expect("250").await;
    s.send_raw(b"BDAT 8 LAST\r\na\nb\r\nc\r\n").await;
    s.expect("554 5.5.2").await;
    assert!(h.deliveries().is_empty());

    let cfg = SessionConfig {
        bare_newlines: BareNewlines::Normalize,
        ..smtp()
    };
    let (mut s, h) = ehlo(cfg).await;
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250").await;
    s.send(&format!("RCPT TO:<{RCPT}>")).await;
    s.expect("250").await;
    s.send_raw(b"BDAT 8 LAST\r\na\nb\r\nc\r\n").await;
    s.expect("250 2.0.0").await;
    assert_eq!(h.deliveries()[0].message, b"a\r\nb\r\nc\r\n");
}

#[tokio::test]
async fn oversized_bdat_is_read_and_refused() {
    let (mut s, h) = ehlo(smtp()).await;
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250").await;
    s.send(&format!("RCPT TO:<{RCPT}>")).await;
    s.expect("250").await;
    let big = vec![b'x'; 12_000];
    s.send_raw(&[b"BDAT 12000 LAST\r\n".as_slice(), &big].concat())
        .await;
    s.expect("552 5.3.4").await;
    s.send("NOOP").await;
    s.expect("250").await;
    assert!(h.deliveries().is_empty());
}

#[tokio::test]
async fn too_many_junk_commands_end_the_session() {
    let cfg = SessionConfig {
        max_junk_commands: 3,
        ..smtp()
    };
    let (mut s, _h) = ehlo(cfg).await;
    for _ in 0..3 {
        s.send("NOOP").await;
        s.expect("250").await;
    }
    s.send("NOOP").await;
    s.expect("250").await;
    s.expect("421 4.7.0").await;
    assert_eq!(s.ending().await, Ending::TooManyErrors);
}

#[tokio::test]
async fn relay_mode_greets_like_smtp() {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::new(
        SessionConfig {
            mode: Mode::Relay,
            ..config()
        },
        h,
    );
    s.expect(&format!("220 {HOST} ESMTP mailstack")).await;
    s.send("EHLO submission.internal").await;
    let caps = s.expect("250-").await;
    assert!(caps.contains("CHUNKING"));
}
