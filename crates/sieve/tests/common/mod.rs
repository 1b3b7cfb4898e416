//! Test harness: an in-memory [`Environment`] and a compact text form of an [`Outcome`] so
//! expected results read like the RFC prose ("fileinto INBOX.harassment", "implicit keep").
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use mailstack_sieve::*;

/// In-memory host: a set of mailboxes, a duplicate store keyed by (key) with a fake clock.
pub struct TestEnv {
    pub mailboxes: Vec<String>,
    pub seen: HashMap<String, i64>,
    pub now: DateTime,
    pub user: Vec<String>,
    pub checks: Vec<(String, Duration)>,
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv {
            mailboxes: vec!["INBOX".into()],
            seen: HashMap::new(),
            // Tue, 3 Jul 2007 10:00:00 +0000
            now: DateTime {
                unix: 1_183_456_800,
                offset_minutes: 0,
            },
            user: vec!["me@example.com".into()],
            checks: Vec::new(),
        }
    }
}

impl Environment for TestEnv {
    fn mailbox_exists(&self, name: &str) -> bool {
        self.mailboxes.iter().any(|m| m == name)
    }
    fn duplicate_check(&mut self, key: &str, period: Duration) -> bool {
        self.checks.push((key.to_string(), period));
        let now = self.now.unix;
        match self.seen.get(key) {
            Some(t) if now - t < period.as_secs() as i64 => true,
            _ => {
                self.seen.insert(key.to_string(), now);
                false
            }
        }
    }
    fn duplicate_check_last(&mut self, key: &str, period: Duration) -> bool {
        let r = self.duplicate_check(key, period);
        self.seen.insert(key.to_string(), self.now.unix);
        r
    }
    fn now(&self) -> DateTime {
        self.now
    }
    fn user_addresses(&self) -> Vec<String> {
        self.user.clone()
    }
}

/// A default envelope: from coyote@desert.example.org to me@example.com.
pub fn envelope() -> Envelope {
    Envelope {
        from: "coyote@desert.example.org".into(),
        to: "me@example.com".into(),
        auth: None,
    }
}

/// A small message: the header lines given, then a body.
pub fn msg(headers: &str, body: &str) -> Vec<u8> {
    let mut s = String::new();
    for l in headers.lines() {
        let l = l.trim_start();
        if !l.is_empty() {
            s.push_str(l);
            s.push_str("\r\n");
        }
    }
    s.push_str("\r\n");
    s.push_str(body);
    s.into_bytes()
}

/// The default message used when a case does not care.
pub fn plain() -> Vec<u8> {
    msg(
        "From: coyote@desert.example.org
         To: me@example.com
         Subject: I have a present for you
         Date: Tue, 3 Jul 2007 09:00:00 -0700
         Message-ID: <1234@desert.example.org>",
        "Look, I'm sorry about the whole anvil thing.\r\n",
    )
}

pub fn fmt(o: &Outcome) -> Vec<String> {
    let flags = |f: &[String]| {
        if f.is_empty() {
            String::new()
        } else {
            format!(" [{}]", f.join(" "))
        }
    };
    let mut out: Vec<String> = o
        .actions
        .iter()
        .map(|a| match a {
            Action::Keep { flags: f } => format!("keep{}", flags(f)),
            Action::FileInto {
                mailbox,
                flags: f,
                create,
                copy,
            } => format!(
                "fileinto {mailbox}{}{}{}",
                if *copy { " :copy" } else { "" },
                if *create { " :create" } else { "" },
                flags(f)
            ),
            Action::Redirect { address, copy } => {
                format!("redirect {address}{}", if *copy { " :copy" } else { "" })
            }
            Action::Reject { reason } => format!("reject {reason}"),
            Action::Ereject { reason } => format!("ereject {reason}"),
            Action::Discard => "discard".into(),
            Action::Vacation(v) => format!(
                "vacation to={} subject={} period={}",
                v.to,
                v.subject,
                v.period.as_secs()
            ),
            other => format!("{other:?}"),
        })
        .collect();
    if o.implicit_keep {
        out.push(format!("implicit keep{}", flags(&o.implicit_keep_flags)));
    }
    out
}

/// Compiles and runs one script; panics on compile errors (with the message).
pub fn run_with(
    script: &str,
    message: &[u8],
    env: &Envelope,
    host: &mut TestEnv,
) -> Result<Outcome, RuntimeError> {
    let limits = Limits::default();
    let s = compile(script, &limits).unwrap_or_else(|e| panic!("compile: {e}\n{script}"));
    run(&[&s], &Message::new(message), env, host, &limits)
}

/// Runs and formats; panics on runtime errors.
pub fn actions(script: &str, message: &[u8]) -> Vec<String> {
    fmt(&run_with(script, message, &envelope(), &mut TestEnv::default()).unwrap())
}

pub fn actions_env(script: &str, message: &[u8], env: &Envelope) -> Vec<String> {
    fmt(&run_with(script, message, env, &mut TestEnv::default()).unwrap())
}

/// The compile error text of a script that must not compile.
pub fn compile_err(script: &str) -> String {
    compile(script, &Limits::default())
        .expect_err("script compiled")
        .to_string()
}
