//! Greeting, CAPABILITY, LOGIN, AUTHENTICATE PLAIN, refusals and the failure delay.

mod session_common;

use std::time::Duration;

use base64::Engine as _;
use mailstack_directory::AuthThrottle;
use mailstack_imap::session::Ending;
use session_common::{Env, ScriptedDirectory};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn greeting_capability_and_logout() {
    let env = Env::new();
    let mut c = env.client().await;
    assert!(
        c.greeting.starts_with("* OK [CAPABILITY IMAP4rev1 ")
            && c.greeting.ends_with("] mailstack ready"),
        "{}",
        c.greeting
    );
    assert!(c.greeting.contains("AUTH=PLAIN") && c.greeting.contains("SASL-IR"));
    assert!(c.greeting.contains(" IMAP4rev2 "), "{}", c.greeting);
    // No acceptor over an in-memory pipe: no STARTTLS.
    assert!(!c.greeting.contains("STARTTLS"));
    let r = c.cmd("a1 CAPABILITY").await;
    r.assert_ok();
    assert!(
        r.has("* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+"),
        "{}",
        r.text()
    );
    c.cmd("a2 NOOP").await.assert_ok();
    let r = c.cmd("a3 LOGOUT").await;
    assert_eq!(r.lines.len(), 2, "{}", r.text());
    assert!(r.text().starts_with("* BYE"));
    r.assert_ok();
    assert_eq!(c.ending().await, Ending::Logout);
}

#[tokio::test]
async fn login_ok_creates_default_folders() {
    let env = Env::new();
    let mut c = env.client().await;
    let r = c.cmd("a1 LOGIN alice@example.com secret").await;
    r.assert_ok();
    assert!(
        r.tagged().contains("[CAPABILITY IMAP4rev1"),
        "{}",
        r.tagged()
    );
    assert!(r.tagged().contains("IDLE"));
    let maildir = env.user("alice").maildir_path();
    for f in [".Sent", ".Drafts", ".Trash", ".Junk", ".Archive"] {
        assert!(maildir.join(f).join("cur").is_dir(), "{f} missing");
    }
    let r = c.cmd("a2 LIST \"\" \"*\"").await;
    r.assert_ok();
    assert!(
        r.has("* LIST (\\HasNoChildren) \".\" \"INBOX\""),
        "{}",
        r.text()
    );
    assert!(
        r.has("* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\""),
        "{}",
        r.text()
    );
    assert!(r.has("\\Trash) \".\" \"Trash\""));
    // Commands of the not-authenticated state are refused now.
    assert!(!c.cmd("a3 LOGIN alice@example.com secret").await.ok());
}

#[tokio::test]
async fn authenticate_plain_with_and_without_initial_response() {
    let env = Env::new();
    let mut c = env.client().await;
    let ir = b64("\0alice@example.com\0secret");
    c.cmd(&format!("a1 AUTHENTICATE PLAIN {ir}"))
        .await
        .assert_ok();

    let mut c = env.client().await;
    c.send("b1 AUTHENTICATE PLAIN").await;
    assert_eq!(c.line().await, "+ ");
    c.send(&b64("alice@example.com\0alice@example.com\0secret"))
        .await;
    c.until_tagged("b1").await.assert_ok();

    let mut c = env.client().await;
    c.send("c1 AUTHENTICATE PLAIN").await;
    assert_eq!(c.line().await, "+ ");
    c.send("*").await;
    assert!(c.until_tagged("c1").await.tagged().starts_with("c1 BAD"));

    let r = c.cmd("c2 AUTHENTICATE CRAM-MD5").await;
    assert!(r.tagged().starts_with("c2 NO [CANNOT]"), "{}", r.tagged());
}

