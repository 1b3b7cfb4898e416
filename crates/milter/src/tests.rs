//! Unit tests: the codec, addresses, reply-code validation, message edits, and the client and
//! chain against an in-process fake milter (a tokio task speaking the filter side).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::proto::{self, Modification, Packet, Response, action, cmd, flag, rsp};
use crate::*;

// --- codec ---------------------------------------------------------------------------------

#[test]
fn packets_have_length_code_and_data() {
    let p = proto::encode::optneg(6, action::V6, flag::V6);
    let bytes = p.encode();
    assert_eq!(&bytes[..4], &13u32.to_be_bytes());
    assert_eq!(bytes[4], b'O');
    assert_eq!(&bytes[5..9], &6u32.to_be_bytes());
    let m = proto::encode::macros(cmd::MAIL, &[("i".into(), "Q1".into())]);
    assert_eq!(m.data, b"Mi\0Q1\0");
    let h = proto::encode::header("Subject", b"a\0b");
    assert_eq!(h.data, b"Subject\0a\0", "a NUL in a value ends it");
    let c = proto::encode::connect("unknown", &Peer::Inet("192.0.2.1:4000".parse().unwrap()));
    assert_eq!(c.data, b"unknown\x004\x0f\xa0192.0.2.1\0");
    let r = proto::encode::address(cmd::RCPT, "a@b", &["NOTIFY=NEVER".into()]);
    assert_eq!(r.data, b"<a@b>\0NOTIFY=NEVER\0");
}

#[test]
fn replies_decode() {
    let d = |code: u8, data: &[u8]| proto::decode(&Packet::new(code, data.to_vec()));
    assert_eq!(d(rsp::CONTINUE, b"").unwrap(), Response::Continue);
    assert!(d(rsp::CONTINUE, b"x").is_err(), "data on a bare reply");
    assert_eq!(
        d(rsp::REPLYCODE, b"554 5.7.1 no\0").unwrap(),
        Response::ReplyCode("554 5.7.1 no".into())
    );
    assert_eq!(
        d(rsp::INSHEADER, b"\0\0\0\x02X-A\0v\0").unwrap(),
        Response::Modify(Modification::InsertHeader {
            index: 2,
            name: "X-A".into(),
            value: b"v".to_vec()
        })
    );
    assert_eq!(
        d(rsp::CHGFROM, b"<a@b>\0").unwrap(),
        Response::Modify(Modification::ChangeFrom {
            sender: "<a@b>".into(),
            args: None
        })
    );
    assert_eq!(
        d(rsp::ADDRCPT_PAR, b"<c@d>\0NOTIFY=NEVER\0").unwrap(),
        Response::Modify(Modification::AddRcpt {
            rcpt: "<c@d>".into(),
            args: Some("NOTIFY=NEVER".into())
        })
    );
    assert!(d(rsp::ADDHEADER, b"X-A\0no-nul").is_err());
    assert!(d(rsp::CHGHEADER, b"\0\0").is_err(), "short index");
    assert!(d(b'Z', b"").is_err(), "unknown code");
    let neg = d(
        rsp::OPTNEG,
        b"\0\0\0\x06\0\0\0\x01\0\0\0\x00\0\0\0\x02i {mail_addr}\0",
    )
    .unwrap();
    let Response::OptNeg(n) = neg else { panic!() };
    assert_eq!(n.macros, vec![(proto::Stage::Mail, "i {mail_addr}".into())]);
    assert!(d(rsp::OPTNEG, b"\0\0\0\x06\0\0\0\x01\0\0\0\x00\0\0\0\x09i\0").is_err());
}

#[test]
fn hostile_lengths_are_refused_before_allocating() {
    assert!(proto::check_length(0u32.to_be_bytes()).is_err());
    assert!(proto::check_length(u32::MAX.to_be_bytes()).is_err());
    assert!(proto::check_length(((proto::MAX_PACKET + 1) as u32).to_be_bytes()).is_err());
    assert_eq!(proto::check_length(1u32.to_be_bytes()).unwrap(), 1);
}

