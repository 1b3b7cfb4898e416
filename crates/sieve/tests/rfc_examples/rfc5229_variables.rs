//! RFC 5229 (variables)

use super::common::*;

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
