//! Session limits: recipients, declared and actual size, line length, errors, idle timeout,
//! and shutdown. Time is paused (`start_paused`): nothing here really sleeps.

mod common;

use std::time::Duration;

use common::{HOST, RecordingHandler, TestSession, config};
use mailstack_smtp::session::{Ending, SessionConfig};

const RCPT: &str = "b@example.com";

#[tokio::test]
async fn too_many_recipients() {
    let cfg = SessionConfig {
        max_recipients: 2,
        ..config()
    };
    let h = RecordingHandler::accepting(&["r1@example.com", "r2@example.com", "r3@example.com"]);
    let mut s = TestSession::greeted(cfg, h.clone()).await;
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250 2.1.0").await;
    s.send("RCPT TO:<r1@example.com>").await;
    s.expect("250 2.1.5").await;
    s.send("RCPT TO:<r2@example.com>").await;
    s.expect("250 2.1.5").await;
    s.send("RCPT TO:<r3@example.com>").await;
    s.expect("452 4.5.3").await;
    // The refused recipient was not even looked up.
    assert_eq!(h.checked(), ["r1@example.com", "r2@example.com"]);
    s.send("DATA").await;
    s.expect("354").await;
    s.send_raw(b"x\r\n.\r\n").await;
    // Replies for the two accepted recipients only.
    s.expect("250 2.0.0 <r1@example.com>").await;
    s.expect("250 2.0.0 <r2@example.com>").await;
    s.send("NOOP").await;
    s.expect("250 2.0.0 Ok").await;
    assert_eq!(
        h.deliveries()[0].recipients,
        ["r1@example.com", "r2@example.com"]
    );
    // The limit is per transaction: the next one may have two again.
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250 2.1.0").await;
    s.send("RCPT TO:<r3@example.com>").await;
    s.expect("250 2.1.5").await;
}

#[tokio::test]
async fn refused_recipients_do_not_count_against_the_limit() {
    let cfg = SessionConfig {
        max_recipients: 1,
        ..config()
    };
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(cfg, h).await;
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250 2.1.0").await;
    s.send("RCPT TO:<nobody@example.com>").await;
    s.expect("550 5.1.1").await;
    s.send("RCPT TO:<b@example.com>").await;
    s.expect("250 2.1.5").await;
}

#[tokio::test]
async fn declared_size_over_the_limit_is_refused_at_mail() {
    let mut s = TestSession::greeted(config(), RecordingHandler::accepting(&[RCPT])).await;
    s.send("MAIL FROM:<a@example.org> SIZE=10001").await;
    let r = s.expect("552 5.3.4").await;
    assert!(r.contains("10000"), "{r}");
    // No transaction was started.
    s.send("RCPT TO:<b@example.com>").await;
    s.expect("503 5.5.1").await;
    // At the limit is fine.
    s.send("MAIL FROM:<a@example.org> SIZE=10000").await;
    s.expect("250 2.1.0").await;
}

/// FAILS (bug, see report): smtp-proto 0.2.5 parses a SIZE with more than 20 digits by
/// saturating and then restarting from the next digit, so `SIZE=99999999999999999999999`
/// comes out as 999 and the session accepts it with `250` (and records `declared_size` 999)
/// instead of refusing the absurd size with `552 5.3.4` (or `501`).
#[tokio::test]
async fn absurd_declared_size_is_not_accepted() {
    let mut s = TestSession::greeted(config(), RecordingHandler::accepting(&[RCPT])).await;
    s.send("MAIL FROM:<a@example.org> SIZE=99999999999999999999999")
        .await;
    let r = s.reply().await;
    assert!(
        r.starts_with('5'),
        "SIZE=99999999999999999999999 must be refused, got {r:?}"
    );
}

#[tokio::test]
async fn bad_size_parameter_is_a_syntax_error() {
    let mut s = TestSession::greeted(config(), RecordingHandler::accepting(&[RCPT])).await;
    s.send("MAIL FROM:<a@example.org> SIZE=abc").await;
    s.expect("501 5.5.4").await;
    s.send("MAIL FROM:<a@example.org> FOO=bar").await;
    s.expect("555 5.5.4").await;
}