#[tokio::test]
async fn plaintext_refused_without_tls() {
    let mut env = Env::new();
    env.config.allow_plaintext_auth = false;
    let mut c = env.client().await;
    assert!(c.greeting.contains("LOGINDISABLED"), "{}", c.greeting);
    assert!(!c.greeting.contains("AUTH=PLAIN"));
    let r = c.cmd("a1 LOGIN alice@example.com secret").await;
    assert!(
        r.tagged().starts_with("a1 NO [PRIVACYREQUIRED]"),
        "{}",
        r.tagged()
    );
    let r = c
        .cmd(&format!(
            "a2 AUTHENTICATE PLAIN {}",
            b64("\0alice@example.com\0secret")
        ))
        .await;
    assert!(
        r.tagged().starts_with("a2 NO [PRIVACYREQUIRED]"),
        "{}",
        r.tagged()
    );
    // Nothing else is reachable before login.
    assert!(
        c.cmd("a3 SELECT INBOX")
            .await
            .tagged()
            .starts_with("a3 BAD")
    );
}

#[tokio::test]
async fn wrong_password_is_refused() {
    let env = Env::new();
    let mut c = env.client().await;
    let r = c.cmd("a1 LOGIN alice@example.com wrong").await;
    assert!(
        r.tagged().starts_with("a1 NO [AUTHENTICATIONFAILED]"),
        "{}",
        r.tagged()
    );
    c.cmd("a2 LOGIN alice@example.com secret").await.assert_ok();
}

#[tokio::test(start_paused = true)]
async fn failure_delay_grows_then_disconnects() {
    let tmp = tempfile::tempdir().unwrap();
    let mut env = Env::with_directory(tmp, ScriptedDirectory::new(Ok(false)));
    let base = Duration::from_secs(2);
    env.config.throttle = AuthThrottle::new(base);
    let mut c = env.client().await;
    for n in 1..=2u32 {
        let start = tokio::time::Instant::now();
        let r = c.cmd(&format!("a{n} LOGIN alice@example.com x")).await;
        assert!(r.tagged().contains("NO [AUTHENTICATIONFAILED]"));
        let waited = start.elapsed();
        assert!(
            waited >= base * n && waited < base * n + Duration::from_millis(500),
            "failure {n} waited {waited:?}"
        );
    }
    let r = c.cmd("a3 LOGIN alice@example.com x").await;
    assert!(r.tagged().contains("NO [AUTHENTICATIONFAILED]"));
    assert!(c.line().await.starts_with("* BYE"));
    assert_eq!(c.ending().await, Ending::TooManyErrors);

    // A new connection does not start over: the address and the name have 3 failures.
    let mut c = env.client().await;
    let start = tokio::time::Instant::now();
    let r = c.cmd("b1 LOGIN bob@example.com x").await;
    assert!(r.tagged().contains("NO [AUTHENTICATIONFAILED]"));
    assert!(start.elapsed() >= base * 4, "waited {:?}", start.elapsed());
}

#[tokio::test]
async fn authenticate_login_with_and_without_initial_response() {
    let env = Env::new();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut c = env.client().await;
    c.send("a1 AUTHENTICATE LOGIN").await;
    assert_eq!(c.line().await, format!("+ {}", b64("Username:")));
    c.send(&b64("alice@example.com")).await;
    assert_eq!(c.line().await, format!("+ {}", b64("Password:")));
    c.send(&b64(session_common::PASSWORD)).await;
    let r = c.until_tagged("a1").await;
    assert!(r.tagged().starts_with("a1 OK"), "{}", r.tagged());

    let mut c = env.client().await;
    c.send(&format!(
        "a1 AUTHENTICATE LOGIN {}",
        b64("alice@example.com")
    ))
    .await;
    assert_eq!(c.line().await, format!("+ {}", b64("Password:")));
    c.send(&b64(session_common::PASSWORD)).await;
    c.until_tagged("a1").await.assert_ok();

    let mut c = env.client().await;
    c.send("a1 AUTHENTICATE LOGIN").await;
    c.line().await;
    c.send("*").await;
    let r = c.until_tagged("a1").await;
    assert!(r.tagged().starts_with("a1 BAD"), "{}", r.tagged());
}

#[tokio::test]
async fn directory_down_is_temporary() {
    let tmp = tempfile::tempdir().unwrap();
    let env = Env::with_directory(tmp, ScriptedDirectory::new(Err(())));
    let mut c = env.client().await;
    let r = c.cmd("a1 LOGIN alice@example.com secret").await;
    assert!(
        r.tagged().starts_with("a1 NO [UNAVAILABLE]"),
        "{}",
        r.tagged()
    );
}
