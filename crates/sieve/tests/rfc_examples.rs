//! Conformance suite: the example scripts of the RFCs the interpreter implements, each run on a
//! message and envelope chosen to exercise it, with the expected action list (or the expected
//! compile error). Each case cites its RFC and section. Scripts are copied from the RFC text
//! (and, for RFC 5231/5233, cross-checked against Pigeonhole's rfc.svtest transcriptions);
//! comments inside scripts are kept where they explain the expectation.

mod common;

use common::*;
use mailstack_sieve::*;

// ---------------------------------------------------------------- RFC 5228 (base language)

/// RFC 5228 §3.1 (if / elsif / else).
const RFC5228_3_1: &str = r#"
if header :contains ["From"] ["coyote"] {
   redirect "acm@example.com";
} elsif header :contains "Subject" "$$$" {
   redirect "postmaster@example.com";
} else {
   redirect "field@example.com";
}
"#;

#[test]
fn rfc5228_3_1_if_elsif_else() {
    assert_eq!(actions(RFC5228_3_1, &plain()), ["redirect acm@example.com"]);
    let m = msg("From: roadrunner@example.org\nSubject: $$$ now", "x");
    assert_eq!(
        actions(RFC5228_3_1, &m),
        ["redirect postmaster@example.com"]
    );
    let m = msg("From: roadrunner@example.org\nSubject: hi", "x");
    assert_eq!(actions(RFC5228_3_1, &m), ["redirect field@example.com"]);
}

/// RFC 5228 §3.2 (require): several requires, and an unknown capability is an error.
#[test]
fn rfc5228_3_2_require() {
    let s =
        "require [\"fileinto\", \"reject\"];\nrequire \"fileinto\";\nrequire \"vacation\";\nkeep;";
    assert_eq!(actions(s, &plain()), ["keep"]);
    assert!(compile_err("require \"vnd.acme.teleport\";").contains("unsupported capability"));
}

/// RFC 5228 §3.3 (stop): "The "stop" action ends all processing. If the implicit keep has not
/// been cancelled, then it is taken."
#[test]
fn rfc5228_3_3_stop() {
    assert_eq!(actions("stop; discard;", &plain()), ["implicit keep"]);
    assert_eq!(actions("discard; stop; keep;", &plain()), ["discard"]);
}

/// RFC 5228 §4.1 (fileinto).
#[test]
fn rfc5228_4_1_fileinto() {
    let s = r#"
require "fileinto";
if header :contains ["from"] "coyote" {
   fileinto "INBOX.harassment";
}"#;
    assert_eq!(actions(s, &plain()), ["fileinto INBOX.harassment"]);
    let m = msg("From: roadrunner@example.org", "x");
    assert_eq!(actions(s, &m), ["implicit keep"]);
}

/// RFC 5228 §4.2 (redirect) — "redirect" cancels the implicit keep.
#[test]
fn rfc5228_4_2_redirect() {
    let s = r#"redirect "bart@example.com";"#;
    assert_eq!(actions(s, &plain()), ["redirect bart@example.com"]);
}

/// RFC 5228 §4.3 (keep) / §4.4 (discard).
#[test]
fn rfc5228_4_3_keep_4_4_discard() {
    let s = "if size :under 1M { keep; } else { discard; }";
    assert_eq!(actions(s, &plain()), ["keep"]);
    let big = msg("From: a@b.c", &"x".repeat(1024 * 1024 + 1));
    assert_eq!(actions(s, &big), ["discard"]);
    let s = r#"if header :contains ["from"] ["idiot@example.com"] { discard; }"#;
    let m = msg("From: The Idiot <idiot@example.com>", "x");
    assert_eq!(actions(s, &m), ["discard"]);
    assert_eq!(actions(s, &plain()), ["implicit keep"]);
}

/// RFC 5228 §5.1 (address).
#[test]
fn rfc5228_5_1_address() {
    let s = r#"if address :is :all "from" "tim@example.com" { discard; }"#;
    let m = msg("From: Tim <TIM@example.com>", "x");
    assert_eq!(
        actions(s, &m),
        ["discard"],
        "i;ascii-casemap is the default comparator"
    );
    let m = msg("From: tim@example.com.au", "x");
    assert_eq!(actions(s, &m), ["implicit keep"]);
}

/// RFC 5228 §5.2 (allof) / §5.3 (anyof).
#[test]
fn rfc5228_5_2_allof_5_3_anyof() {
    let all = r#"if allof (header :contains "From" "Cheney",
                           header :contains "Subject" "fishing") { discard; }"#;
    let any = r#"if anyof (header :contains "From" "Cheney",
                           header :contains "Subject" "fishing") { discard; }"#;
    let both = msg(
        "From: Dick Cheney <vp@example.gov>\nSubject: fishing trip",
        "x",
    );
    let one = msg(
        "From: Dick Cheney <vp@example.gov>\nSubject: hunting trip",
        "x",
    );
    assert_eq!(actions(all, &both), ["discard"]);
    assert_eq!(actions(all, &one), ["implicit keep"]);
    assert_eq!(actions(any, &one), ["discard"]);
}

/// RFC 5228 §5.4 (envelope).
#[test]
fn rfc5228_5_4_envelope() {
    let s = r#"require "envelope";
               if envelope :all :is "from" "tim@example.com" { discard; }"#;
    let mut e = envelope();
    e.from = "tim@example.com".into();
    assert_eq!(actions_env(s, &plain(), &e), ["discard"]);
    assert_eq!(actions(s, &plain()), ["implicit keep"]);
    // "The null reverse-path is matched against as the empty string, regardless of the
    // ADDRESS-PART argument specified."
    let s = r#"require "envelope";
               if envelope :domain :is "from" "" { discard; }"#;
    e.from = String::new();
    assert_eq!(actions_env(s, &plain(), &e), ["discard"]);
}

