//! Test harness for the queue: options with tiny durations, a recording fake [`Transport`]
//! whose answers a test scripts, and polling helpers (no fixed sleeps).
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mailstack_queue::{
    DeliveryOutcome, DeliveryRequest, Envelope, Queue, QueueOptions, RecipientOutcome,
    RecipientSpec, RetryPolicy, Transport,
};

/// Host name used in DSNs.
pub const HOST: &str = "mx.test";

/// Options with a small retry policy (50 ms min backoff) and no warnings.
pub fn options(dir: &Path) -> QueueOptions {
    QueueOptions {
        dir: dir.to_path_buf(),
        fsync: true,
        retry: RetryPolicy {
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(400),
            max_lifetime: Duration::from_secs(3600),
            warn_after: None,
        },
        max_concurrent_deliveries: 4,
        hostname: HOST.to_string(),
    }
}

/// An envelope from `sender` to `rcpts` with default DSN parameters.
pub fn envelope(sender: &str, rcpts: &[&str]) -> Envelope {
    Envelope {
        sender: sender.to_string(),
        recipients: rcpts.iter().map(|r| RecipientSpec::new(*r)).collect(),
        env_id: None,
        ret_full: false,
        smtputf8: false,
        received_from: "client.test [192.0.2.1]".to_string(),
    }
}

pub const MESSAGE: &[u8] =
    b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hello\r\nMessage-ID: <m1@example.com>\r\n\r\nBody line\r\n.dot line\r\n";

/// One recorded call of the fake transport.
#[derive(Debug, Clone)]
pub struct Call {
    pub req: DeliveryRequest,
    /// The message file's content at delivery time.
    pub message: Vec<u8>,
}

type Script = Box<dyn FnMut(&DeliveryRequest) -> DeliveryOutcome + Send>;

/// A transport that records every request and answers with a scripted function.
pub struct FakeTransport {
    script: Mutex<Script>,
    calls: Mutex<Vec<Call>>,
}

impl FakeTransport {
    pub fn new(
        script: impl FnMut(&DeliveryRequest) -> DeliveryOutcome + Send + 'static,
    ) -> Arc<FakeTransport> {
        Arc::new(FakeTransport {
            script: Mutex::new(Box::new(script)),
            calls: Mutex::new(Vec::new()),
        })
    }

    /// Delivers everything.
    pub fn delivering() -> Arc<FakeTransport> {
        FakeTransport::new(|req| all(req, |_| delivered()))
    }

    /// Replace the script.
    pub fn set(&self, script: impl FnMut(&DeliveryRequest) -> DeliveryOutcome + Send + 'static) {
        *self.script.lock().unwrap() = Box::new(script);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Calls for messages from a real sender (not DSNs).
    pub fn calls_from(&self, sender: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.req.sender == sender)
            .collect()
    }

    /// DSNs delivered (calls with the null sender).
    pub fn dsns(&self) -> Vec<Call> {
        self.calls_from("")
    }
}

#[async_trait]
impl Transport for FakeTransport {
    async fn deliver(&self, req: &DeliveryRequest) -> DeliveryOutcome {
        let message = std::fs::read(&req.message_path).unwrap_or_default();
        self.calls.lock().unwrap().push(Call {
            req: req.clone(),
            message,
        });
        (self.script.lock().unwrap())(req)
    }
}

/// The same outcome for every recipient, computed by `f` from the address.
pub fn all(req: &DeliveryRequest, f: impl Fn(&str) -> RecipientOutcome) -> DeliveryOutcome {
    DeliveryOutcome::PerRecipient(req.recipients.iter().map(|r| f(r)).collect())
}

pub fn delivered() -> RecipientOutcome {
    RecipientOutcome::Delivered {
        reply: "250 2.0.0 Saved".to_string(),
    }
}

pub fn deferred() -> RecipientOutcome {
    RecipientOutcome::Deferred {
        reply: "451 4.3.0 Try again later".to_string(),
    }
}

pub fn failed() -> RecipientOutcome {
    RecipientOutcome::Failed {
        reply: "550 5.1.1 <x> User unknown".to_string(),
        status: "5.1.1".to_string(),
    }
}

/// Poll `cond` every 5 ms until it holds; panic after 10 s.
pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Open a queue in `dir` with `opts`.
pub async fn open(opts: QueueOptions) -> Queue {
    Queue::open(opts).await.expect("open queue")
}

/// Names of the files in `dir` (sorted).
pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
