//! Fuzz the interpreter: the input is a script, a NUL byte, and a message. Scripts that
//! compile run on the message under tight limits; the run must end (Ok or a RuntimeError)
//! without panicking, and an Ok outcome must respect the action and redirect limits.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mailstack_sieve::*;

struct Host;

impl Environment for Host {
    fn mailbox_exists(&self, name: &str) -> bool {
        name == "INBOX"
    }
    fn duplicate_check(&mut self, key: &str, _period: Duration) -> bool {
        key.len().is_multiple_of(2)
    }
    fn now(&self) -> DateTime {
        DateTime { unix: 1_183_456_800, offset_minutes: 120 }
    }
    fn user_addresses(&self) -> Vec<String> {
        vec!["me@example.com".into()]
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let Ok(src) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let mut limits = Limits::default();
    limits.max_steps = 50_000;
    let Ok(script) = compile(src, &limits) else {
        return;
    };
    let env = Envelope { from: "a@b.example".into(), to: "me@example.com".into(), auth: None };
    let msg = Message::new(&data[split + 1..]);
    if let Ok(o) = run(&[&script], &msg, &env, &mut Host, &limits) {
        assert!(o.actions.len() <= limits.max_actions);
        let redirects = o.actions.iter().filter(|a| matches!(a, Action::Redirect { .. })).count();
        assert!(redirects <= limits.max_redirects);
        for a in &o.actions {
            if let Action::Vacation(v) = a {
                let _ = build_vacation_reply(v, "me@example.com", Host.now());
            }
        }
    }
});