/// RFC 5228 §5.5 (exists): true only when all named headers exist.
#[test]
fn rfc5228_5_5_exists() {
    let s = r#"if exists ["From","Date"] { discard; }"#;
    assert_eq!(actions(s, &plain()), ["discard"]);
    assert_eq!(actions(s, &msg("From: a@b.c", "x")), ["implicit keep"]);
}

/// RFC 5228 §5.7 (header) with §2.7.1 match types; §5.8 (not).
#[test]
fn rfc5228_5_7_header_5_8_not() {
    let s = r#"if header :is ["subject", "comments"] ["MAKE MONEY FAST", "make money fast"] { discard; }"#;
    assert_eq!(
        actions(s, &msg("Comments: Make Money Fast", "x")),
        ["discard"]
    );
    let s = r#"if not exists ["From","Date"] { discard; }"#;
    assert_eq!(actions(s, &msg("From: a@b.c", "x")), ["discard"]);
    assert_eq!(actions(s, &plain()), ["implicit keep"]);
    // §2.7.1: "*" and "?" wildcards, "\\" escapes
    let s = r#"if header :matches "Subject" "*money*" { discard; }"#;
    assert_eq!(
        actions(s, &msg("Subject: Make MONEY fast", "x")),
        ["discard"]
    );
}

/// RFC 5228 §5.9 (size).
#[test]
fn rfc5228_5_9_size() {
    let s = "if size :over 500K { discard; }";
    assert_eq!(
        actions(s, &msg("From: a@b.c", &"x".repeat(500 * 1024 + 1))),
        ["discard"]
    );
    assert_eq!(actions(s, &plain()), ["implicit keep"]);
}

/// RFC 5228 §2.4.2.4 (encoded-character): the RFC's table of examples, checked through a
/// string comparison (variables' `string` test) so the decoded value is visible.
#[test]
fn rfc5228_2_4_2_4_encoded_character() {
    let cases = [
        (r"$${hex:40}", "$@"),
        (r"${hex: 40 }", "@"),
        (r"${HEX: 40}", "@"),
        (r"${hex:40", "${hex:40"),
        (r"${hex:400}", "${hex:400}"),
        (r"${hex:4${hex:30}}", "${hex:40}"),
        (r"${unicode:40}", "@"),
        (r"${ unicode:40}", "${ unicode:40}"),
        (r"${UNICODE:40}", "@"),
        (r"${UnICoDE:0000040}", "@"),
        (r"${Unicode:40}", "@"),
        (r"${Unicode:Cool}", "${Unicode:Cool}"),
    ];
    for (enc, want) in cases {
        // compare with i;octet against a header carrying the expected text
        let s = format!(
            "require \"encoded-character\";\nif header :is :comparator \"i;octet\" \"X-Want\" \"{enc}\" {{ discard; }}"
        );
        let m = msg(&format!("X-Want: {want}"), "x");
        assert_eq!(
            actions(&s, &m),
            ["discard"],
            "{enc} should decode to {want}"
        );
    }
    for bad in [r"${unicode:200000}", r"${Unicode:DF01}"] {
        let s =
            format!("require \"encoded-character\";\nif header :is \"X\" \"{bad}\" {{ discard; }}");
        assert!(
            compile_err(&s).contains("line 2"),
            "{bad} must be a compile error"
        );
    }
    // without the require, no decoding happens
    let s = r#"if header :is "X-Want" "${hex:40}" { discard; }"#;
    assert_eq!(actions(s, &msg("X-Want: ${hex:40}", "x")), ["discard"]);
}

/// RFC 5228 Appendix A (the example script).
const RFC5228_APPENDIX_A: &str = r#"
#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto"];

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter mailbox
#
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # mailbox.
        fileinto "personal";
        }
"#;

#[test]
fn rfc5228_appendix_a() {
    let list = msg(
        "Sender: owner-ietf-mta-filters@imc.org\nFrom: x@y.org\nTo: me@example.com",
        "x",
    );
    assert_eq!(actions(RFC5228_APPENDIX_A, &list), ["fileinto filter"]);
    let company = msg("From: boss@example.com\nTo: me@example.com", "x");
    assert_eq!(actions(RFC5228_APPENDIX_A, &company), ["keep"]);
    let notme = msg("From: x@y.org\nTo: other@elsewhere.org", "x");
    assert_eq!(actions(RFC5228_APPENDIX_A, &notme), ["fileinto spam"]);
    let spam = msg(
        "From: x@y.org\nTo: friend@other.org\nCc: Me <ME@example.com>\nSubject: how to MAKE big money FAST",
        "x",
    );
    assert_eq!(actions(RFC5228_APPENDIX_A, &spam), ["fileinto spam"]);
    let personal = msg(
        "From: mom@family.org\nCc: me@example.com\nSubject: dinner",
        "x",
    );
    assert_eq!(
        actions(RFC5228_APPENDIX_A, &personal),
        ["fileinto personal"]
    );
}

// ---------------------------------------------------------------- RFC 5229 (variables)