#[tokio::test]
async fn overlong_command_line_is_refused_and_the_next_command_works() {
    // max_line_length counts the CRLF.
    let mut s = TestSession::greeted(config(), RecordingHandler::accepting(&[RCPT])).await;
    let exact = format!("NOOP {}", "x".repeat(512 - 2 - 5));
    assert_eq!(exact.len() + 2, 512);
    s.send(&exact).await;
    s.expect("250 2.0.0").await;
    let over = format!("NOOP {}", "x".repeat(512 - 2 - 5 + 1));
    s.send(&over).await;
    assert_eq!(s.reply().await, "500 5.5.2 Line too long");
    s.send("NOOP").await;
    s.expect("250 2.0.0").await;
    // Far too long, with the next command pipelined in the same write.
    let mut raw = b"RCPT TO:<".to_vec();
    raw.extend(std::iter::repeat_n(b'y', 100_000));
    raw.extend_from_slice(b"@example.com>\r\nMAIL FROM:<a@example.org>\r\n");
    s.send_raw(&raw).await;
    s.expect("500 5.5.2").await;
    s.expect("250 2.1.0").await;
}

#[tokio::test]
async fn too_many_errors_closes_the_session() {
    let cfg = SessionConfig {
        max_errors: 3,
        ..config()
    };
    let mut s = TestSession::greeted(cfg, RecordingHandler::accepting(&[RCPT])).await;
    s.send("BOGUS").await;
    s.expect("500 5.5.2").await;
    // A good command in between does not reset the count.
    s.send("NOOP").await;
    s.expect("250").await;
    s.send("RCPT TO:<b@example.com>").await;
    s.expect("503 5.5.1").await;
    s.send(&"Z".repeat(600)).await;
    s.expect("500 5.5.2 Line too long").await;
    let r = s.expect("421 4.7.0").await;
    assert!(r.contains(HOST), "{r}");
    s.expect_closed().await;
    assert_eq!(s.ending().await, Ending::TooManyErrors);
}

#[tokio::test]
async fn too_many_errors_in_one_pipelined_burst() {
    let cfg = SessionConfig {
        max_errors: 2,
        ..config()
    };
    let mut s = TestSession::greeted(cfg, RecordingHandler::accepting(&[RCPT])).await;
    s.send_raw(b"BAD1\r\nBAD2\r\nNOOP\r\nNOOP\r\n").await;
    s.expect("500").await;
    s.expect("500").await;
    s.expect("421 4.7.0").await;
    // Nothing after the 421: the pipelined NOOPs are not answered.
    s.expect_closed().await;
    assert_eq!(s.ending().await, Ending::TooManyErrors);
}

#[tokio::test(start_paused = true)]
async fn idle_client_times_out() {
    let cfg = SessionConfig {
        timeout: Duration::from_secs(300),
        ..config()
    };
    let mut s = TestSession::greeted(cfg, RecordingHandler::accepting(&[RCPT])).await;
    let start = tokio::time::Instant::now();
    let r = s.expect("421 4.4.2").await;
    assert!(r.contains(HOST), "{r}");
    s.expect_closed().await;
    assert_eq!(s.ending().await, Ending::Timeout);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(300) && waited < Duration::from_secs(301),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_before_lhlo() {
    let cfg = SessionConfig {
        timeout: Duration::from_secs(60),
        ..config()
    };
    let mut s = TestSession::new(cfg, RecordingHandler::accepting(&[RCPT]));
    s.expect("220 ").await;
    s.expect("421 4.4.2").await;
    assert_eq!(s.ending().await, Ending::Timeout);
}

#[tokio::test(start_paused = true)]
async fn activity_restarts_the_idle_timer() {
    let cfg = SessionConfig {
        timeout: Duration::from_secs(60),
        ..config()
    };
    let mut s = TestSession::greeted(cfg, RecordingHandler::accepting(&[RCPT])).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(50)).await;
        s.send("NOOP").await;
        s.expect("250 2.0.0").await;
    }
    assert!(s.is_running());
    s.send("QUIT").await;
    s.expect("221").await;
    assert_eq!(s.ending().await, Ending::Quit);
}

