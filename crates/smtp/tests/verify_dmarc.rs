//! DMARC through the verifier: aligned DKIM pass, aligned SPF pass, unauthenticated mail under
//! p=reject / p=quarantine / p=none, no record, and a misaligned signature.

mod dns_server;
mod verify_fixtures;

use dns_server::DnsServer;
use mailstack_smtp::verify::{DmarcOutcome, DmarcPolicy, DmarcStatus, SpfOutcome};
use verify_fixtures::{
    BODY, assert_header_shape, dkim_sign, ed25519_key, message, rsa_key, unfold, verifier, verify,
};

async fn example_org(dmarc: &str) -> DnsServer {
    let dns = DnsServer::start().await;
    dns.add_txt("example.org", "v=spf1 ip4:127.0.0.1 -all");
    dns.add_txt("_dmarc.example.org", dmarc);
    dns
}

fn dmarc(result: DmarcStatus, policy: DmarcPolicy) -> DmarcOutcome {
    DmarcOutcome {
        result,
        policy,
        domain: "example.org".to_string(),
    }
}

#[tokio::test]
async fn aligned_dkim_pass_passes_even_when_spf_fails() {
    let dns = example_org("v=DMARC1; p=reject").await;
    let key = rsa_key();
    dns.add_txt("sel._domainkey.example.org", &key.record);
    let signed = dkim_sign(
        key,
        "example.org",
        "sel",
        &message("alice@example.org", BODY),
    );
    // Forwarded: the client is not in example.org's SPF record.
    let verdict = verify(&verifier(&dns), "127.0.0.2", "alice@example.org", &signed).await;
    assert_eq!(verdict.spf, SpfOutcome::Fail);
    assert_eq!(verdict.dmarc, dmarc(DmarcStatus::Pass, DmarcPolicy::Reject));
    assert!(!verdict.dmarc_says_reject());
    let header = unfold(&verdict.header);
    assert!(
        header.contains("dmarc=pass header.from=example.org"),
        "{header}"
    );
}

#[tokio::test]
async fn aligned_spf_pass_passes_without_signature() {
    let dns = example_org("v=DMARC1; p=reject").await;
    let msg = message("alice@example.org", BODY);
    let verdict = verify(&verifier(&dns), "127.0.0.1", "bounces@example.org", &msg).await;
    assert_eq!(verdict.spf, SpfOutcome::Pass);
    assert_eq!(verdict.dmarc.result, DmarcStatus::Pass);
}

#[tokio::test]
async fn unsigned_spf_fail_under_p_reject_says_reject() {
    let dns = example_org("v=DMARC1; p=reject").await;
    let msg = message("alice@example.org", BODY);
    let verdict = verify(&verifier(&dns), "127.0.0.2", "alice@example.org", &msg).await;
    assert_eq!(verdict.spf, SpfOutcome::Fail);
    assert_eq!(verdict.dmarc, dmarc(DmarcStatus::Fail, DmarcPolicy::Reject));
    assert!(verdict.dmarc_says_reject());
    assert_header_shape(&verdict.header);
    let header = unfold(&verdict.header);
    assert!(header.contains("dmarc=fail"), "{header}");
    assert!(header.contains("policy.dmarc=reject"), "{header}");
}

#[tokio::test]
async fn unsigned_spf_fail_under_p_quarantine_says_quarantine() {
    let dns = example_org("v=DMARC1; p=quarantine").await;
    let msg = message("alice@example.org", BODY);
    let verdict = verify(&verifier(&dns), "127.0.0.2", "alice@example.org", &msg).await;
    assert_eq!(
        verdict.dmarc,
        dmarc(DmarcStatus::Fail, DmarcPolicy::Quarantine)
    );
    assert!(verdict.dmarc_says_quarantine());
    assert!(!verdict.dmarc_says_reject());
}

#[tokio::test]
async fn p_none_fails_without_asking_for_rejection() {
    let dns = example_org("v=DMARC1; p=none").await;
    let msg = message("alice@example.org", BODY);
    let verdict = verify(&verifier(&dns), "127.0.0.2", "alice@example.org", &msg).await;
    assert_eq!(verdict.dmarc, dmarc(DmarcStatus::Fail, DmarcPolicy::None));
    assert!(!verdict.dmarc_says_reject());
    assert!(!verdict.dmarc_says_quarantine());
}

#[tokio::test]
async fn no_dmarc_record_is_none() {
    let dns = DnsServer::start().await;
    dns.add_txt("example.org", "v=spf1 ip4:127.0.0.1 -all");
    let msg = message("alice@example.org", BODY);
    let verdict = verify(&verifier(&dns), "127.0.0.2", "alice@example.org", &msg).await;
    assert_eq!(verdict.dmarc.result, DmarcStatus::None);
    assert_eq!(verdict.dmarc.policy, DmarcPolicy::None);
    assert!(!verdict.dmarc_says_reject());
    assert!(
        unfold(&verdict.header).contains("dmarc=none"),
        "{}",
        verdict.header
    );
}

#[tokio::test]
async fn signature_of_another_domain_does_not_align() {
    let dns = example_org("v=DMARC1; p=reject").await;
    let key = ed25519_key();
    dns.add_txt("ed._domainkey.spammer.example", &key.record);
    let signed = dkim_sign(
        key,
        "spammer.example",
        "ed",
        &message("alice@example.org", BODY),
    );
    let verdict = verify(&verifier(&dns), "127.0.0.2", "x@spammer.example", &signed).await;
    assert!(verdict.dkim_pass());
    assert_eq!(verdict.dmarc, dmarc(DmarcStatus::Fail, DmarcPolicy::Reject));
    assert!(verdict.dmarc_says_reject());
}

#[tokio::test]
async fn subdomain_signature_aligns_in_relaxed_mode() {
    let dns = example_org("v=DMARC1; p=reject").await;
    let key = ed25519_key();
    dns.add_txt("ed._domainkey.mail.example.org", &key.record);
    let signed = dkim_sign(
        key,
        "mail.example.org",
        "ed",
        &message("alice@example.org", BODY),
    );
    let verdict = verify(&verifier(&dns), "127.0.0.2", "x@other.example", &signed).await;
    assert_eq!(verdict.dmarc.result, DmarcStatus::Pass);
}
