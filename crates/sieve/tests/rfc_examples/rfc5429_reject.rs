//! RFC 5429 (reject, ereject)

use super::common::*;
use mailstack_sieve::*;

/// RFC 5429 §2.1 (reject) / §2.2 (ereject) examples, and the incompatibilities.
#[test]
fn rfc5429_reject_ereject() {
    let s = r#"
require ["reject"];

if size :over 100K {
    reject text:
Your message is too big.  If you want to send me a big attachment,
put it on a public web site and send me a URL.
.
;
}
"#;
    let m = msg("From: a@b.c", &"x".repeat(101 * 1024));
    assert_eq!(
        actions(s, &m),
        [
            "reject Your message is too big.  If you want to send me a big attachment,\r\nput it on a public web site and send me a URL.\r\n"
        ]
    );
    let s = r#"
require ["ereject"];
if address :domain :is "from" "example.com" {
    ereject "I no longer accept mail from this domain";
}
"#;
    let m = msg("From: a@example.com", "x");
    assert_eq!(
        actions(s, &m),
        ["ereject I no longer accept mail from this domain"]
    );
    // reject with keep / fileinto / vacation is an error (§2.1)
    for other in [
        "keep;",
        "require \"fileinto\"; fileinto \"x\";",
        "require \"vacation\"; vacation \"x\";",
        "redirect \"a@example.net\";",
    ] {
        let (req, cmd) = other
            .rsplit_once("; ")
            .map(|(a, b)| (format!("{a};"), b.to_string()))
            .unwrap_or((String::new(), other.to_string()));
        let s = format!("require \"reject\"; {req} reject \"no\"; {cmd}");
        let s = s.replace(
            "require \"reject\"; require",
            "require \"reject\";\nrequire",
        );
        let l = Limits::default();
        let sc = compile(&s, &l).unwrap_or_else(|e| panic!("{e}: {s}"));
        let r = run(
            &[&sc],
            &Message::new(&plain()),
            &envelope(),
            &mut TestEnv::default(),
            &l,
        );
        assert!(
            matches!(r, Err(RuntimeError::IncompatibleActions(_))),
            "{s}: {r:?}"
        );
    }
}
