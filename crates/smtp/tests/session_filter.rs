//! The session's content-filter hooks (what smtp-mta's milters plug into), in memory: a handler
//! whose [`SessionFilter`] records the events it gets and refuses what the test tells it to.
//! Checks the order (the handler's checks before the filter's), per-recipient refusals, the
//! DATA/BDAT stage, RSET, refusals at connect (`554` then `503`, or `421`), `421` closing the
//! session, and that the message reaches the filter through `deliver_filtered`.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::{HOST, TestSession};
use mailstack_smtp::reply::Reply;
use mailstack_smtp::session::{
    Ending, Envelope, Filtered, FilteredMessage, MailHandler, Mode, RecipientParams, SessionConfig,
    SessionFilter,
};
use mailstack_smtp::spool::Spool;

type Log = Arc<Mutex<Vec<String>>>;

/// Refuses with `Reply` when the event's text matches.
#[derive(Clone, Default)]
struct Script {
    connect: Option<Reply>,
    refuse: Vec<(String, Reply)>,
}

struct RecordingFilter {
    log: Log,
    script: Script,
}

impl RecordingFilter {
    fn event(&self, what: String) -> Result<(), Reply> {
        self.log.lock().unwrap().push(what.clone());
        match self.script.refuse.iter().find(|(w, _)| *w == what) {
            Some((_, r)) => Err(r.clone()),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl SessionFilter for RecordingFilter {
    async fn helo(&mut self, env: &Envelope) -> Result<(), Reply> {
        self.event(format!("helo {}", env.helo))
    }
    async fn mail(&mut self, env: &Envelope) -> Result<(), Reply> {
        self.event(format!("mail {}", env.sender))
    }
    async fn rcpt(&mut self, _: &Envelope, a: &str, _: &RecipientParams) -> Result<(), Reply> {
        self.event(format!("rcpt {a}"))
    }
    async fn data(&mut self, _: &Envelope) -> Result<(), Reply> {
        self.event("data".into())
    }
    async fn message(&mut self, _: &Envelope, rcpts: &[String], message: Vec<u8>) -> Filtered {
        let _ = self.event(format!("message {} for {}", message.len(), rcpts.join(",")));
        let mut edited = b"X-Filtered: yes\r\n".to_vec();
        edited.extend_from_slice(&message);
        Filtered::Accept(FilteredMessage {
            message: edited,
            ..FilteredMessage::default()
        })
    }
    async fn abort(&mut self) {
        let _ = self.event("abort".into());
    }
    async fn close(self: Box<Self>) {
        let _ = self.event("close".into());
    }
}

struct Handler {
    log: Log,
    script: Script,
    delivered: Mutex<Vec<Vec<u8>>>,
}

#[async_trait]
impl MailHandler for Handler {
    type Recipient = ();

    async fn check_recipient(&self, _: &Envelope, address: &str) -> Result<(), Reply> {
        self.log.lock().unwrap().push(format!("check {address}"));
        if address.starts_with("unknown@") {
            return Err(Reply::new(550, "5.1.1", "unknown user"));
        }
        Ok(())
    }

    async fn deliver(&self, _: &Envelope, _: &[(String, ())], _: &Spool) -> Vec<Reply> {
        panic!("deliver_filtered is called when there is a filter");
    }

    async fn open_filter(&self, _: &Envelope) -> Result<Option<Box<dyn SessionFilter>>, Reply> {
        if let Some(r) = &self.script.connect {
            return Err(r.clone());
        }
        Ok(Some(Box::new(RecordingFilter {
            log: self.log.clone(),
            script: self.script.clone(),
        })))
    }

    async fn deliver_filtered(
        &self,
        env: &Envelope,
        rcpts: &[(String, ())],
        message: &Spool,
        filter: Option<&mut (dyn SessionFilter + 'static)>,
    ) -> Vec<Reply> {
        let filter = filter.expect("the session passes its filter");
        let addresses: Vec<String> = rcpts.iter().map(|(a, ())| a.clone()).collect();
        match filter
            .message(env, &addresses, message.read_all().unwrap())
            .await
        {
            Filtered::Accept(m) => {
                self.delivered.lock().unwrap().push(m.message);
                vec![Reply::new(250, "2.0.0", "queued")]
            }
            Filtered::Refuse(r) => vec![r],
            Filtered::Discard => vec![Reply::new(250, "2.0.0", "queued")],
        }
    }
}

fn handler(script: Script) -> (Arc<Handler>, Log) {
    let log = Log::default();
    let h = Arc::new(Handler {
        log: log.clone(),
        script,
        delivered: Mutex::new(Vec::new()),
    });
    (h, log)
}

fn smtp() -> SessionConfig {
    SessionConfig::new(Mode::Smtp, HOST)
}

async fn greeted(h: Arc<Handler>) -> TestSession {
    let mut s = TestSession::new(smtp(), h);
    s.expect("220 ").await;
    s.send("EHLO client.test").await;
    s.expect("250").await;
    s
}

#[tokio::test]
async fn events_reach_the_filter_after_the_handlers_checks() {
    let (h, log) = handler(Script {
        refuse: vec![(
            "rcpt bad@example.com".into(),
            Reply::new(550, "", "5.7.1 refused by filter"),
        )],
        ..Script::default()
    });
    let mut s = greeted(h.clone()).await;
    s.send("MAIL FROM:<s@remote.test>").await;
    s.expect("250").await;
    s.send("RCPT TO:<unknown@example.com>").await;
    s.expect("550 5.1.1").await;
    s.send("RCPT TO:<bad@example.com>").await;
    assert_eq!(s.reply().await, "550 5.7.1 refused by filter");
    s.send("RCPT TO:<good@example.com>").await;
    s.expect("250").await;
    s.send("DATA").await;
    s.expect("354").await;
    s.send_raw(b"Subject: x\r\n\r\nhi\r\n.\r\n").await;
    s.expect("250 2.0.0 queued").await;
    s.send("MAIL FROM:<s@remote.test>").await;
    s.expect("250").await;
    s.send("RSET").await;
    s.expect("250").await;
    s.send("QUIT").await;
    s.expect("221").await;
    assert_eq!(s.ending().await, Ending::Quit);
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "helo client.test",
            "mail s@remote.test",
            "check unknown@example.com",
            "check bad@example.com",
            "rcpt bad@example.com",
            "check good@example.com",
            "rcpt good@example.com",
            "data",
            "message 18 for good@example.com",
            "mail s@remote.test",
            "abort",
            "close",
        ]
    );
    let delivered = h.delivered.lock().unwrap();
    assert!(delivered[0].starts_with(b"X-Filtered: yes\r\nSubject: x\r\n"));
}

#[tokio::test]
async fn a_refusal_at_data_or_the_first_bdat_ends_the_transaction() {
    let (h, log) = handler(Script {
        refuse: vec![(
            "data".into(),
            Reply::new(451, "4.7.1", "Service unavailable - try again later"),
        )],
        ..Script::default()
    });
    let mut s = greeted(h).await;
    s.send("MAIL FROM:<s@remote.test>").await;
    s.expect("250").await;
    s.send("RCPT TO:<good@example.com>").await;
    s.expect("250").await;
    s.send("DATA").await;
    s.expect("451 4.7.1").await;
    // The transaction is over: DATA again needs MAIL.
    s.send("DATA").await;
    s.expect("503").await;
    s.send("MAIL FROM:<s@remote.test>").await;
    s.expect("250").await;
    s.send("RCPT TO:<good@example.com>").await;
    s.expect("250").await;
    s.send_raw(b"BDAT 5\r\nabcde").await;
    s.expect("451 4.7.1").await;
    s.send_raw(b"BDAT 3 LAST\r\nxyz").await;
    s.expect("503").await;
    s.send("NOOP").await;
    s.expect("250").await;
    let log = log.lock().unwrap().clone();
    assert_eq!(log.iter().filter(|l| *l == "data").count(), 2);
    assert_eq!(log.iter().filter(|l| *l == "abort").count(), 2);
}

#[tokio::test]
async fn a_421_from_the_filter_closes_the_session() {
    let (h, _) = handler(Script {
        refuse: vec![(
            "mail s@remote.test".into(),
            Reply::new(421, "4.7.0", "mx.test Server closing connection"),
        )],
        ..Script::default()
    });
    let mut s = greeted(h).await;
    s.send("MAIL FROM:<s@remote.test>").await;
    s.expect("421 4.7.0").await;
    s.expect_closed().await;
    assert_eq!(s.ending().await, Ending::Refused);
}

#[tokio::test]
async fn refusals_at_connect() {
    let (h, _) = handler(Script {
        connect: Some(Reply::new(554, "5.7.1", "go away")),
        ..Script::default()
    });
    let mut s = TestSession::new(smtp(), h);
    s.expect("554 5.7.1 go away").await;
    s.send("EHLO client.test").await;
    s.expect("503 5.5.1").await;
    s.send("MAIL FROM:<a@b>").await;
    s.expect("503 5.5.1").await;
    s.send("QUIT").await;
    s.expect("221").await;
    assert_eq!(s.ending().await, Ending::Refused);

    let (h, _) = handler(Script {
        connect: Some(Reply::new(421, "4.7.1", "try later")),
        ..Script::default()
    });
    let mut s = TestSession::new(smtp(), h);
    s.expect("421 4.7.1 try later").await;
    s.expect_closed().await;
    assert_eq!(s.ending().await, Ending::Refused);
}