/// RFC 5229 §3 (interpretation of strings): names are case-insensitive, unknown variables
/// expand to "", bad syntax stays literal.
#[test]
fn rfc5229_3_strings() {
    let s = r#"
require ["variables", "fileinto"];
set "honorific" "Mr";
set "first_name" "Wile";
set "last_name" "Coyote";
set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
if string :is "${vacation}" "Dear Mr Coyote,
I'm out, please leave a message after the meep.
" {
    fileinto "ok";
}
set "company" "ACME";
if allof (string :is "${full}" "",
          string :is "${company}" "ACME",
          string :is "${BAD${Company}" "${BADACME",
          string :is "${President, ${Company} Inc.}" "${President, ACME Inc.}",
          string :is "&%${}!" "&%${}!",
          string :is "${doh!}" "${doh!}") {
    fileinto "ok2";
}"#;
    assert_eq!(actions(s, &plain()), ["fileinto ok", "fileinto ok2"]);
}

/// RFC 5229 §3.2 / §7 (match variables: the examples with List-ID, "[*] *" and
/// "coyote@**.com").
const RFC5229_MATCH: &str = r#"
require ["fileinto", "variables"];

if header :matches "List-ID" "*<*@*" {
    fileinto "INBOX.lists.${2}"; stop;
}

# Imagine the header
# Subject: [acme-users] [fwd] version 1.0 is out
if header :matches "Subject" "[*] *" {
    # ${1} will hold "acme-users",
    # ${2} will hold "[fwd] version 1.0 is out"
    fileinto "INBOX.lists.${1}"; stop;
}

# Imagine the header
# To: coyote@ACME.Example.COM
if address :matches ["To", "Cc"] ["coyote@**.com",
        "wile@**.com"] {
    # ${0} is the matching address
    # ${1} always holds ""
    # ${2} holds "ACME.Example"
    fileinto "INBOX.business.${2}"; stop;
} else {
    # Control wouldn't reach this block if any match was
    # successful, so no match variables are set at this
    # point.
}

if anyof (true, address :domain :matches "To" "*.com") {
    # The second test is never evaluated, so there are
    # still no match variables set.
    stop;
}
"#;

#[test]
fn rfc5229_3_2_match_variables() {
    let m = msg(
        "List-ID: Sieve discussion <ietf-mta-filters.imc.org@example.net>",
        "x",
    );
    assert_eq!(
        actions(RFC5229_MATCH, &m),
        ["fileinto INBOX.lists.ietf-mta-filters.imc.org"]
    );
    let m = msg("Subject: [acme-users] [fwd] version 1.0 is out", "x");
    assert_eq!(
        actions(RFC5229_MATCH, &m),
        ["fileinto INBOX.lists.acme-users"]
    );
    let m = msg("To: coyote@ACME.Example.COM", "x");
    assert_eq!(
        actions(RFC5229_MATCH, &m),
        ["fileinto INBOX.business.ACME.Example"]
    );
    let m = msg("To: road@runner.org", "x");
    assert_eq!(actions(RFC5229_MATCH, &m), ["implicit keep"]);
    // the ${0} and ${1} claims of the example
    let s = r#"require ["variables", "fileinto"];
        if address :matches "To" "coyote@**.com" { fileinto "[${0}][${1}][${2}]"; }"#;
    let m = msg("To: Wile <coyote@ACME.Example.COM>", "x");
    assert_eq!(
        actions(s, &m),
        ["fileinto [coyote@ACME.Example.COM][][ACME.Example]"]
    );
}

/// RFC 5229 §4 (set, modifiers) — the RFC's table.
#[test]
fn rfc5229_4_set_modifiers() {
    let s = r#"
require ["variables", "fileinto"];
set "a" "juMBlEd lETteRS";
set :length "b" "${a}";
fileinto "${b}";
set :lower "b" "${a}";
fileinto "${b}";
set :upperfirst "b" "${a}";
fileinto "${b}";
set :upperfirst :lower "b" "${a}";
fileinto "${b}";
set :quotewildcard "b" "Rock*";
fileinto "${b}";
"#;
    assert_eq!(
        actions(s, &plain()),
        [
            "fileinto 15",
            "fileinto jumbled letters",
            "fileinto JuMBlEd lETteRS",
            "fileinto Jumbled letters",
            "fileinto Rock\\*"
        ]
    );
}

/// RFC 5229 §5 (string test): the example that always succeeds, and :count on the
/// non-empty strings.
#[test]
fn rfc5229_5_string() {
    let s = r#"
require ["variables", "fileinto", "relational"];
set "state" "${state} pending";
if string :matches " ${state} " "* pending *" {
    # the above test always succeeds
    fileinto "pending";
}
if string :count "eq" ["a", "", "b"] "2" { fileinto "two"; }
"#;
    assert_eq!(actions(s, &plain()), ["fileinto pending", "fileinto two"]);
}

// ---------------------------------------------------------------- RFC 5230 (vacation)

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

// ---------------------------------------------------------------- RFC 5231 (relational)

/// RFC 5231 §6 (examples), on the RFC's message (as transcribed by Pigeonhole's rfc.svtest).
#[test]
fn rfc5231_6_examples() {
    let m = msg(
        "Received: ...\nReceived: ...\nSubject: example\nTo: foo@example.com, baz@example.com\nCC: qux@example.com",
        "RFC Example\r\n",
    );
    let t = |test: &str| {
        let s = format!(
            "require [\"relational\", \"comparator-i;ascii-numeric\"];\nif {test} {{ discard; }}"
        );
        actions(&s, &m) == ["discard"]
    };
    assert!(t(
        r#"address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] ["3"]"#
    ));
    assert!(!t(
        r#"anyof (address :count "ge" :comparator "i;ascii-numeric" ["to"] ["3"],
                        address :count "ge" :comparator "i;ascii-numeric" ["cc"] ["3"])"#
    ));
    assert!(!t(
        r#"header :count "ge" :comparator "i;ascii-numeric" ["received"] ["3"]"#
    ));
    assert!(t(
        r#"header :count "ge" :comparator "i;ascii-numeric" ["received", "subject"] ["3"]"#
    ));
    assert!(!t(
        r#"header :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] ["3"]"#
    ));
}

