//! RFC 5232 (imap4flags)

use super::common::*;

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
