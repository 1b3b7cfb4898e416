//! RFC 5228 (base language)

use super::common::*;

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
