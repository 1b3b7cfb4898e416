//! End to end in memory: LMTP session → `LocalDelivery` → static users file → Maildir store.

mod common;

use std::sync::Arc;

use common::{FailingDirectory, Local, TestSession, config};
use mailstack_smtp::session::SessionConfig;

const MSG: &[u8] =
    b"From: sender@example.org\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nHello Alice.\r\n";

/// The trace headers `LocalDelivery` prepends, checked field by field; returns the rest.
fn strip_trace<'a>(file: &'a [u8], sender: &str, final_rcpt: &str, id: Option<&str>) -> &'a [u8] {
    let text = String::from_utf8_lossy(file);
    let head = format!("Return-Path: <{sender}>\r\nDelivered-To: {final_rcpt}\r\nReceived: ");
    assert!(text.starts_with(&head), "bad trace headers: {text:?}");
    // Received: from <helo> (<peer>)\r\n\tby <host> (mailstack) with LMTP id <id>\r\n\tfor <rcpt>; <date>\r\n
    let received_start = head.len() - "Received: ".len();
    let rest = &text[received_start..];
    let mut lines = rest.split("\r\n");
    let l1 = lines.next().unwrap();
    let l2 = lines.next().unwrap();
    let l3 = lines.next().unwrap();
    assert_eq!(l1, format!("Received: from client.test ({})", common::PEER));
    assert!(
        l2.starts_with(&format!("\tby {} (mailstack) with LMTP id ", common::HOST)),
        "{l2:?}"
    );
    if let Some(id) = id {
        assert!(
            l2.ends_with(&format!(" id {id}")),
            "{l2:?} should name id {id}"
        );
    }
    assert!(l3.starts_with(&format!("\tfor <{final_rcpt}>; ")), "{l3:?}");
    assert!(l3.ends_with(" +0000"), "{l3:?}");
    let trace_len = received_start + l1.len() + l2.len() + l3.len() + 6;
    &file[trace_len..]
}

/// The transaction id in a `250 2.0.0 <addr> <id> Saved` reply.
fn id_of(reply: &str) -> &str {
    let mut words = reply.split(' ');
    assert_eq!(words.next(), Some("250"), "{reply}");
    assert_eq!(words.next(), Some("2.0.0"), "{reply}");
    words.next();
    words.next().expect("id in delivery reply")
}

#[tokio::test]
async fn delivery_writes_the_message_with_trace_headers_into_new() {
    let local = Local::new(|_| Ok(()));
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    let replies =
        common::transaction(&mut s, "sender@example.org", &["alice@example.com"], MSG).await;
    assert!(
        replies[0].starts_with("250 2.0.0 <alice@example.com> "),
        "{replies:?}"
    );
    assert!(replies[0].ends_with(" Saved"), "{replies:?}");
    let id = id_of(&replies[0]).to_string();

    let files = local.inbox_new("alice@example.com");
    assert_eq!(files.len(), 1);
    assert_eq!(
        strip_trace(
            &files[0],
            "sender@example.org",
            "alice@example.com",
            Some(&id)
        ),
        MSG
    );
    // Nobody else got it.
    assert!(local.inbox_new("bob@example.com").is_empty());
    // Maildir layout: cur/ and tmp/ exist, tmp/ is empty again.
    let md = local.maildir("alice@example.com");
    assert!(md.join("cur").is_dir());
    assert!(common::read_dir_files(&md.join("tmp")).is_empty());
    // The session goes on.
    s.send("NOOP").await;
    s.expect("250 2.0.0").await;
}

#[tokio::test]
async fn null_sender_gets_an_empty_return_path() {
    let local = Local::new(|_| Ok(()));
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    let r = common::transaction(&mut s, "", &["bob@example.com"], MSG).await;
    assert!(r[0].starts_with("250 2.0.0"), "{r:?}");
    let files = local.inbox_new("bob@example.com");
    assert_eq!(strip_trace(&files[0], "", "bob@example.com", None), MSG);
}

