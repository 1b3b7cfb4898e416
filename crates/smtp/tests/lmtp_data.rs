//! The DATA phase through a whole session: dot-unstuffing, the smuggling defence, bare newline
//! policies, the message size limit and large messages.

mod common;

use std::sync::Arc;

use common::{RecordingHandler, TestSession, config, has_bare_newline};
use mailstack_smtp::data::BareNewlines;
use mailstack_smtp::session::SessionConfig;
use mailstack_smtp::spool::MEMORY_LIMIT;

const RCPT: &str = "b@example.com";

fn with_policy(policy: BareNewlines) -> SessionConfig {
    SessionConfig {
        bare_newlines: policy,
        ..config()
    }
}

/// MAIL, RCPT for `rcpts`, DATA; then `raw` is sent as is (it must contain the terminator).
async fn send_message(s: &mut TestSession, rcpts: &[&str], raw: &[u8]) {
    s.send("MAIL FROM:<a@example.org>").await;
    s.expect("250 2.1.0").await;
    for r in rcpts {
        s.send(&format!("RCPT TO:<{r}>")).await;
        s.expect("250 2.1.5").await;
    }
    s.send("DATA").await;
    s.expect("354").await;
    s.send_raw(raw).await;
}

/// After a transaction: no reply is pending and no transaction is open.
async fn assert_idle(s: &mut TestSession) {
    s.send("NOOP").await;
    assert_eq!(s.reply().await, "250 2.0.0 Ok");
    s.send("RCPT TO:<b@example.com>").await;
    s.expect("503 5.5.1").await;
}

#[tokio::test]
async fn message_is_delivered_exactly_as_sent() {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(config(), h.clone()).await;
    let body = b"From: a@example.org\r\nSubject: hello\r\n\r\nline 1\r\n\r\n  indented\r\n\tx\r\n";
    let mut raw = body.to_vec();
    raw.extend_from_slice(b".\r\n");
    send_message(&mut s, &[RCPT], &raw).await;
    s.expect("250 2.0.0").await;
    let d = h.deliveries();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].message, body);
    assert_eq!(d[0].spool_size, body.len() as u64);
    assert!(!d[0].from_file);
}

#[tokio::test]
async fn empty_message() {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(config(), h.clone()).await;
    send_message(&mut s, &[RCPT], b".\r\n").await;
    s.expect("250 2.0.0").await;
    assert_eq!(h.deliveries()[0].message, b"");
}

#[tokio::test]
async fn dot_unstuffing() {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(config(), h.clone()).await;
    send_message(
        &mut s,
        &[RCPT],
        b"Subject: dots\r\n\r\n..x\r\n..\r\n...\r\nmid.dle\r\n. space\r\n.\r\n",
    )
    .await;
    s.expect("250 2.0.0").await;
    assert_eq!(
        h.deliveries()[0].message,
        b"Subject: dots\r\n\r\n.x\r\n.\r\n..\r\nmid.dle\r\n space\r\n"
    );
    assert_idle(&mut s).await;
}

#[tokio::test]
async fn terminator_split_across_writes() {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(config(), h.clone()).await;
    send_message(&mut s, &[RCPT], b"Subject: split\r\n\r\nbody\r").await;
    s.send_raw(b"\n.").await;
    s.send_raw(b"\r").await;
    s.send_raw(b"\n").await;
    s.expect("250 2.0.0").await;
    assert_eq!(h.deliveries()[0].message, b"Subject: split\r\n\r\nbody\r\n");
}

/// The classic SMTP smuggling sequences: none of them ends the data.
const SMUGGLERS: [&[u8]; 4] = [b"\n.\n", b"\r.\n", b"\n.\r\n", b".\n"];

