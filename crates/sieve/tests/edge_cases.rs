//! Edge cases beyond the RFC examples: `:matches` escapes, comparators, variable expansion in
//! every place that takes a string, compile error positions, action merging.

mod common;

use common::*;
use mailstack_sieve::*;

fn hit(test: &str, message: &[u8]) -> bool {
    let s = format!(
        "require [\"variables\", \"relational\", \"comparator-i;ascii-numeric\", \"regex\", \"encoded-character\"];\nif {test} {{ discard; }}"
    );
    actions(&s, message) == ["discard"]
}

#[test]
fn matches_wildcards_and_escapes() {
    let m = msg("Subject: a*b?c\\d\nX-Empty:", "x");
    assert!(hit(r#"header :matches "subject" "a\\*b\\?c\\\\d""#, &m));
    assert!(hit(r#"header :matches "subject" "a?b?c?d""#, &m));
    assert!(
        !hit(r#"header :matches "subject" "a\\?b*""#, &m),
        "escaped ? is literal"
    );
    assert!(hit(r#"header :matches "subject" "*""#, &m));
    assert!(hit(r#"header :matches "x-empty" "*""#, &m));
    assert!(hit(r#"header :is "x-empty" """#, &m));
    assert!(!hit(r#"header :matches "x-empty" "?""#, &m));
    assert!(
        !hit(r#"header :matches "x-missing" "*""#, &m),
        "no header, no match"
    );
    // Pigeonhole 0.5.19 matches this (a bug); RFC 5228 says the first "?" is one character
    // and "x" must follow it
    let m = msg("Subject: ALERT: disk full", "x");
    assert!(!hit(r#"header :matches "subject" "?x*""#, &m));
    assert!(hit(r#"header :matches "subject" "?LERT*""#, &m));
    // "?" is one Unicode character, not one octet
    let m = msg("Subject: =?utf-8?q?=C3=A9t=C3=A9?=", "x");
    assert!(hit(r#"header :matches "subject" "?t?""#, &m));
    assert!(hit(r#"header :is "subject" "été""#, &m), "RFC 2047 decoded");
}

#[test]
fn comparators() {
    let m = msg("Subject: Hello\nX-Num: 0042 apples\nX-Word: abc", "x");
    assert!(
        hit(r#"header :is "subject" "HELLO""#, &m),
        "default is i;ascii-casemap"
    );
    assert!(!hit(
        r#"header :is :comparator "i;octet" "subject" "HELLO""#,
        &m
    ));
    assert!(hit(
        r#"header :contains :comparator "i;octet" "subject" "ell""#,
        &m
    ));
    assert!(hit(
        r#"header :is :comparator "i;ascii-numeric" "x-num" "42""#,
        &m
    ));
    assert!(hit(
        r#"header :value "gt" :comparator "i;ascii-numeric" "x-num" "9""#,
        &m
    ));
    assert!(
        !hit(r#"header :value "gt" "x-num" "9""#, &m),
        "as strings, '0' < '9'"
    );
    // non-numeric strings are +infinity for i;ascii-numeric
    assert!(hit(
        r#"header :value "gt" :comparator "i;ascii-numeric" "x-word" "99999999999999999999999""#,
        &m
    ));
    assert!(hit(
        r#"header :value "eq" :comparator "i;ascii-numeric" "x-word" "xyz""#,
        &m
    ));
    assert!(hit(r#"header :value "ne" "subject" "hellO2""#, &m));
    assert!(hit(r#"header :value "le" "subject" "HELLO""#, &m));
    assert!(hit(
        r#"header :count "eq" :comparator "i;ascii-numeric" "x-none" "0""#,
        &m
    ));
    assert!(compile_err(r#"require "comparator-i;ascii-numeric"; if header :contains :comparator "i;ascii-numeric" "a" "1" {}"#)
        .contains("supports only"));
    // regex honours the comparator: casemap makes it case-insensitive
    assert!(hit(r#"header :regex "subject" "^h.l+o$""#, &m));
    assert!(!hit(
        r#"header :regex :comparator "i;octet" "subject" "^h.l+o$""#,
        &m
    ));
}

#[test]
fn variables_everywhere() {
    let s = r#"
require ["variables", "fileinto", "imap4flags", "envelope", "copy", "vacation", "date", "mailbox", "body"];
set "hdr" "X-Target";
set "box" "Folders/Sub";
set "flag" "$Tagged";
set "who" "boss";
set "zone" "+0100";
if header :matches "${hdr}" "*" { set "target" "${1}"; }
if envelope :matches "${who}" "*" { fileinto "never"; }
if address :localpart :is "from" "${who}" {
    addflag "${flag}";
    fileinto :flags "${flag} \\Seen" "${box}/${target}";
    redirect :copy "${who}-copy@example.net";
}
if date :zone "${zone}" :is "date" "hour" "17" { fileinto "zone-${zone}"; }
if body :contains "${target}" { fileinto "body-${target}"; }
if mailboxexists "${box}" { fileinto "exists"; }
vacation :subject "Re: ${target}" :from "${who}@example.com" :handle "h-${who}" "Away from ${target}";
"#;
    let m = msg(
        "From: boss@example.com\nTo: me@example.com\nX-Target: Q3\nDate: Tue, 3 Jul 2007 09:00:00 -0700",
        "about Q3\r\n",
    );
    let o = run_with(s, &m, &envelope(), &mut TestEnv::default()).unwrap();
    assert_eq!(
        fmt(&o)[..4],
        [
            "fileinto Folders/Sub/Q3 [$Tagged \\Seen]",
            "redirect boss-copy@example.net :copy",
            "fileinto zone-+0100 [$Tagged]",
            "fileinto body-Q3 [$Tagged]",
        ]
    );
    let Action::Vacation(v) = &o.actions[4] else {
        panic!("{o:?}")
    };
    assert_eq!(v.subject, "Re: Q3");
    assert_eq!(v.from.as_deref(), Some("boss@example.com"));
    assert_eq!(v.handle, "h-boss");
    assert_eq!(v.reason, "Away from Q3");
    // an unknown envelope part in a variable matches nothing (no error at run time)
    assert!(
        !o.actions
            .iter()
            .any(|a| matches!(a, Action::FileInto { mailbox, .. } if mailbox == "never"))
    );
}

#[test]
fn match_variables_lifetime() {
    // a failed match leaves the previous match variables alone (RFC 5229 §3.2)
    let s = r#"require ["variables", "fileinto"];
        if header :matches "subject" "*-*" { }
        if header :matches "subject" "nomatch*" { }
        fileinto "${1}.${2}.${3}";"#;
    assert_eq!(
        actions(s, &msg("Subject: left-right", "x")),
        ["fileinto left.right."]
    );
    // ${0} with :regex is the whole match
    let s = r#"require ["variables", "fileinto", "regex"];
        if header :regex "subject" "[0-9]+" { fileinto "n${0}"; }"#;
    assert_eq!(
        actions(s, &msg("Subject: order 1234 shipped", "x")),
        ["fileinto n1234"]
    );
    // only ${0}..${9} are kept (Limits::max_match_vars)
    let s = r#"require ["variables", "fileinto"];
        if header :matches "subject" "?????????????" { fileinto "${9}${10}${11}x"; }"#;
    assert_eq!(
        actions(s, &msg("Subject: abcdefghijklm", "x")),
        ["fileinto ix"]
    );
}

#[test]
fn set_modifiers_and_length_limit() {
    let s = r#"require ["variables", "fileinto"];
        set :upper :upperfirst "a" "éclair";
        set :lowerfirst "b" "ÉCLAIR";
        set :length "c" "éclair";
        fileinto "${a}|${b}|${c}";"#;
    assert_eq!(actions(s, &plain()), ["fileinto ÉCLAIR|éCLAIR|6"]);
    // values are cut at max_variable_len (at a character boundary)
    let mut l = Limits::default();
    l.max_variable_len = 5;
    let sc = compile(
        r#"require ["variables", "fileinto"]; set "a" "ééééé"; fileinto "${a}";"#,
        &l,
    )
    .unwrap();
    let o = run(
        &[&sc],
        &Message::new(&plain()),
        &envelope(),
        &mut TestEnv::default(),
        &l,
    )
    .unwrap();
    assert_eq!(fmt(&o), ["fileinto éé"]);
}

#[test]
fn compile_error_positions() {
    let e = compile(
        "require \"fileinto\";\nif header :is \"a\" \"b\" {\n  filein \"x\";\n}",
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!((e.line, e.column), (3, 3));
    assert_eq!(
        e.to_string(),
        "line 3, column 3: unknown command \"filein\""
    );
    let e = compile(
        "if header :is \"a\" \"b\" {\n\tvacation \"x\";\n}",
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 2, column 2: unknown command \"vacation\" (did you `require \"vacation\"`?)"
    );
    let e = compile("if true {\n  keep\n}", &Limits::default()).unwrap_err();
    assert_eq!((e.line, e.column), (3, 1), "{e}");
    let e = compile("keep;\n\"dangling\";", &Limits::default()).unwrap_err();
    assert_eq!((e.line, e.column), (2, 1), "{e}");
    let e = compile("if header :is \"a\" [\"b\", 1] {}", &Limits::default()).unwrap_err();
    assert!(e.message.contains("expected a string"), "{e}");
    let e = compile(
        "require \"variables\";\nset \"ok\" \"${a.b}\";",
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!((e.line, e.column), (2, 10));
}

#[test]
fn duplicate_actions_are_merged() {
    // RFC 5228 §2.10.3
    let s = r#"require "fileinto";
        fileinto "A"; fileinto "A"; redirect "x@example.net"; redirect "X@example.net"; keep; keep;"#;
    assert_eq!(
        actions(s, &plain()),
        ["fileinto A", "redirect x@example.net", "keep"]
    );
}

#[test]
fn redirect_address_checked_at_run_time() {
    let s = r#"require "variables"; set "a" "not an address"; redirect "${a}";"#;
    let r = run_with(s, &plain(), &envelope(), &mut TestEnv::default());
    assert!(matches!(r, Err(RuntimeError::InvalidValue(_))), "{r:?}");
    let s = r#"require "variables"; set "a" "Someone <someone@example.net>"; redirect "${a}";"#;
    assert_eq!(actions(s, &plain()), ["redirect someone@example.net"]);
}

#[test]
fn bad_regex_from_variables_is_a_warning() {
    let s = r#"require ["variables", "regex"]; set "r" "(";
        if header :regex "subject" "${r}" { discard; }"#;
    let o = run_with(s, &plain(), &envelope(), &mut TestEnv::default()).unwrap();
    assert_eq!(fmt(&o), ["implicit keep"]);
    assert!(o.warnings[0].contains("bad regular expression"));
}

#[test]
fn envelope_auth_and_parts() {
    let mut e = envelope();
    e.auth = Some("Coyote+work@Desert.example.org".into());
    let s = r#"require ["envelope", "subaddress"];
        if allof (envelope :domain "auth" "desert.example.org",
                  envelope :user "auth" "coyote",
                  envelope :detail "auth" "work",
                  envelope :localpart "to" "me") { discard; }"#;
    assert_eq!(actions_env(s, &plain(), &e), ["discard"]);
    assert!(
        compile_err(r#"require "envelope"; if envelope "resent-from" "x" {}"#)
            .contains("envelope part")
    );
}

#[test]
fn header_folding_and_multiple_fields() {
    let m = b"Subject: one\r\n two\r\n\tthree\r\nX-A: 1\r\nx-a: 2\r\n\r\nbody".to_vec();
    assert!(hit(r#"header :is "subject" "one two three""#, &m));
    assert!(hit(
        r#"header :count "eq" :comparator "i;ascii-numeric" "X-A" "2""#,
        &m
    ));
    assert!(hit(r#"header :is "x-a" "2""#, &m));
    // LF-only messages work too
    let m = b"Subject: lf only\n\nbody\n".to_vec();
    assert!(hit(r#"header :is "subject" "lf only""#, &m));
    assert!(hit(r#"exists "subject""#, &m));
}

#[test]
fn address_groups_and_garbage() {
    let m = msg(
        "To: undisclosed-recipients:;\nCc: Team: a@x.org, b@y.org;\nFrom: not an address",
        "x",
    );
    assert!(
        !hit(r#"address :contains "to" """#, &m),
        "an empty group has no address"
    );
    assert!(hit(
        r#"address :count "eq" :comparator "i;ascii-numeric" "cc" "2""#,
        &m
    ));
    assert!(hit(r#"address :domain :is "cc" "y.org""#, &m));
    assert!(hit(r#"address :all :is "from" "not an address""#, &m));
}

#[test]
fn vacation_reply_message() {
    let s = r#"require ["vacation", "variables"];
        set "who" "not an address";
        vacation :from "${who}" :days 2 "Back on Monday. Ümlaut ok.";"#;
    let m = msg(
        "From: Coyote <coyote@desert.example.org>\nTo: me@example.com\nSubject: =?utf-8?q?=C3=BCber?=\nMessage-ID: <b@x>\nReferences: <a@x>",
        "x",
    );
    let o = run_with(s, &m, &envelope(), &mut TestEnv::default()).unwrap();
    let Action::Vacation(v) = &o.actions[0] else {
        panic!("{o:?}")
    };
    assert_eq!(
        v.from, None,
        "an invalid :from falls back to the user's address"
    );
    assert_eq!(v.period.as_secs(), 2 * 86400);
    let now = DateTime {
        unix: 1_183_456_800,
        offset_minutes: -300,
    };
    let reply = build_vacation_reply(v, "Me <me@example.com>", now);
    let p = mail_parser::MessageParser::new().parse(&reply).unwrap();
    assert_eq!(
        p.from().unwrap().first().unwrap().address(),
        Some("me@example.com")
    );
    assert_eq!(
        p.to().unwrap().first().unwrap().address(),
        Some("coyote@desert.example.org")
    );
    assert_eq!(p.subject(), Some("Auto: über"));
    assert_eq!(p.in_reply_to().as_text(), Some("b@x"));
    let refs: Vec<&str> = p
        .references()
        .as_text_list()
        .unwrap()
        .iter()
        .map(|c| c.as_ref())
        .collect();
    assert_eq!(refs, ["a@x", "b@x"]);
    assert_eq!(
        p.header_raw("Auto-Submitted").unwrap().trim(),
        "auto-replied"
    );
    assert_eq!(p.header_raw("Precedence").unwrap().trim(), "bulk");
    assert_eq!(
        p.date().unwrap().to_rfc822(),
        "Tue, 3 Jul 2007 05:00:00 -0500"
    );
    assert!(p.message_id().unwrap().ends_with("@example.com"));
    assert_eq!(
        p.body_text(0).unwrap().trim_end(),
        "Back on Monday. Ümlaut ok."
    );
}