#[tokio::test]
async fn several_recipients_each_get_a_copy_and_a_reply() {
    let local = Local::new(|_| Ok(()));
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    s.send("MAIL FROM:<sender@example.org>").await;
    s.expect("250 2.1.0").await;
    s.send("RCPT TO:<alice@example.com>").await;
    s.expect("250 2.1.5").await;
    s.send("RCPT TO:<ghost@example.com>").await;
    s.expect("550 5.1.1").await;
    s.send("RCPT TO:<bob@example.com>").await;
    s.expect("250 2.1.5").await;
    s.send("DATA").await;
    s.expect("354").await;
    s.send_raw(MSG).await;
    s.send_raw(b".\r\n").await;
    s.expect("250 2.0.0 <alice@example.com>").await;
    s.expect("250 2.0.0 <bob@example.com>").await;
    for user in ["alice@example.com", "bob@example.com"] {
        let files = local.inbox_new(user);
        assert_eq!(files.len(), 1, "{user}");
        assert_eq!(
            strip_trace(&files[0], "sender@example.org", user, None),
            MSG
        );
    }
}

#[tokio::test]
async fn alias_recipients_reach_the_target_user() {
    let local = Local::new(|_| Ok(()));
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    // An [[alias]] entry and a user's own alias address.
    for (n, rcpt) in ["postmaster@example.com", "a.smith@example.com"]
        .iter()
        .enumerate()
    {
        let r = common::transaction(&mut s, "sender@example.org", &[rcpt], MSG).await;
        assert!(r[0].starts_with(&format!("250 2.0.0 <{rcpt}> ")), "{r:?}");
        let files = local.inbox_new("alice@example.com");
        assert_eq!(files.len(), n + 1);
    }
    for f in local.inbox_new("alice@example.com") {
        // Delivered-To names the final user, not the alias.
        assert_eq!(
            strip_trace(&f, "sender@example.org", "alice@example.com", None),
            MSG
        );
    }
}

#[tokio::test]
async fn group_recipient_reaches_every_member_with_one_reply() {
    let local = Local::new(|_| Ok(()));
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    let r = common::transaction(&mut s, "sender@example.org", &["all@example.com"], MSG).await;
    assert_eq!(r.len(), 1);
    assert!(r[0].starts_with("250 2.0.0 <all@example.com> "), "{r:?}");
    // No stray second reply.
    s.send("NOOP").await;
    assert_eq!(s.reply().await, "250 2.0.0 Ok");
    for user in ["alice@example.com", "bob@example.com"] {
        let files = local.inbox_new(user);
        assert_eq!(files.len(), 1, "{user}");
        assert_eq!(
            strip_trace(&files[0], "sender@example.org", user, None),
            MSG
        );
    }
}

#[tokio::test]
async fn subaddress_and_case_reach_the_base_user() {
    let local = Local::new(|_| Ok(()));
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    let r = common::transaction(
        &mut s,
        "sender@example.org",
        &["alice+lists@example.com"],
        MSG,
    )
    .await;
    assert!(
        r[0].starts_with("250 2.0.0 <alice+lists@example.com> "),
        "{r:?}"
    );
    let r = common::transaction(&mut s, "sender@example.org", &["Alice@EXAMPLE.com"], MSG).await;
    assert!(r[0].starts_with("250 2.0.0"), "{r:?}");
    let files = local.inbox_new("alice@example.com");
    assert_eq!(files.len(), 2);
    for f in files {
        assert_eq!(
            strip_trace(&f, "sender@example.org", "alice@example.com", None),
            MSG
        );
    }
    // No mailbox was made for the tagged or mixed-case form.
    assert!(!local.root.join("example.com").join("alice+lists").exists());
    assert!(!local.root.join("EXAMPLE.com").exists());
}

