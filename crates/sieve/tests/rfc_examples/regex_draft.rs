//! regex draft

use super::common::*;

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