/// RFC 5231 §7 (extended example).
const RFC5231_7: &str = r#"
require ["relational", "comparator-i;ascii-numeric", "fileinto"];

if header :value "lt" :comparator "i;ascii-numeric"
          ["x-priority"] ["3"]
{
    fileinto "Priority";
}

elsif address :count "gt" :comparator "i;ascii-numeric"
          ["to"] ["5"]
{
    # everything with more than 5 recipients in the "to" field
    # is considered SPAM
    fileinto "SPAM";
}

elsif address :value "gt" :all :comparator "i;ascii-casemap"
          ["from"] ["M"]
{
    fileinto "From N-Z";
} else {
    fileinto "From A-M";
}

if allof ( address :count "eq" :comparator "i;ascii-numeric"
                   ["to", "cc"] ["1"] ,
           address :all :comparator "i;ascii-casemap"
                   ["to", "cc"] ["me@foo.example.com"] )
{
    fileinto "Only me";
}
"#;

#[test]
fn rfc5231_7_extended_example() {
    let m = msg(
        "X-Priority: 1\nFrom: zed@x.org\nTo: me@foo.example.com",
        "x",
    );
    assert_eq!(
        actions(RFC5231_7, &m),
        ["fileinto Priority", "fileinto Only me"]
    );
    let m = msg("From: zed@x.org\nTo: a@x, b@x, c@x, d@x, e@x, f@x", "x");
    assert_eq!(actions(RFC5231_7, &m), ["fileinto SPAM"]);
    let m = msg(
        "From: zed@x.org\nTo: me@foo.example.com\nCc: other@x.org",
        "x",
    );
    assert_eq!(actions(RFC5231_7, &m), ["fileinto From N-Z"]);
    let m = msg(
        "X-Priority: 5\nFrom: alice@x.org\nTo: me@foo.example.com",
        "x",
    );
    assert_eq!(
        actions(RFC5231_7, &m),
        ["fileinto From A-M", "fileinto Only me"]
    );
}

// ---------------------------------------------------------------- RFC 5232 (imap4flags)

/// RFC 5232 §3.1–§3.3 (setflag/addflag/removeflag on a variable) and §4 (hasflag).
#[test]
fn rfc5232_3_flag_actions_4_hasflag() {
    let s = r#"
require ["imap4flags", "variables", "fileinto", "relational", "comparator-i;ascii-numeric"];
setflag "flagvar" "\\Flagged";
addflag "flagvar" "\\Deleted";
addflag "flagvar" ["\\Deleted", "\\Answered"];
addflag "flagvar" "\\Deleted \\Answered";
fileinto :flags "${flagvar}" "added";
removeflag "flagvar" "\\Deleted";
fileinto :flags "${flagvar}" "removed";
set "MyVar" "NonJunk Junk gotIt";
if hasflag :is "MyVar" "Junk" { fileinto "is-junk"; }
if hasflag :contains "MyVar" "Junk" { fileinto "contains-junk"; }
if hasflag :is "MyVar" "t" { fileinto "never"; }
if hasflag :count "ge" :comparator "i;ascii-numeric" "MyVar" "2" { fileinto "count"; }
"#;
    assert_eq!(
        actions(s, &plain()),
        [
            "fileinto added [\\Flagged \\Deleted \\Answered]",
            "fileinto removed [\\Flagged \\Answered]",
            "fileinto is-junk",
            "fileinto contains-junk",
            "fileinto count",
            "implicit keep"
        ]
        .into_iter()
        .filter(|a| *a != "implicit keep")
        .collect::<Vec<_>>()
    );
}

/// RFC 5232 §5/§6 (the internal variable, implicit keep with flags, :flags on keep/fileinto):
/// the RFC's extended example.
const RFC5232_6: &str = r#"
require ["imap4flags", "fileinto", "variables"];

if size :over 1M
        {
        addflag "MyFlags" "Big";
        if header :is "From" "boss@company.example.com"
                   {
# The message will be marked as "\Flagged Big" when filed into
# mailbox "Big messages"
                   addflag "MyFlags" "\\Flagged";
                   }
        fileinto :flags "${MyFlags}" "Big messages";
        }

if header :is "From" "grandma@example.net"
        {
        addflag "MyFlags" ["\\Answered", "$MDNSent"];
# If the message is bigger than 1Mb it will be marked as
# "Big \Answered $MDNSent" when filed into mailbox "grandma".
# If the message is shorter than 1Mb it will be marked as
# "\Answered $MDNSent"
        fileinto :flags "${MyFlags}" "GrandMa";
        }

# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter folder
if header :is "Sender" "owner-ietf-mta-filters@example.org"
        {
        set "MyFlags" "\\Flagged $Work";
# Message will have both "\Flagged" and $Work flags
        keep :flags "${MyFlags}";
        }

# Keep all messages to or from people in my company
elsif address :domain :is ["From", "To"] "company.example.com"
        {
        keep :flags "${MyFlags}"; # keep in "In" folder
        }

# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
elsif anyof (not address :all :contains
               ["To", "Cc"] "me@company.example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        removeflag "MyFlags" "\\Flagged";
        fileinto :flags "${MyFlags}" "spam";
        }
else
        {
        # Move all other external mail to "personal"
        # folder.
        fileinto :flags "${MyFlags}" "personal";
        }
"#;