#[tokio::test]
async fn unknown_recipients_are_refused_at_rcpt() {
    let local = Local::new(|_| Ok(()));
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    s.send("MAIL FROM:<sender@example.org>").await;
    s.expect("250 2.1.0").await;
    s.send("RCPT TO:<ghost@example.com>").await;
    let r = s.expect("550 5.1.1").await;
    assert!(r.contains("<ghost@example.com>"), "{r}");
    // A tag on an unknown user is still unknown.
    s.send("RCPT TO:<ghost+tag@example.com>").await;
    s.expect("550 5.1.1").await;
    // An alias whose only target is remote: lmtp-mda has nowhere to put it.
    s.send("RCPT TO:<fwd@example.com>").await;
    s.expect("550 5.1.1").await;
    // A domain we do not handle at all.
    s.send("RCPT TO:<someone@elsewhere.example>").await;
    s.expect("550 5.1.1").await;
    s.send("DATA").await;
    s.expect("503 5.5.1").await;
    assert!(!local.root.join("example.com").join("ghost").exists());
}

#[tokio::test]
async fn user_over_byte_quota_is_refused_after_data() {
    // 100 bytes: less than the trace headers alone.
    let local = Local::new(|f| f.add_user("small@example.com", common::password_hash(), Some(100)));
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    let r = common::transaction(
        &mut s,
        "sender@example.org",
        &["small@example.com", "bob@example.com"],
        MSG,
    )
    .await;
    assert!(r[0].starts_with("552 5.2.2"), "{r:?}");
    assert!(r[0].contains("<small@example.com>"), "{r:?}");
    assert!(r[1].starts_with("250 2.0.0 <bob@example.com>"), "{r:?}");
    assert!(local.inbox_new("small@example.com").is_empty());
    assert_eq!(local.inbox_new("bob@example.com").len(), 1);
}

#[tokio::test]
async fn full_mailbox_is_refused_at_rcpt() {
    let local = Local::new(|f| {
        f.add_user("one@example.com", common::password_hash(), None)?;
        f.user_mut("one@example.com").unwrap().quota_messages = Some(1);
        Ok(())
    });
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    let r = common::transaction(&mut s, "sender@example.org", &["one@example.com"], MSG).await;
    assert!(r[0].starts_with("250 2.0.0"), "{r:?}");
    // Now full: refused before the data is sent.
    s.send("MAIL FROM:<sender@example.org>").await;
    s.expect("250 2.1.0").await;
    s.send("RCPT TO:<one@example.com>").await;
    s.expect("552 5.2.2").await;
    assert_eq!(local.inbox_new("one@example.com").len(), 1);
}

#[tokio::test]
async fn default_quota_applies_to_users_without_one() {
    let local = Local::with_options(|_| Ok(()), 50, Vec::new());
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    let r = common::transaction(&mut s, "sender@example.org", &["bob@example.com"], MSG).await;
    assert!(r[0].starts_with("552 5.2.2"), "{r:?}");
    assert!(local.inbox_new("bob@example.com").is_empty());
}

#[tokio::test]
async fn group_member_over_quota_does_not_stop_the_others() {
    let local = Local::new(|f| {
        f.add_user("small@example.com", common::password_hash(), Some(100))?;
        f.add_group(
            "team@example.com",
            &["small@example.com", "bob@example.com"],
        )
    });
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    let r = common::transaction(&mut s, "sender@example.org", &["team@example.com"], MSG).await;
    // The list got it (bob has it); small's permanent failure does not bounce the list.
    assert!(r[0].starts_with("250 2.0.0 <team@example.com>"), "{r:?}");
    assert_eq!(local.inbox_new("bob@example.com").len(), 1);
    assert!(local.inbox_new("small@example.com").is_empty());
}

#[tokio::test]
async fn default_folders_are_created_on_first_delivery() {
    let local = Local::with_options(|_| Ok(()), 0, vec!["Sent".into(), "Trash".into()]);
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    let r = common::transaction(&mut s, "sender@example.org", &["alice@example.com"], MSG).await;
    assert!(r[0].starts_with("250 2.0.0"), "{r:?}");
    let md = local.maildir("alice@example.com");
    for folder in [".Sent", ".Trash"] {
        assert!(md.join(folder).join("new").is_dir(), "{folder} missing");
        assert!(md.join(folder).join("cur").is_dir(), "{folder} missing");
    }
}

