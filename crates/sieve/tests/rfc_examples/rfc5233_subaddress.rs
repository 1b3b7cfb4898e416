//! RFC 5233 (subaddress)

use super::common::*;

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
