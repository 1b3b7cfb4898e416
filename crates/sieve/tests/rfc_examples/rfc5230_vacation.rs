//! RFC 5230 (vacation)

use super::common::*;
use mailstack_sieve::*;

/// RFC 5230 §3 (the first example).
const RFC5230_3: &str = r#"
require "vacation";
if header :contains "subject" "cyrus" {
    vacation "I'm out -- send mail to cyrus-bugs";
} else {
    vacation "I'm out -- call me at +1 304 555 0123";
}
"#;

#[test]
fn rfc5230_3_vacation() {
    let o = run_with(RFC5230_3, &plain(), &envelope(), &mut TestEnv::default()).unwrap();
    assert_eq!(
        fmt(&o),
        [
            "vacation to=coyote@desert.example.org subject=Auto: I have a present for you period=604800",
            "implicit keep"
        ]
    );
    let Action::Vacation(v) = &o.actions[0] else {
        panic!()
    };
    assert_eq!(v.reason, "I'm out -- call me at +1 304 555 0123");
    assert_eq!(v.in_reply_to.as_deref(), Some("<1234@desert.example.org>"));
    let m = msg("From: a@b.org\nTo: me@example.com\nSubject: cyrus bug", "x");
    let o = run_with(RFC5230_3, &m, &envelope(), &mut TestEnv::default()).unwrap();
    let Action::Vacation(v) = &o.actions[0] else {
        panic!()
    };
    assert_eq!(v.reason, "I'm out -- send mail to cyrus-bugs");
    assert_ne!(
        v.handle, "",
        "a handle is derived from the arguments (§4.2)"
    );
}

/// RFC 5230 §4.1 (:days) and §4.5 (:addresses: only reply when one of the user's addresses
/// is in To/Cc/Bcc).
#[test]
fn rfc5230_4_1_days_4_5_addresses() {
    let s = r#"
require "vacation";
vacation :days 23 :addresses ["tjs@example.edu",
                              "ts4z@landru.example.edu"]
   "I'm away until October 19.  If it's an emergency, call 911, I guess." ;
"#;
    let m = msg(
        "From: a@b.org\nTo: ts4z@landru.example.edu\nSubject: hi",
        "x",
    );
    let mut e = envelope();
    e.to = "tjs@example.edu".into();
    assert_eq!(
        actions_env(s, &m, &e),
        [
            "vacation to=coyote@desert.example.org subject=Auto: hi period=1987200",
            "implicit keep"
        ]
    );
    // addressed to nobody of ours (a list or a Bcc we can't see): no reply
    let m = msg("From: a@b.org\nTo: someone@else.org\nSubject: hi", "x");
    let o = run_with(s, &m, &e, &mut TestEnv::default()).unwrap();
    assert_eq!(fmt(&o), ["implicit keep"]);
    assert!(o.warnings[0].contains("To/Cc/Bcc"), "{:?}", o.warnings);
}

/// RFC 5230 §4.2 (:handle): both branches share one handle.
#[test]
fn rfc5230_4_2_handle() {
    let s = r#"
require "vacation";
if header :contains "subject" "lunch" {
    vacation :handle "ran-away" "I'm out and can't meet for lunch";
} else {
    vacation :handle "ran-away" "I'm out";
}
"#;
    let o = run_with(s, &plain(), &envelope(), &mut TestEnv::default()).unwrap();
    let Action::Vacation(v) = &o.actions[0] else {
        panic!()
    };
    assert_eq!(v.handle, "ran-away");
    assert_eq!(v.reason, "I'm out");
}

/// RFC 5230 §4.3/§4.4 (:subject and :from, with variables as in the RFC's example).
#[test]
fn rfc5230_4_3_subject_4_4_from() {
    let s = r#"
require ["vacation", "variables"];
if header :matches "subject" "*" {
    vacation :subject "Automatic response to: ${1}"
        :from "hemingway@example.com"
        "I'm away";
}
"#;
    let o = run_with(s, &plain(), &envelope(), &mut TestEnv::default()).unwrap();
    let Action::Vacation(v) = &o.actions[0] else {
        panic!()
    };
    assert_eq!(v.subject, "Automatic response to: I have a present for you");
    assert_eq!(v.from.as_deref(), Some("hemingway@example.com"));
}