#[tokio::test]
async fn large_message_from_a_spool_file_is_stored_intact() {
    let cfg = SessionConfig {
        max_message_size: 4 * 1024 * 1024,
        ..config()
    };
    let local = Local::new(|_| Ok(()));
    let mut s = TestSession::greeted(cfg, local.handler.clone()).await;
    let mut msg = b"Subject: big\r\n\r\n".to_vec();
    let mut n = 0u32;
    while msg.len() <= mailstack_smtp::spool::MEMORY_LIMIT + 4096 {
        msg.extend_from_slice(
            format!("{n:010} 0123456789abcdefghijklmnopqrstuvwxyz\r\n").as_bytes(),
        );
        n += 1;
    }
    let r = common::transaction(
        &mut s,
        "sender@example.org",
        &["alice@example.com", "bob@example.com"],
        &msg,
    )
    .await;
    assert!(r.iter().all(|r| r.starts_with("250 2.0.0")), "{r:?}");
    for user in ["alice@example.com", "bob@example.com"] {
        let files = local.inbox_new(user);
        assert_eq!(files.len(), 1);
        let body = strip_trace(&files[0], "sender@example.org", user, None);
        assert!(
            body == msg.as_slice(),
            "{user}: stored body differs ({} vs {} bytes)",
            body.len(),
            msg.len()
        );
    }
}

#[tokio::test]
async fn smuggled_commands_are_stored_as_content_not_as_a_second_message() {
    let cfg = SessionConfig {
        bare_newlines: mailstack_smtp::data::BareNewlines::Normalize,
        ..config()
    };
    let local = Local::new(|_| Ok(()));
    let mut s = TestSession::greeted(cfg, local.handler.clone()).await;
    let evil = b"Subject: x\r\n\r\nhi\n.\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: forged\r\n\r\nforged\r\n";
    let r = common::transaction(&mut s, "sender@example.org", &["alice@example.com"], evil).await;
    assert!(r[0].starts_with("250 2.0.0"), "{r:?}");
    s.send("NOOP").await;
    assert_eq!(s.reply().await, "250 2.0.0 Ok");
    assert!(
        local.inbox_new("bob@example.com").is_empty(),
        "a smuggled message was delivered"
    );
    let files = local.inbox_new("alice@example.com");
    assert_eq!(files.len(), 1);
    let body = strip_trace(&files[0], "sender@example.org", "alice@example.com", None);
    assert!(!common::has_bare_newline(body));
    assert!(String::from_utf8_lossy(body).contains("MAIL FROM:<evil@example.net>"));
}

#[tokio::test]
async fn directory_outage_is_a_temporary_failure_at_rcpt() {
    for dir in [FailingDirectory::unavailable(), FailingDirectory::invalid()] {
        let tmp = tempfile::tempdir().unwrap();
        let users = tmp.path().join("users.toml");
        let local = Local::with_directory(tmp, users, Arc::new(dir), 0, Vec::new());
        let mut s = TestSession::greeted(config(), local.handler.clone()).await;
        s.send("MAIL FROM:<sender@example.org>").await;
        s.expect("250 2.1.0").await;
        for rcpt in [
            "alice@example.com",
            "ghost@example.com",
            "alice+tag@example.com",
            "x@elsewhere.example",
        ] {
            s.send(&format!("RCPT TO:<{rcpt}>")).await;
            // Never "unknown user" (5xx) when the directory cannot answer.
            let r = s.expect("451 4.3.0").await;
            assert!(!r.starts_with('5'), "{r}");
        }
        s.send("DATA").await;
        s.expect("503 5.5.1").await;
    }
}

