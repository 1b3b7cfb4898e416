//! RFC 5231 (relational)

use super::common::*;

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
