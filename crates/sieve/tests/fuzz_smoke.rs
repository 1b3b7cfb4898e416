//! A stable-toolchain fuzz smoke test (the libFuzzer targets in `crates/sieve/fuzz` need
//! nightly and cargo-fuzz): deterministic pseudo-random and mutated scripts through `compile`,
//! and those that compile through `run` on mutated messages. Asserts no panic, error
//! positions inside the script, and that the limits hold (actions, redirects, steps as time).

use std::time::{Duration, Instant};

use mailstack_sieve::*;

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SCRIPTS: &[&str] = &[
    "require [\"fileinto\", \"imap4flags\", \"variables\"];\nif header :matches \"subject\" \"[*] *\" { addflag \"\\\\Seen\"; fileinto :flags \"${1}\" \"L.${1}\"; stop; }",
    "require [\"envelope\", \"subaddress\", \"copy\"];\nif envelope :detail \"to\" \"foo\" { redirect :copy \"ken@example.net\"; } elsif anyof (true, false) { keep; }",
    "require [\"relational\", \"comparator-i;ascii-numeric\"];\nif address :count \"ge\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] [\"3\"] { discard; }",
    "require [\"body\", \"regex\", \"variables\"];\nif body :content \"text\" :regex \"(a+)+b\" { set :upper \"x\" \"${1}\"; } if string :is \"${x}\" \"\" { keep; }",
    "require [\"vacation\", \"vacation-seconds\"];\nvacation :seconds 60 :subject \"Re\" :from \"me@example.com\" :addresses [\"me@example.com\"] :mime :handle \"h\" text:\nContent-Type: text/plain\n\nAway\n..dot\n.\n;",
    "require [\"date\", \"index\", \"relational\", \"encoded-character\"];\nif date :value \"ge\" :index 1 :last :zone \"+0100\" \"received\" \"iso8601\" \"${hex:32}007\" { discard; } /* c */ # x",
    "require [\"duplicate\", \"mailbox\", \"fileinto\", \"reject\"];\nif duplicate :seconds 60 :header \"message-id\" { fileinto :create \"Dup\"; } if mailboxexists \"X\" { reject \"no\"; }",
    "require [\"ereject\", \"variables\"]; set :length \"n\" \"${unknown}\"; if size :over 1K { ereject \"${n}\"; }",
    "if exists [\"From\",\"Date\"] { if not header :is \"x\" \"\" { redirect \"a@b.c\"; redirect \"d@e.f\"; redirect \"g@h.i\"; redirect \"j@k.l\"; redirect \"m@n.o\"; } }",
];

const MESSAGES: &[&[u8]] = &[
    b"From: a@b.c\r\nTo: me@example.com, x@y.z\r\nCc: q@r.s\r\nSubject: [list] hello\r\nDate: Tue, 3 Jul 2007 09:00:00 -0700\r\nReceived: x; Mon, 26 Feb 2007 16:00:00 +0000\r\n\r\nbody aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac\r\n",
    b"From: \"x\" <y@z>\r\nContent-Type: multipart/mixed; boundary=b\r\nSubject: =?utf-8?b?w6k=?=\r\n\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>=C3=A9</p>\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n",
];

const INTERESTING: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ";",
    "\"",
    "\\",
    ":",
    "*",
    "?",
    "${",
    "${1}",
    "${hex:",
    "text:\n",
    "\n.\n",
    "/*",
    "*/",
    "#",
    " if ",
    " not ",
    " anyof (",
    "allof(",
    "header",
    ":matches",
    ":regex",
    ":count \"gt\"",
    ":value \"lt\"",
    ":comparator \"i;ascii-numeric\"",
    "99999999999999999999",
    "1G",
    "\u{e9}",
    "\0",
];

