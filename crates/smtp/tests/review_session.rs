//! Review findings in the SMTP session state machine (crates/smtp/src/session/*), proved in
//! memory over the common harness.

mod common;

use std::time::Duration;

use common::{HOST, RecordingHandler, TestSession, config};
use mailstack_smtp::session::{Mode, SessionConfig};

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

/// Finding: replies are written without any timeout. A client that pipelines commands and
/// never reads the replies blocks the session in `write_all` forever: the command timeout
/// (here 1 s) never fires, the connection slot is held until the process stops.
/// `BDAT 0` in a transaction is neither an error nor a junk command, so nothing else ends it.
#[tokio::test]
async fn client_that_never_reads_replies_is_timed_out() {
    let cfg = SessionConfig {
        timeout: Duration::from_secs(1),
        data_timeout: Duration::from_secs(1),
        ..smtp()
    };
    let (mut s, _h) = ehlo(cfg).await;
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250").await;
    s.send(&format!("RCPT TO:<{RCPT}>")).await;
    s.expect("250").await;
    // ~48 KB of commands (fits the 64 KB pipe) whose replies (~174 KB) do not.
    let flood = b"BDAT 0\r\n".repeat(6000);
    s.send_raw(&flood).await;
    // Do not read. A session with a 1 s timeout must be gone well within 6 s.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        !s.is_running(),
        "session still running 6 s after the client stopped reading (timeout is 1 s): \
         writes of replies have no timeout"
    );
}

/// Finding: `452 4.5.3 Too many recipients` counts as a session error. RFC 5321 §4.5.3.1.10
/// (and Postfix' smtpd_recipient_overshoot_limit) expect the client to get 452 for the excess
/// recipients, send DATA for the accepted ones and retry the rest later. Here a transaction
/// with more than max_recipients + max_errors recipients ends in `421` and is never
/// deliverable (every retry hits the same wall).
#[tokio::test]
async fn excess_recipients_get_452_without_ending_the_session() {
    // config(): max_recipients = 10, max_errors = 20.
    let (mut s, h) = ehlo(smtp()).await;
    let mut batch = String::from("MAIL FROM:<a@example.org>\r\n");
    for _ in 0..31 {
        batch.push_str(&format!("RCPT TO:<{RCPT}>\r\n"));
    }
    batch.push_str("DATA\r\n");
    s.send_raw(batch.as_bytes()).await;
    s.expect("250 2.1.0").await;
    for i in 0..10 {
        let r = s.reply().await;
        assert!(r.starts_with("250 2.1.5"), "recipient {i}: {r}");
    }
    for i in 10..31 {
        let r = s.reply().await;
        assert!(
            r.starts_with("452"),
            "recipient {i} (over the limit) must get 452 and the session must go on, got {r:?}"
        );
    }
    s.expect("354").await;
    s.send_raw(b"Subject: many\r\n\r\nbody\r\n.\r\n").await;
    s.expect("250 2.0.0").await;
    assert_eq!(h.deliveries().len(), 1);
    assert_eq!(h.deliveries()[0].recipients.len(), 10);
}

/// Finding: MAIL parameters of extensions we do not advertise (and do not implement) are
/// accepted with `250`: REQUIRETLS (RFC 8689: the message must then only travel over TLS),
/// BY (RFC 2852 deliver-by), HOLDFOR (RFC 4865), MT-PRIORITY (RFC 6710) and BODY=BINARYMIME
/// (RFC 3030, not advertised; we then pass the message on as BODY=8BITMIME). RFC 5321
/// §4.1.1.11: a parameter the server cannot implement gets `555`.
#[tokio::test]
async fn unadvertised_mail_parameters_are_refused() {
    let (mut s, _h) = ehlo(smtp()).await;
    let mut accepted = Vec::new();
    for param in [
        "REQUIRETLS",
        "BY=120;R",
        "HOLDFOR=600",
        "MT-PRIORITY=3",
        "BODY=BINARYMIME",
    ] {
        s.send(&format!("MAIL FROM:<a@example.org> {param}")).await;
        let r = s.reply().await;
        if r.starts_with("250") {
            accepted.push(param);
            s.send("RSET").await;
            s.expect("250").await;
        }
    }
    assert!(
        accepted.is_empty(),
        "MAIL accepted with unadvertised parameters {accepted:?} (expected 555)"
    );
}

/// Finding: `RecipientParams::notify` is documented as "NOTIFY= flags ... 0 = not given", but
/// the session stores *all* RCPT flags. An (unadvertised) `CONNEG` or `RRVS=` parameter sets a
/// non-NOTIFY bit, so smtp-mta's `notify_of` sees "NOTIFY given" with no FAILURE/DELAY bit:
/// the default NOTIFY=FAILURE,DELAY silently becomes "no DSN at all" (see the end-to-end test
/// in review_inbound.rs). Either refuse the parameter (555) or keep only NOTIFY bits.
#[tokio::test]
async fn non_notify_rcpt_parameters_do_not_leak_into_notify() {
    let (mut s, h) = ehlo(smtp()).await;
    for param in ["CONNEG", "RRVS=2030-01-01T00:00:00Z"] {
        s.send("MAIL FROM:<a@example.org>").await;
        s.expect("250").await;
        s.send(&format!("RCPT TO:<{RCPT}> {param}")).await;
        let r = s.reply().await;
        if r.starts_with("250") {
            s.send("DATA").await;
            s.expect("354").await;
            s.send_raw(b"Subject: x\r\n\r\nbody\r\n.\r\n").await;
            s.expect("250").await;
            let d = h.deliveries().pop().unwrap();
            let notify = d.envelope.rcpt_params[0].notify;
            let notify_bits = smtp_proto::RCPT_NOTIFY_SUCCESS
                | smtp_proto::RCPT_NOTIFY_FAILURE
                | smtp_proto::RCPT_NOTIFY_DELAY
                | smtp_proto::RCPT_NOTIFY_NEVER;
            assert_eq!(
                notify & !notify_bits,
                0,
                "RCPT {param} without NOTIFY left non-NOTIFY bits {notify:#x} in \
                 RecipientParams::notify (documented as NOTIFY bits, 0 = not given)"
            );
        } else {
            assert!(r.starts_with("555"), "RCPT {param}: {r:?}");
            s.send("RSET").await;
            s.expect("250").await;
        }
    }
}
