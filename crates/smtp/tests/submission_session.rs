//! The submission mode of the session, in memory: AUTH PLAIN and LOGIN exchanges (RFC 4954),
//! AUTH refused before TLS, MAIL refused before AUTH, the sender check, cancelled and
//! undecodable exchanges, and the disconnect after too many wrong passwords.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::{HOST, TestSession, config};
use mailstack_smtp::reply::Reply;
use mailstack_smtp::session::{Ending, Envelope, MailHandler, Mode, SessionConfig};
use mailstack_smtp::spool::Spool;

const ALICE: &str = "alice@example.com";

/// Logins: alice@example.com / pw; `down` makes the directory unavailable.
#[derive(Default)]
struct Handler {
    senders: Mutex<Vec<(String, Option<String>)>>,
    delivered: Mutex<usize>,
}

#[async_trait]
impl MailHandler for Handler {
    type Recipient = ();

    async fn authenticate(
        &self,
        _env: &Envelope,
        login: &str,
        password: &str,
    ) -> Result<String, Reply> {
        match (login, password) {
            (ALICE, "pw") | ("alice", "pw") => Ok(ALICE.to_string()),
            ("down", _) => Err(Reply::new(454, "4.7.0", "Temporary authentication failure")),
            _ => Err(Reply::new(
                535,
                "5.7.8",
                "Authentication credentials invalid",
            )),
        }
    }

    async fn check_sender(&self, env: &Envelope) -> Result<(), Reply> {
        self.senders
            .lock()
            .unwrap()
            .push((env.sender.clone(), env.auth_user.clone()));
        if env.auth_user.as_deref() == Some(env.sender.as_str()) {
            Ok(())
        } else {
            Err(Reply::new(553, "5.7.1", "not yours"))
        }
    }

    async fn check_recipient(&self, _env: &Envelope, _address: &str) -> Result<(), Reply> {
        Ok(())
    }

    async fn deliver(&self, env: &Envelope, _r: &[(String, ())], _m: &Spool) -> Vec<Reply> {
        assert_eq!(env.protocol, "ESMTPA");
        *self.delivered.lock().unwrap() += 1;
        vec![Reply::new(250, "2.0.0", "Ok: queued")]
    }
}

fn submission(plaintext: bool) -> SessionConfig {
    SessionConfig {
        mode: Mode::Submission,
        allow_plaintext_auth: plaintext,
        max_auth_failures: 3,
        ..config()
    }
}

async fn greeted(plaintext: bool) -> (TestSession, Arc<Handler>) {
    let h = Arc::new(Handler::default());
    let mut s = TestSession::new(submission(plaintext), h.clone());
    s.expect(&format!("220 {HOST} ESMTP")).await;
    s.send("EHLO client.test").await;
    let caps = s.expect("250-").await;
    assert_eq!(
        caps.contains("AUTH PLAIN LOGIN"),
        plaintext,
        "AUTH offered only when allowed: {caps}"
    );
    (s, h)
}

#[tokio::test]
async fn auth_before_tls_is_refused_and_mail_needs_auth() {
    let (mut s, h) = greeted(false).await;
    s.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHB3").await;
    s.expect("538 5.7.11").await;
    s.send("MAIL FROM:<alice@example.com>").await;
    s.expect("530 5.7.0").await;
    assert!(h.senders.lock().unwrap().is_empty());
}

#[tokio::test]
async fn plain_with_initial_response_then_a_message() {
    let (mut s, h) = greeted(true).await;
    // \0alice@example.com\0pw
    s.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHB3").await;
    s.expect("235 2.7.0").await;
    s.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHB3").await;
    s.expect("503 5.5.1").await;
    s.send("MAIL FROM:<bob@example.com>").await;
    s.expect("553 5.7.1").await;
    s.send("MAIL FROM:<alice@example.com> AUTH=<>").await;
    s.expect("250").await;
    s.send("RCPT TO:<x@example.org>").await;
    s.expect("250").await;
    s.send("DATA").await;
    s.expect("354").await;
    s.send("Subject: x\r\n\r\nbody\r\n.").await;
    s.expect("250 2.0.0 Ok: queued").await;
    assert_eq!(*h.delivered.lock().unwrap(), 1);
    assert_eq!(
        h.senders.lock().unwrap().last().unwrap(),
        &(ALICE.to_string(), Some(ALICE.to_string()))
    );
}