#[test]
fn random_replies_never_panic() {
    // Fuzz-ish: random codes (mostly valid ones) with random data, including NULs and short
    // numbers; decoding returns a value or an error, never panics.
    let codes = b"+-24abcdefhimpqrsty0Oz";
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..20_000 {
        let code = codes[rng.usize(..codes.len())];
        let len = rng.usize(..40);
        let data: Vec<u8> = (0..len)
            .map(|_| if rng.bool() { 0 } else { rng.u8(..) })
            .collect();
        let _ = proto::decode(&Packet::new(code, data));
    }
}

// --- addresses and settings ------------------------------------------------------------------

#[test]
fn milter_addresses_parse_like_postfix() {
    let d = MilterDefaults::default();
    let s = MilterSpec::parse("inet:127.0.0.1:11332", &d).unwrap();
    assert_eq!(
        s.address,
        MilterAddress::Inet {
            host: "127.0.0.1".into(),
            port: 11332
        }
    );
    assert_eq!(s.default_action, DefaultAction::Tempfail);
    assert_eq!(s.command_timeout, Duration::from_secs(30));
    assert_eq!(s.content_timeout, Duration::from_secs(300));
    let s = MilterSpec::parse("inet:[::1]:7357", &d).unwrap();
    assert_eq!(
        s.address,
        MilterAddress::Inet {
            host: "::1".into(),
            port: 7357
        }
    );
    assert_eq!(s.address.to_string(), "inet:[::1]:7357");
    let s = MilterSpec::parse("inet:8891@localhost", &d).unwrap();
    assert_eq!(
        s.address,
        MilterAddress::Inet {
            host: "localhost".into(),
            port: 8891
        }
    );
    let s = MilterSpec::parse("unix:/run/clamav/milter.sock", &d).unwrap();
    assert_eq!(
        s.address,
        MilterAddress::Unix("/run/clamav/milter.sock".into())
    );
    let s = MilterSpec::parse(
        "{ inet:localhost:1, connect_timeout=2s, command_timeout=250ms, content_timeout=1m, default_action=accept, protocol=4 }",
        &d,
    )
    .unwrap();
    assert_eq!(s.connect_timeout, Duration::from_secs(2));
    assert_eq!(s.command_timeout, Duration::from_millis(250));
    assert_eq!(s.content_timeout, Duration::from_secs(60));
    assert_eq!(s.default_action, DefaultAction::Accept);
    assert_eq!(s.protocol, 4);
    assert_eq!(s.name, "inet:localhost:1");
    for bad in [
        "127.0.0.1:11332",
        "inet:host",
        "inet:host:0",
        "inet:host:x",
        "unix:relative",
        "{ inet:h:1, default_action=maybe }",
        "{ inet:h:1, protocol=7 }",
        "{ inet:h:1, bogus=1 }",
        "{ inet:h:1, command_timeout=0 }",
        "{ inet:h:1",
    ] {
        assert!(MilterSpec::parse(bad, &d).is_err(), "{bad}");
    }
}

#[test]
fn reply_codes_are_validated_like_postfix() {
    let r = SmtpReply::parse("554 5.7.1 Spam message rejected").unwrap();
    assert_eq!(r.code, 554);
    assert_eq!(r.lines, vec!["5.7.1 Spam message rejected"]);
    let r = SmtpReply::parse("450-4.2.0 first\r\n450 4.2.0 second 100%%").unwrap();
    assert_eq!(r.lines, vec!["4.2.0 first", "4.2.0 second 100%"]);
    assert_eq!(SmtpReply::parse("421 bye").unwrap().lines, vec!["bye"]);
    for bad in [
        "250 2.0.0 ok",
        "554 4.7.1 class mismatch",
        "55 x",
        "554x",
        "",
        "550 a\r\n551 b",
        "550 bad\x07bell",
    ] {
        assert!(SmtpReply::parse(bad).is_none(), "{bad:?}");
    }
}

// --- message edits ---------------------------------------------------------------------------