#[test]
fn rfc5232_6_extended_example() {
    let big = "x".repeat(1024 * 1024 + 10);
    let m = msg(
        "From: boss@company.example.com\nTo: me@company.example.com",
        &big,
    );
    assert_eq!(
        actions(RFC5232_6, &m),
        [
            "fileinto Big messages [Big \\Flagged]",
            "keep [Big \\Flagged]"
        ]
    );
    // grandma writes to the company address: the "company" branch keeps it
    let m = msg(
        "From: grandma@example.net\nTo: me@company.example.com",
        &big,
    );
    assert_eq!(
        actions(RFC5232_6, &m),
        [
            "fileinto Big messages [Big]",
            "fileinto GrandMa [Big \\Answered $MDNSent]",
            "keep [Big \\Answered $MDNSent]"
        ]
    );
    // to a private address: the "personal" branch
    let m = msg(
        "From: grandma@example.net\nTo: me@home.example.org\nCc: me@company.example.com",
        "small",
    );
    assert_eq!(
        actions(RFC5232_6, &m),
        [
            "fileinto GrandMa [\\Answered $MDNSent]",
            "fileinto personal [\\Answered $MDNSent]"
        ]
    );
    // spam: \Flagged removed from the variable
    let m = msg(
        "From: x@y.org\nTo: you@else.org\nSubject: university diplomas",
        "small",
    );
    assert_eq!(actions(RFC5232_6, &m), ["fileinto spam"]);
    let m = msg(
        "Sender: owner-ietf-mta-filters@example.org\nFrom: x@y.org",
        "small",
    );
    assert_eq!(actions(RFC5232_6, &m), ["keep [\\Flagged $Work]"]);
}

/// RFC 5232 §3/§5: the internal variable applies to the implicit keep and to keep/fileinto
/// without :flags.
#[test]
fn rfc5232_internal_variable() {
    let s = r#"require ["imap4flags", "fileinto"];
        if size :over 500K { setflag "\\Deleted"; }
        addflag ["\\Seen", "$Label1"];
        fileinto "Archive";
        removeflag "$label1";
        keep;"#;
    let m = msg("From: a@b.c", &"x".repeat(600 * 1024));
    assert_eq!(
        actions(s, &m),
        [
            "fileinto Archive [\\Deleted \\Seen $Label1]",
            "keep [\\Deleted \\Seen]"
        ]
    );
    let s = r#"require "imap4flags"; addflag "\\Seen";"#;
    assert_eq!(actions(s, &plain()), ["implicit keep [\\Seen]"]);
}

// ---------------------------------------------------------------- RFC 5233 (subaddress)

/// RFC 5233 §6 (the example script).
const RFC5233_6: &str = r#"
require ["envelope", "subaddress", "fileinto"];

# In this example the same user account receives mail for both
# "ken@example.com" and "postmaster@example.com"

# File all messages to postmaster into a single mailbox,
# ignoring the :detail part.
if envelope :user "to" "postmaster" {
    fileinto "inbox.postmaster";
    stop;
}

# File mailing list messages (subscribed as "ken+mta-filters").
if envelope :detail "to" "mta-filters" {
    fileinto "inbox.ietf-mta-filters";
}

# Redirect all mail sent to "ken+foo".
if envelope :detail "to" "foo" {
    redirect "ken@example.net";
}
"#;

#[test]
fn rfc5233_6_example() {
    let mut e = envelope();
    for (to, want) in [
        (
            "postmaster+abuse@example.com",
            vec!["fileinto inbox.postmaster"],
        ),
        (
            "ken+mta-filters@example.com",
            vec!["fileinto inbox.ietf-mta-filters"],
        ),
        ("ken+foo@example.com", vec!["redirect ken@example.net"]),
        ("ken@example.com", vec!["implicit keep"]),
    ] {
        e.to = to.into();
        assert_eq!(actions_env(RFC5233_6, &plain(), &e), want, "{to}");
    }
}