fn smuggling_message(evil: &[u8]) -> Vec<u8> {
    let mut raw = b"Subject: smuggle\r\n\r\nbefore\r\n".to_vec();
    // For ".\n" the sequence starts a line after a CRLF; the others follow text.
    if evil != b".\n" {
        raw.extend_from_slice(b"text");
    }
    raw.extend_from_slice(evil);
    raw.extend_from_slice(b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nafter\r\n.\r\n");
    raw
}

#[tokio::test]
async fn smuggling_sequences_are_rejected_per_recipient() {
    for evil in SMUGGLERS {
        let h = RecordingHandler::accepting(&[RCPT, "c@example.com"]);
        let mut s = TestSession::greeted(with_policy(BareNewlines::Reject), h.clone()).await;
        send_message(&mut s, &[RCPT, "c@example.com"], &smuggling_message(evil)).await;
        // One reply per recipient, for the whole message; nothing for the smuggled commands.
        assert_eq!(
            s.reply().await,
            "554 5.5.2 Message contains bare CR or LF line endings; use CRLF",
            "{evil:?}"
        );
        assert_eq!(
            s.reply().await,
            "554 5.5.2 Message contains bare CR or LF line endings; use CRLF",
            "{evil:?}"
        );
        assert_idle(&mut s).await;
        assert!(h.deliveries().is_empty(), "{evil:?}");
        // The smuggled RCPT never reached the handler.
        assert_eq!(h.checked(), [RCPT, "c@example.com"], "{evil:?}");
    }
}

#[tokio::test]
async fn smuggling_sequences_stay_content_when_normalized() {
    for evil in SMUGGLERS {
        let h = RecordingHandler::accepting(&[RCPT]);
        let mut s = TestSession::greeted(with_policy(BareNewlines::Normalize), h.clone()).await;
        send_message(&mut s, &[RCPT], &smuggling_message(evil)).await;
        s.expect("250 2.0.0").await;
        assert_idle(&mut s).await;
        let d = h.deliveries();
        assert_eq!(d.len(), 1, "{evil:?}: a second transaction was started");
        let m = &d[0].message;
        assert!(
            !has_bare_newline(m),
            "{evil:?}: bare newline left in {:?}",
            String::from_utf8_lossy(m)
        );
        let text = String::from_utf8_lossy(m);
        assert!(
            text.starts_with("Subject: smuggle\r\n\r\nbefore\r\n"),
            "{evil:?}: {text:?}"
        );
        assert!(
            text.ends_with("\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nafter\r\n"),
            "{evil:?}: {text:?}"
        );
        assert_eq!(d[0].envelope.sender, "a@example.org");
        assert_eq!(h.checked(), [RCPT]);
    }
}

#[tokio::test]
async fn normalize_rewrites_bare_cr_and_lf_exactly() {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(with_policy(BareNewlines::Normalize), h.clone()).await;
    send_message(
        &mut s,
        &[RCPT],
        b"Subject: n\nX: y\r\n\r\na\nb\rc\r\r\nd\r\n.\r\n",
    )
    .await;
    s.expect("250 2.0.0").await;
    assert_eq!(
        h.deliveries()[0].message,
        b"Subject: n\r\nX: y\r\n\r\na\r\nb\r\nc\r\n\r\nd\r\n"
    );
}

#[tokio::test]
async fn clean_message_passes_the_reject_policy() {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(with_policy(BareNewlines::Reject), h.clone()).await;
    send_message(&mut s, &[RCPT], b"Subject: ok\r\n\r\nfine\r\n.\r\n").await;
    s.expect("250 2.0.0").await;
    assert_eq!(h.deliveries().len(), 1);
}

#[tokio::test]
async fn bare_cr_alone_is_rejected() {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(with_policy(BareNewlines::Reject), h.clone()).await;
    send_message(&mut s, &[RCPT], b"Subject: cr\r\n\r\na\rb\r\n.\r\n").await;
    s.expect("554 5.5.2").await;
    assert!(h.deliveries().is_empty());
}

#[tokio::test]
async fn data_over_the_limit_is_refused_after_the_end_and_the_session_goes_on() {
    let cfg = SessionConfig {
        max_message_size: 1000,
        ..config()
    };
    let h = RecordingHandler::accepting(&[RCPT, "c@example.com"]);
    let mut s = TestSession::greeted(cfg, h.clone()).await;
    // 1003 bytes of content, in lines.
    let mut raw = Vec::new();
    while raw.len() < 990 {
        raw.extend_from_slice(b"0123456789012345678901234567890123456789\r\n");
    }
    raw.truncate(990);
    raw.extend_from_slice(b"\r\nabcdefghi\r\n.\r\n");
    assert_eq!(raw.len() - 3, 1003);
    send_message(&mut s, &[RCPT, "c@example.com"], &raw).await;
    // Refused only at the end, once per recipient.
    s.expect("552 5.3.4").await;
    s.expect("552 5.3.4").await;
    assert!(h.deliveries().is_empty());
    assert_idle(&mut s).await;
    // And the next transaction works.
    let r = common::transaction(&mut s, "a@example.org", &[RCPT], b"small\r\n").await;
    assert!(r[0].starts_with("250 2.0.0"), "{r:?}");
}

#[tokio::test]
async fn data_exactly_at_the_limit_is_accepted() {
    let cfg = SessionConfig {
        max_message_size: 100,
        ..config()
    };
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(cfg, h.clone()).await;
    // 95 bytes + CRLF, then a dot-stuffed "." line (its stuffing dot does not count):
    // 97 + 3 = 100 bytes of content.
    let mut line = vec![b'x'; 95];
    line.extend_from_slice(b"\r\n");
    let mut raw = line.clone();
    raw.extend_from_slice(b"..\r\n.\r\n");
    send_message(&mut s, &[RCPT], &raw).await;
    s.expect("250 2.0.0").await;
    assert_eq!(h.deliveries()[0].message.len(), 100);

    // One byte more is refused.
    let mut raw = line;
    raw.extend_from_slice(b"..x\r\n.\r\n");
    send_message(&mut s, &[RCPT], &raw).await;
    s.expect("552 5.3.4").await;
}

#[tokio::test]
async fn huge_message_is_refused_without_being_kept() {
    let cfg = SessionConfig {
        max_message_size: 4096,
        ..config()
    };
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(cfg, h.clone()).await;
    send_message(&mut s, &[RCPT], b"").await;
    let chunk = vec![b'z'; 60_000];
    for _ in 0..40 {
        s.send_raw(&chunk).await;
        s.send_raw(b"\r\n").await;
    }
    s.send_raw(b".\r\n").await;
    s.expect("552 5.3.4").await;
    assert_idle(&mut s).await;
}

#[tokio::test]
async fn large_message_spills_to_a_file_and_arrives_intact() {
    let cfg = SessionConfig {
        max_message_size: 4 * 1024 * 1024,
        ..config()
    };
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(cfg, h.clone()).await;
    let mut body = b"Subject: big\r\n\r\n".to_vec();
    let mut n = 0u64;
    while body.len() <= MEMORY_LIMIT + 1000 {
        body.extend_from_slice(format!("line {n:08} of a long message\r\n").as_bytes());
        n += 1;
    }
    let mut raw = body.clone();
    raw.extend_from_slice(b".\r\n");
    send_message(&mut s, &[RCPT], &raw).await;
    s.expect("250 2.0.0").await;
    let d = &h.deliveries()[0];
    assert!(
        d.from_file,
        "a message over MEMORY_LIMIT should be spooled to a file"
    );
    assert_eq!(d.spool_size, body.len() as u64);
    assert!(
        d.message == body,
        "spooled content differs from what was sent"
    );
}

#[tokio::test]
async fn very_long_lines_pass_in_pieces_and_keep_crlf_whole() {
    let cfg = SessionConfig {
        max_message_size: 1024 * 1024,
        ..config()
    };
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(cfg, h.clone()).await;
    // Lines longer than the 64 KiB data piece, with a CRLF landing on every offset around the
    // piece boundary, a dot at the start of a long line, and ".\r\n" right after a long line.
    let mut body = Vec::new();
    let mut raw = Vec::new();
    for len in [65_533usize, 65_534, 65_535, 65_536, 65_537, 131_072] {
        let line: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        body.extend_from_slice(&line);
        body.extend_from_slice(b"\r\n");
        raw.extend_from_slice(&line);
        raw.extend_from_slice(b"\r\n");
    }
    let dotted = vec![b'd'; 70_000];
    body.push(b'.');
    body.extend_from_slice(&dotted);
    body.extend_from_slice(b"\r\n");
    raw.extend_from_slice(b"..");
    raw.extend_from_slice(&dotted);
    raw.extend_from_slice(b"\r\n.\r\n");
    send_message(&mut s, &[RCPT], &raw).await;
    s.expect("250 2.0.0").await;
    let d = &h.deliveries()[0];
    assert_eq!(d.message.len(), body.len());
    assert!(d.message == body, "long lines were altered");
    assert_idle(&mut s).await;
}

#[tokio::test]
async fn long_line_ending_on_a_bare_cr_at_the_piece_boundary() {
    for policy in [BareNewlines::Reject, BareNewlines::Normalize] {
        let cfg = SessionConfig {
            max_message_size: 1024 * 1024,
            ..with_policy(policy)
        };
        let h = RecordingHandler::accepting(&[RCPT]);
        let mut s = TestSession::greeted(cfg, h.clone()).await;
        for len in [65_535usize, 65_536] {
            let mut raw = vec![b'q'; len];
            raw.extend_from_slice(b"\rnext\r\n.\r\n");
            send_message(&mut s, &[RCPT], &raw).await;
            match policy {
                BareNewlines::Reject => {
                    s.expect("554 5.5.2").await;
                }
                BareNewlines::Normalize => {
                    s.expect("250 2.0.0").await;
                    let m = h.deliveries().last().unwrap().message.clone();
                    let mut want = vec![b'q'; len];
                    want.extend_from_slice(b"\r\nnext\r\n");
                    assert!(m == want, "{policy:?} {len}: wrong content");
                }
            }
        }
    }
}

#[tokio::test]
async fn eight_bit_and_nul_bytes_pass_through() {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut s = TestSession::greeted(config(), h.clone()).await;
    let body: Vec<u8> = b"Subject: bin\r\n\r\n\x00\x01\xff\xfe\x80 caf\xc3\xa9\r\n".to_vec();
    let mut raw = body.clone();
    raw.extend_from_slice(b".\r\n");
    send_message(&mut s, &[RCPT], &raw).await;
    s.expect("250 2.0.0").await;
    assert_eq!(h.deliveries()[0].message, body);
}

#[tokio::test]
async fn many_sessions_in_parallel_keep_their_messages_apart() {
    let h = RecordingHandler::accepting(&[RCPT]);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let h = Arc::clone(&h);
        tasks.push(tokio::spawn(async move {
            let mut s = TestSession::greeted(config(), h).await;
            let body = format!("Subject: {i}\r\n\r\nsession {i}\r\n");
            let r = common::transaction(
                &mut s,
                &format!("s{i}@example.org"),
                &[RCPT],
                body.as_bytes(),
            )
            .await;
            assert!(r[0].starts_with("250 2.0.0"), "{r:?}");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let d = h.deliveries();
    assert_eq!(d.len(), 8);
    for del in d {
        let i = del
            .envelope
            .sender
            .trim_start_matches('s')
            .trim_end_matches("@example.org")
            .to_string();
        assert_eq!(
            del.message,
            format!("Subject: {i}\r\n\r\nsession {i}\r\n").as_bytes()
        );
    }
}