/// RFC 5230 §4.6? / §5 (:mime): the multipart/alternative example; the reply carries it.
#[test]
fn rfc5230_mime_and_reply() {
    let s = r#"
require "vacation";
vacation :mime text:
Content-Type: multipart/alternative; boundary=foo

--foo

I'm at the beach relaxing.  Mmmm, surf...

--foo
Content-Type: text/html; charset=us-ascii

<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN"
 "http://www.w3.org/TR/REC-html40/loose.dtd">
<HTML><HEAD><TITLE>How to relax</TITLE>
<BASE HREF="http://home.example.com/pictures/"></HEAD>
<BODY><P>I'm at the <A HREF="beach.gif">beach</A> relaxing.
Mmmm, <A HREF="ocean.gif">surf</A>...
</BODY></HTML>

--foo--
.
;
"#;
    let o = run_with(s, &plain(), &envelope(), &mut TestEnv::default()).unwrap();
    let Action::Vacation(v) = &o.actions[0] else {
        panic!()
    };
    assert!(v.mime);
    let now = DateTime {
        unix: 1_183_456_800,
        offset_minutes: 120,
    };
    let reply = build_vacation_reply(v, "me@example.com", now);
    let text = String::from_utf8(reply.clone()).unwrap();
    let parsed = mail_parser::MessageParser::new().parse(&reply).unwrap();
    assert_eq!(
        parsed.header_raw("Auto-Submitted").unwrap().trim(),
        "auto-replied"
    );
    assert_eq!(
        parsed.in_reply_to().as_text(),
        Some("1234@desert.example.org")
    );
    assert_eq!(parsed.subject(), Some("Auto: I have a present for you"));
    assert!(
        text.contains("Content-Type: multipart/alternative; boundary=foo\r\n"),
        "{text}"
    );
    assert_eq!(parsed.html_body_count(), 1, "{text}");
    assert!(parsed.body_text(0).unwrap().contains("beach relaxing"));
    assert!(
        text.contains("Date: Tue, 03 Jul 2007 12:00:00 +0200\r\n"),
        "{text}"
    );
}

/// RFC 5230 §4.5 / RFC 3834: no replies to <>, list mail, bulk mail, auto-submitted mail,
/// MAILER-DAEMON, or to oneself.
#[test]
fn rfc5230_4_5_no_reply_rules() {
    let s = r#"require "vacation"; vacation "away";"#;
    let base = "From: a@b.org\nTo: me@example.com\nSubject: hi";
    let none = |m: Vec<u8>, e: Envelope, why: &str| {
        let o = run_with(s, &m, &e, &mut TestEnv::default()).unwrap();
        assert_eq!(fmt(&o), ["implicit keep"], "{why}");
        assert!(
            o.warnings.iter().any(|w| w.contains(why)),
            "{why}: {:?}",
            o.warnings
        );
    };
    let mut e = envelope();
    e.from = String::new();
    none(msg(base, "x"), e, "<>");
    for (h, why) in [
        ("Auto-Submitted: auto-generated", "Auto-Submitted"),
        ("Precedence: bulk", "Precedence"),
        ("Precedence: list", "Precedence"),
        ("Precedence: junk", "Precedence"),
        ("List-Id: <x.lists.example.org>", "List-Id"),
        ("List-Unsubscribe: <mailto:x@y>", "List-Unsubscribe"),
    ] {
        none(msg(&format!("{base}\n{h}"), "x"), envelope(), why);
    }
    for sender in [
        "MAILER-DAEMON@b.org",
        "owner-list@b.org",
        "list-request@b.org",
        "LISTSERV@b.org",
    ] {
        let mut e = envelope();
        e.from = sender.into();
        none(msg(base, "x"), e, "system or list");
    }
    let mut e = envelope();
    e.from = "me@example.com".into();
    none(msg(base, "x"), e, "own addresses");
    // Auto-Submitted: no is a normal message
    let o = run_with(
        s,
        &msg(&format!("{base}\nAuto-Submitted: no"), "x"),
        &envelope(),
        &mut TestEnv::default(),
    )
    .unwrap();
    assert!(matches!(o.actions[0], Action::Vacation(_)));
}

/// RFC 6131 §2 (vacation-seconds): the example; `vacation-seconds` implies `vacation`.
#[test]
fn rfc6131_seconds() {
    let s = r#"
require ["vacation-seconds"];
vacation :addresses ["tjs@example.edu", "ts4z@landru.example.edu"]
         :seconds 1800
         "I am in a meeting, and do not have access to email.";
"#;
    let m = msg("From: a@b.org\nTo: tjs@example.edu\nSubject: meeting?", "x");
    let mut limits = Limits::default();
    limits.vacation_min_period_secs = 0;
    let sc = compile(s, &limits).unwrap();
    let o = run(
        &[&sc],
        &Message::new(&m),
        &envelope(),
        &mut TestEnv::default(),
        &limits,
    )
    .unwrap();
    let Action::Vacation(v) = &o.actions[0] else {
        panic!()
    };
    assert_eq!(v.period.as_secs(), 1800);
    // with the default limits the minimum period (1 day) applies
    assert_eq!(
        actions(s, &m)[0],
        "vacation to=coyote@desert.example.org subject=Auto: meeting? period=86400"
    );
    assert!(
        compile_err("require \"vacation\"; vacation :seconds 10 \"x\";")
            .contains("vacation-seconds")
    );
}