const MSG: &[u8] =
    b"Received: from x\r\n\tby y\r\nSubject: hello\r\nX-A: 1\r\nX-A: 2\r\n\r\nbody\r\n";

#[test]
fn messages_split_and_join_losslessly() {
    let m = Message::parse(MSG);
    assert_eq!(m.headers.len(), 4);
    assert_eq!(m.headers[0].value, b" from x\r\n\tby y");
    assert_eq!(m.headers[0].wire_value(true), b"from x\n\tby y");
    assert_eq!(m.headers[1].wire_value(false), b" hello");
    assert_eq!(m.to_bytes(), MSG);
    let no_body = Message::parse(b"Subject: x\r\n");
    assert_eq!(no_body.to_bytes(), b"Subject: x\r\n");
    let odd = b"Subject: x\r\nnot a header\r\nmore\r\n";
    assert_eq!(Message::parse(odd).to_bytes().len(), odd.len() + 2);
}

#[test]
fn header_edits_follow_postfix_indexes() {
    let mut m = Message::parse(MSG);
    let v = |s: &str| s.as_bytes().to_vec();
    m.apply(
        &Modification::InsertHeader {
            index: 0,
            name: "X-Top".into(),
            value: v("t"),
        },
        false,
    );
    m.apply(
        &Modification::InsertHeader {
            index: 2,
            name: "X-Third".into(),
            value: v("3"),
        },
        false,
    );
    m.apply(
        &Modification::ChangeHeader {
            index: 2,
            name: "x-a".into(),
            value: v("two"),
        },
        false,
    );
    m.apply(
        &Modification::ChangeHeader {
            index: 0,
            name: "Subject".into(),
            value: Vec::new(),
        },
        false,
    );
    m.apply(
        &Modification::AddHeader {
            name: "X-Spam".into(),
            value: v("yes\nscore=7\nX-Injected: no"),
        },
        false,
    );
    m.apply(
        &Modification::ChangeHeader {
            index: 1,
            name: "X-Missing".into(),
            value: v("added"),
        },
        true,
    );
    let names: Vec<&str> = m.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "X-Top",
            "Received",
            "X-Third",
            "X-A",
            "X-A",
            "X-Spam",
            "X-Missing"
        ]
    );
    let text = String::from_utf8(m.to_bytes()).unwrap();
    assert!(text.starts_with("X-Top: t\r\nReceived: from x\r\n\tby y\r\nX-Third: 3\r\n"));
    assert!(text.contains("X-A: 1\r\nX-A: two\r\n"));
    assert!(text.contains("X-Spam: yes\r\n\tscore=7\r\n\tX-Injected: no\r\n"));
    assert!(
        text.contains("X-Missing:added\r\n"),
        "leading space as sent"
    );
    assert!(!text.contains("Subject"));
    m.apply(&Modification::ReplaceBody(b"new\nbody\n".to_vec()), false);
    assert!(m.to_bytes().ends_with(b"\r\n\r\nnew\r\nbody\r\n"));
}

#[test]
fn envelope_edits_accumulate() {
    let mut e = EnvelopeEdits::default();
    e.apply(&Modification::ChangeFrom {
        sender: "<new@s>".into(),
        args: Some("BODY=8BITMIME".into()),
    });
    e.apply(&Modification::AddRcpt {
        rcpt: "<x@d>".into(),
        args: None,
    });
    e.apply(&Modification::DeleteRcpt {
        rcpt: "<y@d>".into(),
    });
    e.apply(&Modification::DeleteRcpt { rcpt: "X@d".into() });
    assert_eq!(
        e.sender,
        Some(("new@s".into(), Some("BODY=8BITMIME".into())))
    );
    assert!(e.added.is_empty());
    assert_eq!(e.deleted, vec!["y@d", "X@d"]);
}

// --- a fake milter -----------------------------------------------------------------------------

type Script = Arc<dyn Fn(&Packet) -> Vec<Packet> + Send + Sync>;