#[tokio::test(start_paused = true)]
async fn timeout_in_the_middle_of_data_delivers_nothing() {
    let cfg = SessionConfig {
        timeout: Duration::from_secs(60),
        ..config()
    };
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(cfg, h.clone()).await;
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250").await;
    s.send("RCPT TO:<b@example.com>").await;
    s.expect("250").await;
    s.send("DATA").await;
    s.expect("354").await;
    s.send_raw(b"Subject: slow\r\n\r\npart").await;
    s.expect("421 4.4.2").await;
    s.expect_closed().await;
    assert_eq!(s.ending().await, Ending::Timeout);
    assert!(h.deliveries().is_empty());
}

#[tokio::test]
async fn shutdown_while_idle_says_421() {
    let mut s = TestSession::greeted(config(), RecordingHandler::accepting(&[RCPT])).await;
    s.shutdown.trigger();
    let r = s.expect("421 4.3.2").await;
    assert!(r.contains(HOST), "{r}");
    s.expect_closed().await;
    assert_eq!(s.ending().await, Ending::Shutdown);
}

#[tokio::test]
async fn shutdown_before_the_greeting_is_read() {
    let mut s = TestSession::new(config(), RecordingHandler::accepting(&[RCPT]));
    s.shutdown.trigger();
    s.expect("220 ").await;
    s.expect("421 4.3.2").await;
    assert_eq!(s.ending().await, Ending::Shutdown);
}

#[tokio::test]
async fn shutdown_during_data_lets_the_transaction_finish() {
    let h = RecordingHandler::accepting(&[RCPT, "c@example.com"]);
    let mut s = TestSession::greeted(config(), h.clone()).await;
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250").await;
    s.send("RCPT TO:<b@example.com>").await;
    s.expect("250").await;
    s.send("RCPT TO:<c@example.com>").await;
    s.expect("250").await;
    s.send("DATA").await;
    s.expect("354").await;
    s.send_raw(b"Subject: in flight\r\n\r\nfirst half\r\n")
        .await;
    s.shutdown.trigger();
    // Give the session every chance to (wrongly) react before the data ends.
    tokio::task::yield_now().await;
    s.send_raw(b"second half\r\n.\r\n").await;
    s.expect("250 2.0.0 <b@example.com>").await;
    s.expect("250 2.0.0 <c@example.com>").await;
    s.expect("421 4.3.2").await;
    s.expect_closed().await;
    assert_eq!(s.ending().await, Ending::Shutdown);
    let d = h.deliveries();
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].message,
        b"Subject: in flight\r\n\r\nfirst half\r\nsecond half\r\n"
    );
}

#[tokio::test]
async fn shutdown_answers_pipelined_commands_first() {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(config(), h.clone()).await;
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250").await;
    s.send("RCPT TO:<b@example.com>").await;
    s.expect("250").await;
    s.send("DATA").await;
    s.expect("354").await;
    s.send_raw(b"x\r\n").await;
    s.shutdown.trigger();
    // The end of data and two more commands arrive together: all are answered before 421.
    s.send_raw(b".\r\nNOOP\r\nRSET\r\n").await;
    s.expect("250 2.0.0 <b@example.com>").await;
    s.expect("250 2.0.0 Ok").await;
    s.expect("250 2.0.0 Ok").await;
    s.expect("421 4.3.2").await;
    assert_eq!(s.ending().await, Ending::Shutdown);
}

#[tokio::test]
async fn refused_recipients_do_not_end_an_lmtp_session() {
    // The LMTP client is our own MTA: one transaction with many stale recipients must still
    // deliver to the valid one, whatever max_errors says.
    let cfg = SessionConfig {
        max_errors: 3,
        ..config()
    };
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(cfg, h.clone()).await;
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250 2.1.0").await;
    for i in 0..10 {
        s.send(&format!("RCPT TO:<gone{i}@example.com>")).await;
        s.expect("550").await;
    }
    s.send(&format!("RCPT TO:<{RCPT}>")).await;
    s.expect("250 2.1.5").await;
    s.send("DATA").await;
    s.expect("354").await;
    s.send_raw(b"x\r\n.\r\n").await;
    s.expect("250 2.0.0").await;
    assert_eq!(h.deliveries().len(), 1);
}