#[tokio::test]
async fn malformed_recipients_are_permanent_syntax_errors() {
    let local = Local::new(|_| Ok(()));
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    s.send("MAIL FROM:<sender@example.org>").await;
    s.expect("250 2.1.0").await;
    // Refused by the protocol parser.
    s.send("RCPT TO:<../../etc@example.com>").await;
    s.expect("501 5.1.3").await;
    // Parsed, then refused by the directory's address check (never a 4xx: retrying cannot help).
    s.send("RCPT TO:<>").await;
    s.expect("501 5.1.3").await;
    s.send("RCPT TO:<alice/x@example.com>").await;
    s.expect("501 5.1.3").await;
    s.send("DATA").await;
    s.expect("503 5.5.1").await;
    // Nothing was created outside the domain directories.
    assert!(!local.tmp.path().join("etc").exists());
    assert!(
        !local
            .root
            .join("example.com")
            .join("alice")
            .join("x")
            .exists()
    );
}

#[tokio::test]
async fn deliveries_are_counted_in_metrics() {
    let local = Local::new(|f| f.add_user("small@example.com", common::password_hash(), Some(100)));
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    let r = common::transaction(
        &mut s,
        "sender@example.org",
        &["alice@example.com", "small@example.com"],
        MSG,
    )
    .await;
    assert!(r[0].starts_with("250") && r[1].starts_with("552"), "{r:?}");
    let text = local.metrics.encode();
    assert!(
        text.lines()
            .any(|l| l.starts_with("mailstack_lmtp_deliveries_total{result=\"delivered\"} 1")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("mailstack_lmtp_deliveries_total{result=\"rejected\"} 1")),
        "{text}"
    );
}

/// FAILS (bug, see report): when *every* member of a group fails permanently, nobody has the
/// message, yet `LocalDelivery::deliver` answers `250 2.0.0 ... Saved` (the "list partly
/// failed" branch does not check that some member succeeded): the mail is silently lost.
#[tokio::test]
async fn group_whose_members_all_fail_permanently_is_not_reported_delivered() {
    let local = Local::new(|f| {
        f.add_user("small1@example.com", common::password_hash(), Some(100))?;
        f.add_user("small2@example.com", common::password_hash(), Some(100))?;
        f.add_group(
            "smalls@example.com",
            &["small1@example.com", "small2@example.com"],
        )
    });
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    let r = common::transaction(&mut s, "sender@example.org", &["smalls@example.com"], MSG).await;
    assert!(local.inbox_new("small1@example.com").is_empty());
    assert!(local.inbox_new("small2@example.com").is_empty());
    // Nobody got it: the reply must not claim delivery.
    assert!(
        r[0].starts_with("552 5.2.2"),
        "no member has the message, but the reply was {r:?}"
    );
}

/// FAILS (bug, see report): a quota of 0 means "no limit" to the store (Maildir++, Dovecot)
/// and `deliver` passes it on as such, but `LocalDelivery`'s RCPT-time quota check treats
/// `used >= 0` as full, so a user with `quota = 0` (which the users file and `mailctl user add
/// --quota 0` accept) is refused with `552 5.2.2 Mailbox is full` forever.
#[tokio::test]
async fn zero_quota_means_unlimited_as_in_the_store() {
    let local = Local::new(|f| {
        f.add_user("zero@example.com", common::password_hash(), Some(0))?;
        f.add_user("zerocount@example.com", common::password_hash(), None)?;
        f.user_mut("zerocount@example.com").unwrap().quota_messages = Some(0);
        Ok(())
    });
    let mut s = TestSession::greeted(config(), local.handler.clone()).await;
    s.send("MAIL FROM:<sender@example.org>").await;
    s.expect("250 2.1.0").await;
    for rcpt in ["zero@example.com", "zerocount@example.com"] {
        s.send(&format!("RCPT TO:<{rcpt}>")).await;
        let r = s.reply().await;
        assert!(
            r.starts_with("250 2.1.5"),
            "{rcpt} (quota 0 = unlimited) refused: {r:?}"
        );
    }
}
