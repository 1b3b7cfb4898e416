//! RFC 5260 (date, index)

use super::common::*;

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