fn mutate(rng: &mut Rng, s: &mut String) {
    for _ in 0..=rng.below(5) {
        let len = s.len();
        let at = {
            let mut i = rng.below(len + 1);
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        match rng.below(6) {
            0 => s.insert_str(at, INTERESTING[rng.below(INTERESTING.len())]),
            1 if len > 0 => {
                let mut end = (at + rng.below(16)).min(len);
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.replace_range(at..end, "");
            }
            2 => {
                let other = SCRIPTS[rng.below(SCRIPTS.len())];
                let mut cut = rng.below(other.len() + 1);
                while !other.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(at);
                s.push_str(&other[cut..]);
            }
            3 => {
                let what = INTERESTING[rng.below(INTERESTING.len())];
                for _ in 0..rng.below(50) {
                    s.insert_str(at, what);
                }
            }
            4 => s.insert(at, char::from(b' ' + (rng.next() % 95) as u8)),
            _ => s.truncate(at),
        }
        if s.len() > 8192 {
            let mut cut = 8192;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
        }
    }
}

fn mutate_bytes(rng: &mut Rng, m: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let len = m.len();
        let at = rng.below(len + 1);
        match rng.below(4) {
            0 if len > 0 => m[rng.below(len)] ^= 1 << rng.below(8),
            1 => m
                .splice(at..at, b"\r\nX-H: v\r\n".iter().copied())
                .for_each(drop),
            2 => m.insert(at, rng.next() as u8),
            _ => m.truncate(at),
        }
    }
}

struct Host;

impl Environment for Host {
    fn mailbox_exists(&self, name: &str) -> bool {
        name == "INBOX"
    }
    fn duplicate_check(&mut self, key: &str, _period: Duration) -> bool {
        key.len().is_multiple_of(2)
    }
    fn now(&self) -> DateTime {
        DateTime {
            unix: 1_183_456_800,
            offset_minutes: 120,
        }
    }
    fn user_addresses(&self) -> Vec<String> {
        vec!["me@example.com".into()]
    }
}

#[test]
fn compile_and_run_survive_mutated_input() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut limits = Limits::default();
    limits.max_steps = 20_000;
    let env = Envelope {
        from: "a@b.example".into(),
        to: "me@example.com".into(),
        auth: None,
    };
    let (mut compiled, mut ran, mut errors) = (0usize, 0usize, 0usize);
    let mut slowest = Duration::ZERO;
    for i in 0..60_000 {
        let src = if i % 10 == 0 {
            let n = rng.below(200);
            (0..n)
                .map(|_| char::from(b' ' + (rng.next() % 95) as u8))
                .collect()
        } else {
            let mut s = SCRIPTS[rng.below(SCRIPTS.len())].to_string();
            // three in ten keep the script intact, to stress run() with mutated messages
            if i % 10 > 3 {
                mutate(&mut rng, &mut s);
            }
            s
        };
        match compile(&src, &limits) {
            Err(e) => {
                errors += 1;
                assert!(e.line >= 1 && e.column >= 1, "{e}");
                assert!(
                    e.line as usize <= src.split('\n').count() + 1,
                    "{e} for {src:?}"
                );
            }
            Ok(script) => {
                compiled += 1;
                let mut m = MESSAGES[rng.below(MESSAGES.len())].to_vec();
                mutate_bytes(&mut rng, &mut m);
                let start = Instant::now();
                let r = run(&[&script], &Message::new(&m), &env, &mut Host, &limits);
                slowest = slowest.max(start.elapsed());
                if let Ok(o) = r {
                    ran += 1;
                    assert!(o.actions.len() <= limits.max_actions);
                    let redirects = o
                        .actions
                        .iter()
                        .filter(|a| matches!(a, Action::Redirect { .. }))
                        .count();
                    assert!(redirects <= limits.max_redirects);
                    for a in &o.actions {
                        if let Action::Vacation(v) = a {
                            let reply = build_vacation_reply(v, "me@example.com", Host.now());
                            assert!(reply.windows(14).any(|w| w == b"Auto-Submitted"));
                        }
                    }
                }
            }
        }
    }
    // the corpus must keep exercising both paths
    assert!(
        compiled > 15_000 && errors > 20_000 && ran > 10_000,
        "{compiled} {errors} {ran}"
    );
    assert!(slowest < Duration::from_secs(2), "a run took {slowest:?}");
}