#[tokio::test]
async fn plain_with_a_challenge_and_login_step_by_step() {
    let (mut s, _) = greeted(true).await;
    s.send("AUTH PLAIN").await;
    assert_eq!(s.reply().await, "334 ");
    s.send("AGFsaWNlQGV4YW1wbGUuY29tAHB3").await;
    s.expect("235 2.7.0").await;

    let (mut s, _) = greeted(true).await;
    s.send("AUTH LOGIN").await;
    assert_eq!(s.reply().await, "334 VXNlcm5hbWU6");
    s.send("YWxpY2U=").await; // alice
    assert_eq!(s.reply().await, "334 UGFzc3dvcmQ6");
    s.send("cHc=").await; // pw
    s.expect("235 2.7.0").await;

    // LOGIN with the user name as initial response.
    let (mut s, _) = greeted(true).await;
    s.send("AUTH LOGIN YWxpY2U=").await;
    assert_eq!(s.reply().await, "334 UGFzc3dvcmQ6");
    s.send("cHc=").await;
    s.expect("235 2.7.0").await;
}

#[tokio::test]
async fn cancelled_undecodable_and_unknown_mechanisms() {
    let (mut s, _) = greeted(true).await;
    s.send("AUTH LOGIN").await;
    s.expect("334").await;
    s.send("*").await;
    s.expect("501 5.0.0").await;
    s.send("AUTH PLAIN not-base64!").await;
    s.expect("501 5.5.2").await;
    // Valid base64, but not `authz\0authc\0pass`.
    s.send("AUTH PLAIN YWxpY2U=").await;
    s.expect("501 5.5.2").await;
    s.send("AUTH CRAM-MD5").await;
    s.expect("504 5.5.4").await;
    // Acting as someone else is refused like a wrong password.
    s.send("AUTH PLAIN Ym9iAGFsaWNlQGV4YW1wbGUuY29tAHB3").await; // bob\0alice@..\0pw
    s.expect("535 5.7.8").await;
    s.send("AUTH PLAIN AGRvd24AcHc=").await; // \0down\0pw
    s.expect("454 4.7.0").await;
    // None of those closed the session: the right password still works.
    s.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHB3").await;
    s.expect("235 2.7.0").await;
}

#[tokio::test]
async fn auth_is_not_allowed_inside_a_transaction_or_before_ehlo() {
    let h = Arc::new(Handler::default());
    let mut s = TestSession::new(submission(true), h);
    s.expect("220").await;
    s.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHB3").await;
    s.expect("503 5.5.1").await;
    s.send("EHLO c").await;
    s.expect("250-").await;
    s.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHB3").await;
    s.expect("235").await;
    s.send("MAIL FROM:<alice@example.com>").await;
    s.expect("250").await;
    s.send("AUTH LOGIN").await;
    s.expect("503 5.5.1").await;
}

#[tokio::test]
async fn three_wrong_passwords_close_the_connection() {
    let (mut s, _) = greeted(true).await;
    for _ in 0..2 {
        s.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHdyb25n").await;
        s.expect("535 5.7.8").await;
    }
    s.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHdyb25n").await;
    s.expect("535 5.7.8").await;
    s.expect("421 4.7.0").await;
    s.expect_closed().await;
    assert_eq!(s.ending().await, Ending::TooManyErrors);
}

#[tokio::test]
async fn other_modes_do_not_know_auth() {
    let h = Arc::new(Handler::default());
    let mut s = TestSession::new(
        SessionConfig {
            mode: Mode::Smtp,
            allow_plaintext_auth: true,
            ..config()
        },
        h,
    );
    s.expect("220").await;
    s.send("EHLO c").await;
    let caps = s.expect("250-").await;
    assert!(!caps.contains("AUTH"), "{caps}");
    s.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHB3").await;
    s.expect("502 5.5.1").await;
    s.send("MAIL FROM:<a@b.example> AUTH=<>").await;
    s.expect("555").await;
}
