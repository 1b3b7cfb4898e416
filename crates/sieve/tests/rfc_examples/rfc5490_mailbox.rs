//! RFC 5490 (mailbox)

use super::common::*;

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
