//! RFC 7352 (duplicate)

use super::common::*;

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