/// RFC 5233 §4 (:user / :detail semantics, as in Pigeonhole's rfc.svtest).
#[test]
fn rfc5233_4_parts() {
    let m = msg(
        "From: stephan+@example.org\nTo: timo+spam@example.net\nCC: nico@example.com\nSubject: fetch my spam",
        "Mouhahahaha... Spam!\r\n",
    );
    let t = |test: &str| {
        let s = format!("require \"subaddress\";\nif {test} {{ discard; }}");
        actions(&s, &m) == ["discard"]
    };
    assert!(t(r#"address :user "cc" "nico""#));
    assert!(t(r#"address :user "to" "timo""#));
    assert!(t(r#"address :user "from" "stephan""#));
    assert!(t(r#"address :detail "to" "spam""#));
    // no separator: :detail matches nothing, not even ""
    assert!(!t(r#"anyof (address :detail :matches "cc" ["*", "?"],
                         address :detail :contains "cc" "",
                         address :detail :is "cc" "")"#));
    // empty detail is ""
    assert!(t(r#"address :detail "from" """#));
}

// ---------------------------------------------------------------- RFC 3894 (copy)

/// RFC 3894 §3 (the example): redirect :copy keeps the message too.
#[test]
fn rfc3894_copy() {
    let s = r#"
require ["copy", "fileinto"];
if header :contains "subject" "present" {
    redirect :copy "other@example.net";
    fileinto :copy "Copies";
}
"#;
    assert_eq!(
        actions(s, &plain()),
        [
            "redirect other@example.net :copy",
            "fileinto Copies :copy",
            "implicit keep"
        ]
    );
    assert!(compile_err(r#"redirect :copy "a@b.c";"#).contains("require \"copy\""));
}

// ---------------------------------------------------------------- RFC 5173 (body)

fn multipart() -> Vec<u8> {
    msg(
        "From: agent@example.org\nTo: me@example.com\nSubject: plans\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"",
        "preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nThe missile coordinates are =\r\nsecret. The project schedule slipped.\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>Meet at <b>noon</b></p>\r\n--b1\r\nContent-Type: audio/mp3\r\nContent-Transfer-Encoding: base64\r\n\r\nSUQzAwAAAAAA\r\n--b1--\r\n",
    )
}

/// RFC 5173 §7 (examples).
#[test]
fn rfc5173_7_examples() {
    let s = r#"
require ["body", "fileinto"];

# Save any message with any text MIME part that contains the
# words "missile" or "coordinates" in the "secrets" folder.

if body :content "text" :contains ["missile", "coordinates"] {
        fileinto "secrets";
}

# Save any message with an audio/mp3 MIME part in
# the "jukebox" folder.

if body :content "audio/mp3" :contains "" {
        fileinto "jukebox";
}
"#;
    assert_eq!(
        actions(s, &multipart()),
        ["fileinto secrets", "fileinto jukebox"]
    );
    assert_eq!(actions(s, &plain()), ["implicit keep"]);
    let s = r#"require ["body", "fileinto"];
        # Save messages mentioning the project schedule in the
        # project/schedule folder.
        if body :text :contains "project schedule" {
            fileinto "project/schedule";
        }"#;
    assert_eq!(actions(s, &multipart()), ["fileinto project/schedule"]);
}

/// RFC 5173 §5.1 (:raw: no decoding) vs §5.3 (:text: decoded, HTML as text).
#[test]
fn rfc5173_5_transforms() {
    let t = |test: &str| {
        let s = format!("require \"body\";\nif {test} {{ discard; }}");
        actions(&s, &multipart()) == ["discard"]
    };
    assert!(
        t(r#"body :raw :contains "coordinates are =""#),
        ":raw sees the QP soft break"
    );
    assert!(!t(r#"body :text :contains "coordinates are =""#));
    assert!(
        t(r#"body :text :contains "coordinates are secret""#),
        ":text decodes QP"
    );
    assert!(t(r#"body :raw :contains "preamble""#));
    assert!(
        t(r#"body :contains "Meet at noon""#),
        "HTML parts are converted to text"
    );
    assert!(t(r#"body :content "text/html" :contains "<b>noon</b>""#));
    assert!(!t(r#"body :content "image" :contains """#));
    assert!(
        t(r#"body :content "" :contains "ID3""#),
        "\"\" matches every part; base64 decoded"
    );
}

// ---------------------------------------------------------------- RFC 5260 (date, index)

/// RFC 5260 §7 (examples).
#[test]
fn rfc5260_7_examples() {
    // Between 9 and 17 in the sender's zone
    let s = r#"
require ["date", "relational", "fileinto"];
if allof(header :is "from" "boss@example.com",
         date :value "ge" :originalzone "date" "hour" "09",
         date :value "lt" :originalzone "date" "hour" "17")
{ fileinto "urgent"; }
"#;
    let m = msg(
        "From: boss@example.com\nDate: Tue, 3 Jul 2007 09:00:00 -0700",
        "x",
    );
    assert_eq!(actions(s, &m), ["fileinto urgent"]);
    let m = msg(
        "From: boss@example.com\nDate: Tue, 3 Jul 2007 18:00:00 -0700",
        "x",
    );
    assert_eq!(actions(s, &m), ["implicit keep"]);

    // Weekend mail by the Received date
    let s = r#"
require ["date", "relational", "fileinto"];
if anyof(date :is "received" "weekday" "0",
         date :is "received" "weekday" "6")
{ fileinto "weekend"; }
"#;
    let m = msg("Received: from a by b; Sat, 7 Jul 2007 10:00:00 +0000", "x");
    assert_eq!(actions(s, &m), ["fileinto weekend"]);
    let m = msg("Received: from a by b; Mon, 9 Jul 2007 10:00:00 +0000", "x");
    assert_eq!(actions(s, &m), ["implicit keep"]);

    // File by the current month and year (the test host's clock: 2007-07-03)
    let s = r#"
require ["date", "variables", "fileinto"];
if currentdate :matches "month" "*" { set "month" "${1}"; }
if currentdate :matches "year"  "*" { set "year" "${1}"; }
fileinto "${month}-${year}";
"#;
    assert_eq!(actions(s, &plain()), ["fileinto 07-2007"]);

    // Vacation only during the first week of July
    let s = r#"
require ["date", "relational", "vacation"];
if allof(currentdate :value "ge" "date" "2007-06-30",
         currentdate :value "le" "date" "2007-07-07")
{ vacation :days 7  "I'm away during the first week in July."; }
"#;
    assert_eq!(
        actions(s, &plain())[0],
        "vacation to=coyote@desert.example.org subject=Auto: I have a present for you period=604800"
    );

    // editheader is not supported: the RFC's addheader example does not compile
    let s = r#"
require ["variables", "date", "editheader"];
if currentdate :matches "std11" "*"
{addheader "Processing-date" "${0}";}
"#;
    assert!(compile_err(s).contains("unsupported capability \"editheader\""));
}

/// RFC 5260 §4.2 date-parts and §3 zones.
#[test]
fn rfc5260_date_parts_and_zones() {
    let m = msg("Date: Tue, 3 Jul 2007 09:05:06 -0700", "x");
    let cases = [
        ("year", "2007"),
        ("month", "07"),
        ("day", "03"),
        ("date", "2007-07-03"),
        ("julian", "54284"),
        ("hour", "09"),
        ("minute", "05"),
        ("second", "06"),
        ("time", "09:05:06"),
        ("iso8601", "2007-07-03T09:05:06-07:00"),
        ("std11", "Tue, 03 Jul 2007 09:05:06 -0700"),
        ("zone", "-0700"),
        ("weekday", "2"),
    ];
    for (part, want) in cases {
        let s = format!(
            "require \"date\";\nif date :originalzone :is \"date\" \"{part}\" \"{want}\" {{ discard; }}"
        );
        assert_eq!(actions(&s, &m), ["discard"], "{part}");
    }
    let s = r#"require "date"; if date :zone "+0200" :is "date" "time" "18:05:06" { discard; }"#;
    assert_eq!(actions(s, &m), ["discard"]);
    // no zone argument: the host's local zone (UTC in the test host)
    let s = r#"require "date"; if date :is "date" "hour" "16" { discard; }"#;
    assert_eq!(actions(s, &m), ["discard"]);
    assert!(
        compile_err(r#"require "date"; if date :zone "CEST" "date" "hour" "1" {}"#)
            .contains("time zone")
    );
}

/// RFC 5260 §6 (index) — the RFC's example, plus :last.
#[test]
fn rfc5260_6_index() {
    let s = r#"
require ["date", "relational", "index"];
if date :value "gt" :index 2 :zone "-0500" "received"
        "iso8601" "2007-02-26T09:00:00-05:00"
{ redirect "aftercutoff@example.org"; }
"#;
    let m = msg(
        "Received: from c by d; Mon, 26 Feb 2007 16:00:00 +0000\nReceived: from a by b; Mon, 26 Feb 2007 15:00:00 +0000",
        "x",
    );
    assert_eq!(actions(s, &m), ["redirect aftercutoff@example.org"]);
    let m = msg(
        "Received: from c by d; Mon, 26 Feb 2007 16:00:00 +0000\nReceived: from a by b; Mon, 26 Feb 2007 13:00:00 +0000",
        "x",
    );
    assert_eq!(actions(s, &m), ["implicit keep"]);
    let s = r#"require "index";
        if header :index 1 :last :is "X-Hop" "last" { discard; }"#;
    assert_eq!(
        actions(s, &msg("X-Hop: first\nX-Hop: middle\nX-Hop: last", "x")),
        ["discard"]
    );
    let s = r#"require "index";
        if header :index 2 :is "X-Hop" "middle" { discard; }"#;
    assert_eq!(
        actions(s, &msg("X-Hop: first\nX-Hop: middle\nX-Hop: last", "x")),
        ["discard"]
    );
    let s = r#"require "index";
        if header :index 4 :contains "X-Hop" "" { discard; }"#;
    assert_eq!(
        actions(s, &msg("X-Hop: first\nX-Hop: middle\nX-Hop: last", "x")),
        ["implicit keep"]
    );
    assert!(compile_err(r#"if header :index 1 "a" "b" {}"#).contains("require \"index\""));
}

// ---------------------------------------------------------------- RFC 5490 (mailbox)

/// RFC 5490 §3.1 (fileinto :create) and §3.2 (mailboxexists) — the RFC's example.
#[test]
fn rfc5490_mailbox() {
    let s = r#"
require ["fileinto", "reject", "mailbox"];
if mailboxexists "Partners" {
   fileinto "Partners";
} else {
   reject "This message was not accepted by the Mailstore";
}
"#;
    let mut host = TestEnv::default();
    let o = run_with(s, &plain(), &envelope(), &mut host).unwrap();
    assert_eq!(
        fmt(&o),
        ["reject This message was not accepted by the Mailstore"]
    );
    host.mailboxes.push("Partners".into());
    let o = run_with(s, &plain(), &envelope(), &mut host).unwrap();
    assert_eq!(fmt(&o), ["fileinto Partners"]);
    let s = r#"require ["fileinto", "mailbox"]; fileinto :create "INBOX.new";"#;
    assert_eq!(actions(s, &plain()), ["fileinto INBOX.new :create"]);
}

// ---------------------------------------------------------------- RFC 5429 (reject, ereject)

/// RFC 5429 §2.1 (reject) / §2.2 (ereject) examples, and the incompatibilities.
#[test]
fn rfc5429_reject_ereject() {
    let s = r#"
require ["reject"];

if size :over 100K {
    reject text:
Your message is too big.  If you want to send me a big attachment,
put it on a public web site and send me a URL.
.
;
}
"#;
    let m = msg("From: a@b.c", &"x".repeat(101 * 1024));
    assert_eq!(
        actions(s, &m),
        [
            "reject Your message is too big.  If you want to send me a big attachment,\r\nput it on a public web site and send me a URL.\r\n"
        ]
    );
    let s = r#"
require ["ereject"];
if address :domain :is "from" "example.com" {
    ereject "I no longer accept mail from this domain";
}
"#;
    let m = msg("From: a@example.com", "x");
    assert_eq!(
        actions(s, &m),
        ["ereject I no longer accept mail from this domain"]
    );
    // reject with keep / fileinto / vacation is an error (§2.1)
    for other in [
        "keep;",
        "require \"fileinto\"; fileinto \"x\";",
        "require \"vacation\"; vacation \"x\";",
    ] {
        let (req, cmd) = other
            .rsplit_once("; ")
            .map(|(a, b)| (format!("{a};"), b.to_string()))
            .unwrap_or((String::new(), other.to_string()));
        let s = format!("require \"reject\"; {req} reject \"no\"; {cmd}");
        let s = s.replace(
            "require \"reject\"; require",
            "require \"reject\";\nrequire",
        );
        let l = Limits::default();
        let sc = compile(&s, &l).unwrap_or_else(|e| panic!("{e}: {s}"));
        let r = run(
            &[&sc],
            &Message::new(&plain()),
            &envelope(),
            &mut TestEnv::default(),
            &l,
        );
        assert!(
            matches!(r, Err(RuntimeError::IncompatibleActions(_))),
            "{s}: {r:?}"
        );
    }
}

// ---------------------------------------------------------------- RFC 7352 (duplicate)

/// RFC 7352 §3 (examples): the same message twice.
#[test]
fn rfc7352_examples() {
    let s = r#"
require ["duplicate", "fileinto", "mailbox"];

if duplicate {
  fileinto :create "Trash/Duplicate";
}
"#;
    let mut host = TestEnv::default();
    assert_eq!(
        fmt(&run_with(s, &plain(), &envelope(), &mut host).unwrap()),
        ["implicit keep"]
    );
    assert_eq!(
        fmt(&run_with(s, &plain(), &envelope(), &mut host).unwrap()),
        ["fileinto Trash/Duplicate :create"]
    );

    let s = r#"
require ["duplicate", "variables", "imap4flags",
  "fileinto"];

if header :matches "subject" "ALERT: *" {
  if duplicate :seconds 60 :uniqueid "${1}" {
    setflag "\\seen";
  }
  fileinto "Alerts";
}
"#;
    let m = msg("Subject: ALERT: server down\nMessage-ID: <a1@x>", "x");
    let m2 = msg("Subject: ALERT: server down\nMessage-ID: <a2@x>", "x");
    let mut host = TestEnv::default();
    assert_eq!(
        fmt(&run_with(s, &m, &envelope(), &mut host).unwrap()),
        ["fileinto Alerts"]
    );
    assert_eq!(
        fmt(&run_with(s, &m2, &envelope(), &mut host).unwrap()),
        ["fileinto Alerts [\\seen]"]
    );
    assert_eq!(host.checks[0].1.as_secs(), 60);
    host.now.unix += 61;
    assert_eq!(
        fmt(&run_with(s, &m2, &envelope(), &mut host).unwrap()),
        ["fileinto Alerts"]
    );

    let s = r#"
require ["variables", "envelope", "duplicate", "fileinto"];

if envelope :matches "from" "*" { set "sender" "${1}"; }
if header :matches "message-id" "*" { set "mid" "${1}"; }

if duplicate :uniqueid "${sender} ${mid}" {
  fileinto "Trash";
}
"#;
    let mut host = TestEnv::default();
    run_with(s, &plain(), &envelope(), &mut host).unwrap();
    assert_eq!(
        fmt(&run_with(s, &plain(), &envelope(), &mut host).unwrap()),
        ["fileinto Trash"]
    );
    let mut e = envelope();
    e.from = "other@example.org".into();
    assert_eq!(
        fmt(&run_with(s, &plain(), &e, &mut host).unwrap()),
        ["implicit keep"]
    );

    // :header and :handle (separate namespaces)
    let s = r#"require ["duplicate"];
        if duplicate :header "X-Event-ID" :handle "notifier" { discard; }"#;
    let m = msg("X-Event-ID: 42", "x");
    let mut host = TestEnv::default();
    run_with(s, &m, &envelope(), &mut host).unwrap();
    assert_eq!(
        fmt(&run_with(s, &m, &envelope(), &mut host).unwrap()),
        ["discard"]
    );
    let other = s.replace("notifier", "other");
    assert_eq!(
        fmt(&run_with(&other, &m, &envelope(), &mut host).unwrap()),
        ["implicit keep"]
    );
    // missing header: the test is false and records nothing
    let n = host.checks.len();
    assert_eq!(
        fmt(&run_with(s, &plain(), &envelope(), &mut host).unwrap()),
        ["implicit keep"]
    );
    assert_eq!(host.checks.len(), n);
}

// ---------------------------------------------------------------- regex draft

/// draft-ietf-sieve-regex-01 §3/§4 examples (with the `regex` crate's syntax).
#[test]
fn regex_draft_examples() {
    let s = r#"
require ["regex", "fileinto"];
if address :regex :comparator "i;ascii-casemap" "from" [
       "stephan(\\+.*)?@it\\.example\\.com",
       "stephan(\\+.*)?@friep\\.example\\.com"
   ] {
   fileinto "Friends";
}
"#;
    assert_eq!(
        actions(s, &msg("From: Stephan+x@IT.example.com", "x")),
        ["fileinto Friends"]
    );
    assert_eq!(
        actions(s, &msg("From: stephan@evil.example.com", "x")),
        ["implicit keep"]
    );
    let s = r#"
require ["regex", "variables", "fileinto"];
if header :regex "List-ID" "<(.*)@" {
    fileinto "lists.${1}";
    stop;
}
# Imagine the header
# Subject: [acme-users] [fwd] version 1.0 is out
if header :regex "Subject" "^\\[(.*)\\] (.*)$" {
    # ${1} will hold "acme-users] [fwd"
    fileinto "${1}";
    stop;
}
"#;
    assert_eq!(
        actions(s, &msg("List-ID: <sieve@lists.example.org>", "x")),
        ["fileinto lists.sieve"]
    );
    assert_eq!(
        actions(
            s,
            &msg("Subject: [acme-users] [fwd] version 1.0 is out", "x")
        ),
        ["fileinto acme-users] [fwd"]
    );
    // :quoteregex (set modifier of the draft)
    let s = r#"require ["regex", "variables", "fileinto"];
        set :quoteregex "q" "a.b*c";
        if header :regex "Subject" "^${q}$" { fileinto "quoted"; }"#;
    assert_eq!(actions(s, &msg("Subject: a.b*c", "x")), ["fileinto quoted"]);
    assert_eq!(actions(s, &msg("Subject: aXbbbc", "x")), ["implicit keep"]);
}