/// A fake filter: negotiates `actions`/`protocol`, answers each command with `script`, records
/// what it received.
struct Fake {
    addr: String,
    seen: Arc<Mutex<Vec<Packet>>>,
}

impl Fake {
    async fn start(actions: u32, protocol: u32, script: Script) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("inet:{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let seen = s2.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    loop {
                        let mut len = [0u8; 4];
                        if sock.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
                        if sock.read_exact(&mut buf).await.is_err() {
                            return;
                        }
                        let p = Packet::new(buf[0], buf[1..].to_vec());
                        seen.lock().unwrap().push(p.clone());
                        let replies = if p.code == cmd::OPTNEG {
                            let mut d = Vec::new();
                            d.extend_from_slice(&6u32.to_be_bytes());
                            d.extend_from_slice(&actions.to_be_bytes());
                            d.extend_from_slice(&protocol.to_be_bytes());
                            vec![Packet::new(rsp::OPTNEG, d)]
                        } else if matches!(p.code, cmd::MACRO | cmd::ABORT) {
                            vec![]
                        } else if p.code == cmd::QUIT {
                            return;
                        } else {
                            script(&p)
                        };
                        for r in replies {
                            if sock.write_all(&r.encode()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Fake { addr, seen }
    }

    fn codes(&self) -> Vec<u8> {
        self.seen.lock().unwrap().iter().map(|p| p.code).collect()
    }

    fn spec(&self, extra: &str) -> MilterSpec {
        let s = if extra.is_empty() {
            self.addr.clone()
        } else {
            format!("{{ {}, {extra} }}", self.addr)
        };
        MilterSpec::parse(&s, &MilterDefaults::default()).unwrap()
    }
}

fn continue_all() -> Script {
    Arc::new(|_| vec![Packet::new(rsp::CONTINUE, vec![])])
}

fn peer() -> Peer {
    Peer::Inet("192.0.2.7:40000".parse().unwrap())
}

fn milters(specs: Vec<MilterSpec>) -> Milters {
    Milters::new(specs, MacroNames::default(), EomLimits::default())
}

fn macros() -> MacroValues {
    [("i", "QID1"), ("j", "mx.test"), ("mail_addr", "s@x")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn transaction(s: &mut MilterSession) -> Outcome {
    let m = macros();
    assert_eq!(s.helo("client.test", &m).await, Verdict::Continue);
    assert_eq!(s.mail("s@x", &[], &m).await, Verdict::Continue);
    assert_eq!(s.rcpt("r@y", &[], &m).await, Verdict::Continue);
    assert_eq!(s.data(&m).await, Verdict::Continue);
    s.message(Message::parse(MSG), &m).await
}

#[tokio::test]
async fn a_whole_transaction_with_every_modification() {
    let script: Script = Arc::new(|p| {
        if p.code != cmd::BODYEOB {
            return vec![Packet::new(rsp::CONTINUE, vec![])];
        }
        let mut ins = 1u32.to_be_bytes().to_vec();
        ins.extend_from_slice(b"X-Ins\0at one\0");
        let mut chg = 1u32.to_be_bytes().to_vec();
        chg.extend_from_slice(b"Subject\0changed\0");
        vec![
            Packet::new(rsp::PROGRESS, vec![]),
            Packet::new(rsp::ADDHEADER, b"X-Added\0yes\0".to_vec()),
            Packet::new(rsp::INSHEADER, ins),
            Packet::new(rsp::CHGHEADER, chg),
            Packet::new(rsp::CHGFROM, b"<new@sender>\0".to_vec()),
            Packet::new(rsp::ADDRCPT, b"<added@y>\0".to_vec()),
            Packet::new(rsp::DELRCPT, b"<r@y>\0".to_vec()),
            Packet::new(rsp::REPLBODY, b"replaced ".to_vec()),
            Packet::new(rsp::REPLBODY, b"body\r\n".to_vec()),
            Packet::new(rsp::QUARANTINE, b"looks odd\0".to_vec()),
            Packet::new(rsp::CONTINUE, vec![]),
        ]
    });
    let fake = Fake::start(action::V6, 0, script).await;
    let (mut s, v) = milters(vec![fake.spec("")])
        .connect("unknown", &peer(), &macros())
        .await;
    assert_eq!(v, Verdict::Continue);
    let out = transaction(&mut s).await;
    assert_eq!(out.verdict, Verdict::Continue);
    assert_eq!(out.quarantine.as_deref(), Some("looks odd"));
    assert_eq!(out.envelope.sender, Some(("new@sender".into(), None)));
    assert_eq!(out.envelope.added, vec![("added@y".to_string(), None)]);
    assert_eq!(out.envelope.deleted, vec!["r@y"]);
    let text = String::from_utf8(out.message.to_bytes()).unwrap();
    assert!(
        text.starts_with("Received: from x\r\n\tby y\r\nX-Ins: at one\r\nSubject: changed\r\n"),
        "{text}"
    );
    assert!(
        text.contains("X-Added: yes\r\n\r\nreplaced body\r\n"),
        "{text}"
    );
    s.quit().await;
    let codes = fake.codes();
    // optneg, connect (with macros), helo, mail, rcpt, data, 4 headers, eoh, body, eob.
    for c in [b'O', b'C', b'H', b'M', b'R', b'T', b'L', b'N', b'B', b'E'] {
        assert!(codes.contains(&c), "{:?} not sent: {codes:?}", c as char);
    }
    let seen = fake.seen.lock().unwrap();
    let header = seen.iter().find(|p| p.code == b'L').unwrap();
    assert_eq!(
        header.data, b"Received\0from x\n\tby y\0",
        "no leading space, LF folding"
    );
    let mail_macros = seen
        .iter()
        .find(|p| p.code == cmd::MACRO && p.data[0] == b'M')
        .unwrap();
    assert_eq!(mail_macros.data, b"Mi\0QID1\0{mail_addr}\0s@x\0");
}

#[tokio::test]
async fn modifications_without_negotiated_actions_fail_the_milter() {
    let script: Script = Arc::new(|p| {
        if p.code == cmd::BODYEOB {
            vec![
                Packet::new(rsp::ADDHEADER, b"X-A\0b\0".to_vec()),
                Packet::new(rsp::CONTINUE, vec![]),
            ]
        } else {
            vec![Packet::new(rsp::CONTINUE, vec![])]
        }
    });
    let fake = Fake::start(action::CHGBODY, 0, script).await;
    let (mut s, _) = milters(vec![fake.spec("")])
        .connect("unknown", &peer(), &macros())
        .await;
    let out = transaction(&mut s).await;
    assert!(matches!(out.verdict, Verdict::Tempfail(ref r) if r.code == 451));
}

#[tokio::test]
async fn stage_decisions_become_verdicts() {
    // Reject at connect, with a reply code.
    let fake = Fake::start(
        0,
        0,
        Arc::new(|p| {
            if p.code == cmd::CONNECT {
                vec![Packet::new(rsp::REPLYCODE, b"554 5.7.1 go away\0".to_vec())]
            } else {
                vec![Packet::new(rsp::CONTINUE, vec![])]
            }
        }),
    )
    .await;
    let (mut s, v) = milters(vec![fake.spec("")])
        .connect("unknown", &peer(), &macros())
        .await;
    assert_eq!(
        v,
        Verdict::Reject(SmtpReply {
            code: 554,
            lines: vec!["5.7.1 go away".into()]
        })
    );
    assert!(matches!(s.helo("x", &macros()).await, Verdict::Reject(_)));

    // Per-recipient tempfail, then discard at RCPT.
    let fake = Fake::start(
        0,
        0,
        Arc::new(|p| {
            let reply = match (p.code, p.data.as_slice()) {
                (cmd::RCPT, b"<later@y>\0") => rsp::TEMPFAIL,
                (cmd::RCPT, b"<bad@y>\0") => rsp::REJECT,
                (cmd::RCPT, b"<drop@y>\0") => rsp::DISCARD,
                _ => rsp::CONTINUE,
            };
            vec![Packet::new(reply, vec![])]
        }),
    )
    .await;
    let (mut s, _) = milters(vec![fake.spec("")])
        .connect("unknown", &peer(), &macros())
        .await;
    let m = macros();
    assert_eq!(s.mail("s@x", &[], &m).await, Verdict::Continue);
    assert_eq!(
        s.rcpt("later@y", &[], &m).await,
        Verdict::Tempfail(SmtpReply {
            code: 451,
            lines: vec!["4.7.1 Service unavailable - try again later".into()]
        })
    );
    assert_eq!(
        s.rcpt("bad@y", &[], &m).await,
        Verdict::Reject(SmtpReply {
            code: 550,
            lines: vec!["5.7.1 Command rejected".into()]
        })
    );
    assert_eq!(s.rcpt("ok@y", &[], &m).await, Verdict::Continue);
    assert_eq!(s.rcpt("drop@y", &[], &m).await, Verdict::Discard);
    let out = s.message(Message::parse(MSG), &m).await;
    assert_eq!(out.verdict, Verdict::Discard);
    // The next transaction starts clean.
    assert_eq!(s.mail("s@x", &[], &m).await, Verdict::Continue);
    assert_eq!(s.rcpt("ok@y", &[], &m).await, Verdict::Continue);
    assert_eq!(
        s.message(Message::parse(MSG), &m).await.verdict,
        Verdict::Continue
    );
}

#[tokio::test]
async fn malformed_reply_codes_fail_the_milter() {
    let fake = Fake::start(
        0,
        0,
        Arc::new(|p| {
            if p.code == cmd::MAIL {
                vec![Packet::new(rsp::REPLYCODE, b"250 2.0.0 fine\0".to_vec())]
            } else {
                vec![Packet::new(rsp::CONTINUE, vec![])]
            }
        }),
    )
    .await;
    let (mut s, _) = milters(vec![fake.spec("default_action=accept")])
        .connect("unknown", &peer(), &macros())
        .await;
    assert_eq!(s.mail("s@x", &[], &macros()).await, Verdict::Continue);
    // Failed with default accept: left out from now on.
    assert_eq!(s.rcpt("r@y", &[], &macros()).await, Verdict::Continue);
}

#[tokio::test]
async fn no_reply_flags_and_skip_are_honoured() {
    // The filter announces it will not reply to headers, and wants no connect event; it
    // answers SKIP to the first body chunk.
    let fake = Fake::start(
        action::ADDHDRS,
        flag::NR_HDR | flag::NOCONNECT | flag::HDR_LEADSPC,
        Arc::new(|p| match p.code {
            cmd::HEADER => vec![],
            cmd::BODY => vec![Packet::new(rsp::SKIP, vec![])],
            cmd::BODYEOB => vec![
                Packet::new(rsp::ADDHEADER, b"X-Lead\0no space\0".to_vec()),
                Packet::new(rsp::ACCEPT, vec![]),
            ],
            _ => vec![Packet::new(rsp::CONTINUE, vec![])],
        }),
    )
    .await;
    let (mut s, v) = milters(vec![fake.spec("command_timeout=2s, content_timeout=2s")])
        .connect("unknown", &peer(), &macros())
        .await;
    assert_eq!(v, Verdict::Continue);
    let m = macros();
    s.mail("s@x", &[], &m).await;
    s.rcpt("r@y", &[], &m).await;
    let big = [MSG, &vec![b'x'; 200_000][..]].concat();
    let out = s.message(Message::parse(&big), &m).await;
    assert_eq!(out.verdict, Verdict::Continue);
    assert!(
        out.message
            .to_bytes()
            .windows(17)
            .any(|w| w == b"X-Lead:no space\r\n")
    );
    let codes = fake.codes();
    assert!(!codes.contains(&cmd::CONNECT));
    assert_eq!(
        codes.iter().filter(|&&c| c == cmd::BODY).count(),
        1,
        "{codes:?}"
    );
    let seen = fake.seen.lock().unwrap();
    let header = seen.iter().find(|p| p.code == b'L').unwrap();
    assert_eq!(
        header.data, b"Received\0 from x\n\tby y\0",
        "leading space kept"
    );
}

#[tokio::test(start_paused = true)]
async fn timeouts_and_dead_milters_take_the_default_action() {
    // A milter that never answers the MAIL event.
    let silent = Fake::start(
        0,
        0,
        Arc::new(|p| {
            if p.code == cmd::MAIL {
                vec![]
            } else {
                vec![Packet::new(rsp::CONTINUE, vec![])]
            }
        }),
    )
    .await;
    let (mut s, _) = milters(vec![silent.spec("command_timeout=5s")])
        .connect("unknown", &peer(), &macros())
        .await;
    let v = s.mail("s@x", &[], &macros()).await;
    assert!(
        matches!(v, Verdict::Tempfail(ref r) if r.code == 451),
        "{v:?}"
    );
    // The failed milter goes on answering with its default action.
    assert!(matches!(
        s.rcpt("r@y", &[], &macros()).await,
        Verdict::Tempfail(_)
    ));

    // Nobody listens: connect fails; tempfail by default, accept or reject when configured.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = |extra: &str| {
        MilterSpec::parse(
            &format!("{{ inet:127.0.0.1:{port}, {extra} }}"),
            &MilterDefaults::default(),
        )
        .unwrap()
    };
    let (_, v) = milters(vec![dead("protocol=6")])
        .connect("unknown", &peer(), &macros())
        .await;
    assert!(matches!(v, Verdict::Tempfail(ref r) if r.code == 451));
    let (mut s, v) = milters(vec![dead("default_action=accept")])
        .connect("unknown", &peer(), &macros())
        .await;
    assert_eq!(v, Verdict::Continue);
    assert_eq!(transaction(&mut s).await.verdict, Verdict::Continue);
    let (_, v) = milters(vec![dead("default_action=reject")])
        .connect("unknown", &peer(), &macros())
        .await;
    assert!(
        matches!(v, Verdict::Reject(ref r) if r.code == 550 && r.lines[0].starts_with("5.5.0"))
    );
    let (mut s, _) = milters(vec![dead("default_action=quarantine")])
        .connect("unknown", &peer(), &macros())
        .await;
    let out = transaction(&mut s).await;
    assert_eq!(out.verdict, Verdict::Continue);
    assert!(out.quarantine.is_some());
}

#[tokio::test]
async fn a_hostile_length_from_the_milter_is_a_protocol_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 17];
        sock.read_exact(&mut buf).await.unwrap();
        sock.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        sock.write_all(b"O").await.unwrap();
        let _ = sock.read(&mut [0u8; 1]).await;
    });
    let spec = MilterSpec::parse(&format!("inet:{addr}"), &MilterDefaults::default()).unwrap();
    let err = MilterConn::open(Arc::new(spec), &MacroNames::default(), EomLimits::default())
        .await
        .unwrap_err();
    assert!(matches!(err, MilterError::Protocol(_)), "{err}");
}

#[tokio::test]
async fn several_milters_see_each_others_edits_in_order() {
    let first = Fake::start(
        action::ADDHDRS,
        0,
        Arc::new(|p| {
            if p.code == cmd::BODYEOB {
                vec![
                    Packet::new(rsp::ADDHEADER, b"X-First\0one\0".to_vec()),
                    Packet::new(rsp::CONTINUE, vec![]),
                ]
            } else {
                vec![Packet::new(rsp::CONTINUE, vec![])]
            }
        }),
    )
    .await;
    let second = Fake::start(0, 0, continue_all()).await;
    let (mut s, _) = milters(vec![first.spec(""), second.spec("")])
        .connect("unknown", &peer(), &macros())
        .await;
    let out = transaction(&mut s).await;
    assert_eq!(out.verdict, Verdict::Continue);
    let seen = second.seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|p| p.code == cmd::HEADER && p.data == b"X-First\0one\0"),
        "the second milter saw the first one's header"
    );
}
