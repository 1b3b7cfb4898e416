//! Unit tests of the parts that need no DNS: option checks, header hygiene and folding.
//! Verification against a DNS server lives in `tests/verify_*.rs`.

use std::time::Duration;

use super::header::{fold, only_crlf_folds};
use super::*;

#[test]
fn rejects_bad_auth_serv_id_and_zero_timeout() {
    for bad in [
        "",
        "mx example.com",
        "mx.example.com;x=y",
        "mx\r\n.example",
        ".mx",
    ] {
        let opts = VerifyOptions {
            resolver: Some("127.0.0.1:53".parse().unwrap()),
            ..VerifyOptions::new(bad)
        };
        let err = Verifier::new(opts).unwrap_err();
        assert!(
            matches!(err, VerifyError::InvalidAuthServId(_)),
            "{bad:?}: {err}"
        );
        assert!(!err.is_temporary());
    }
    let opts = VerifyOptions {
        resolver: Some("127.0.0.1:53".parse().unwrap()),
        timeout: Duration::ZERO,
        ..VerifyOptions::new("mx.example.com")
    };
    assert!(matches!(Verifier::new(opts), Err(VerifyError::ZeroTimeout)));
}

#[test]
fn builds_without_a_runtime_and_reports_its_id() {
    let opts = VerifyOptions {
        resolver: Some("127.0.0.1:5353".parse().unwrap()),
        ..VerifyOptions::new("mx.example.com")
    };
    let verifier = Verifier::new(opts).unwrap();
    assert_eq!(verifier.auth_serv_id(), "mx.example.com");
    assert!(format!("{verifier:?}").contains("127.0.0.1:5353"));
}

#[test]
fn only_folds_survive_as_line_breaks() {
    let dirty = "A: x;\r\n\tspf=pass a\rb\nc\r\nd\0e\r\n f";
    assert_eq!(only_crlf_folds(dirty), "A: x;\r\n\tspf=pass abcde\r\n f");
}

#[test]
fn folding_keeps_lines_short_and_unfolds_to_the_input() {
    let long = format!(
        "Authentication-Results: mx.example.com;\r\n\tspf=pass (mx.example.com: domain of {} \
         designates 192.0.2.1 as permitted sender) smtp.mailfrom=\"a b@example.org\"",
        "x".repeat(40) + "@example.org"
    );
    let folded = fold(&long);
    for line in folded.split("\r\n") {
        assert!(line.len() <= 78, "{line:?}");
        assert!(!line.trim().is_empty());
    }
    assert_eq!(folded.replace("\r\n", ""), long.replace("\r\n", ""));
    assert!(
        folded.contains("\"a b@example.org\""),
        "quoted string was split"
    );
}

#[test]
fn a_word_longer_than_a_line_is_left_whole() {
    let word = "y".repeat(120);
    let folded = fold(&format!("X: {word} z"));
    assert_eq!(folded, format!("X:\r\n {word}\r\n z"));
}

#[test]
fn verdict_helpers_follow_the_outcomes() {
    let mut verdict = Verdict {
        spf: SpfOutcome::Fail,
        dkim: vec![DkimOutcome {
            domain: "example.org".into(),
            selector: "sel".into(),
            result: DkimStatus::Fail,
        }],
        arc: ArcOutcome::None,
        dmarc: DmarcOutcome {
            result: DmarcStatus::Fail,
            policy: DmarcPolicy::Reject,
            domain: "example.org".into(),
        },
        header: String::new(),
    };
    assert!(verdict.spf_hard_fail());
    assert!(verdict.dmarc_says_reject());
    assert!(!verdict.dmarc_says_quarantine());
    assert!(!verdict.dkim_pass());
    verdict.dmarc.policy = DmarcPolicy::Quarantine;
    verdict.spf = SpfOutcome::SoftFail;
    assert!(!verdict.dmarc_says_reject());
    assert!(verdict.dmarc_says_quarantine());
    assert!(!verdict.spf_hard_fail());
    verdict.dmarc.result = DmarcStatus::Pass;
    assert!(!verdict.dmarc_says_quarantine());
    assert_eq!(SpfOutcome::SoftFail.to_string(), "softfail");
    assert_eq!(DmarcPolicy::Reject.to_string(), "reject");
}
