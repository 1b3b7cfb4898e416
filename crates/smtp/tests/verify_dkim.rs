//! DKIM through the verifier: RSA-2048 and Ed25519 signatures made in the test, keys
//! published on our DNS server; pass, body changed after signing, unknown selector, revoked
//! key, several signatures, and a key record that only fits over TCP.

mod dns_server;
mod verify_fixtures;

use dns_server::DnsServer;
use mailstack_smtp::verify::{DkimOutcome, DkimStatus};
use verify_fixtures::{
    BODY, assert_header_shape, dkim_sign, ed25519_key, message, rsa_key, unfold, verifier, verify,
};

fn outcome(domain: &str, selector: &str, result: DkimStatus) -> DkimOutcome {
    DkimOutcome {
        domain: domain.to_string(),
        selector: selector.to_string(),
        result,
    }
}

#[tokio::test]
async fn rsa_2048_signature_passes() {
    let dns = DnsServer::start().await;
    let key = rsa_key();
    dns.add_txt("sel._domainkey.example.org", &key.record);
    let signed = dkim_sign(
        key,
        "example.org",
        "sel",
        &message("alice@example.org", BODY),
    );
    let verdict = verify(&verifier(&dns), "127.0.0.1", "alice@example.org", &signed).await;
    assert_eq!(
        verdict.dkim,
        vec![outcome("example.org", "sel", DkimStatus::Pass)]
    );
    assert!(verdict.dkim_pass());
    assert_header_shape(&verdict.header);
    let header = unfold(&verdict.header);
    assert!(
        header.contains("dkim=pass header.d=example.org header.s=sel"),
        "{header}"
    );
}

#[tokio::test]
async fn ed25519_signature_passes() {
    let dns = DnsServer::start().await;
    let key = ed25519_key();
    dns.add_txt("ed._domainkey.example.org", &key.record);
    let signed = dkim_sign(
        key,
        "example.org",
        "ed",
        &message("alice@example.org", BODY),
    );
    let verdict = verify(&verifier(&dns), "127.0.0.1", "alice@example.org", &signed).await;
    assert_eq!(
        verdict.dkim,
        vec![outcome("example.org", "ed", DkimStatus::Pass)]
    );
}

#[tokio::test]
async fn body_changed_after_signing_fails() {
    let dns = DnsServer::start().await;
    let key = rsa_key();
    dns.add_txt("sel._domainkey.example.org", &key.record);
    let mut signed = dkim_sign(
        key,
        "example.org",
        "sel",
        &message("alice@example.org", BODY),
    );
    let at = signed.len() - "Alice\r\n".len();
    signed.splice(at.., b"Mallory\r\n".iter().copied());
    let verdict = verify(&verifier(&dns), "127.0.0.1", "alice@example.org", &signed).await;
    assert_eq!(
        verdict.dkim,
        vec![outcome("example.org", "sel", DkimStatus::Fail)]
    );
    assert!(!verdict.dkim_pass());
    assert!(
        unfold(&verdict.header).contains("dkim=fail"),
        "{}",
        verdict.header
    );
}

#[tokio::test]
async fn signed_header_changed_after_signing_fails() {
    let dns = DnsServer::start().await;
    let key = ed25519_key();
    dns.add_txt("ed._domainkey.example.org", &key.record);
    let signed = dkim_sign(
        key,
        "example.org",
        "ed",
        &message("alice@example.org", BODY),
    );
    let forged = String::from_utf8(signed)
        .unwrap()
        .replace("Subject: Quarterly report", "Subject: Wire the money");
    let verdict = verify(
        &verifier(&dns),
        "127.0.0.1",
        "alice@example.org",
        forged.as_bytes(),
    )
    .await;
    assert_eq!(
        verdict.dkim,
        vec![outcome("example.org", "ed", DkimStatus::Fail)]
    );
}

#[tokio::test]
async fn unknown_selector_is_a_permanent_error() {
    let dns = DnsServer::start().await;
    let key = rsa_key();
    dns.add_txt("sel._domainkey.example.org", &key.record);
    let signed = dkim_sign(
        key,
        "example.org",
        "gone",
        &message("alice@example.org", BODY),
    );
    let verdict = verify(&verifier(&dns), "127.0.0.1", "alice@example.org", &signed).await;
    // mail-auth 0.13.3: an NXDOMAIN key record is permerror ("dns record not found").
    assert_eq!(
        verdict.dkim,
        vec![outcome("example.org", "gone", DkimStatus::PermError)]
    );
    assert!(
        unfold(&verdict.header).contains("dkim=permerror"),
        "{}",
        verdict.header
    );
}

#[tokio::test]
async fn revoked_key_is_a_permanent_error() {
    let dns = DnsServer::start().await;
    let key = rsa_key();
    dns.add_txt("sel._domainkey.example.org", "v=DKIM1; k=rsa; p=");
    let signed = dkim_sign(
        key,
        "example.org",
        "sel",
        &message("alice@example.org", BODY),
    );
    let verdict = verify(&verifier(&dns), "127.0.0.1", "alice@example.org", &signed).await;
    assert_eq!(verdict.dkim.len(), 1);
    assert_ne!(verdict.dkim[0].result, DkimStatus::Pass);
    assert!(
        matches!(
            verdict.dkim[0].result,
            DkimStatus::PermError | DkimStatus::Fail
        ),
        "{:?}",
        verdict.dkim
    );
}

#[tokio::test]
async fn unsigned_message_has_no_dkim_results() {
    let dns = DnsServer::start().await;
    let verdict = verify(
        &verifier(&dns),
        "127.0.0.1",
        "alice@example.org",
        &message("alice@example.org", BODY),
    )
    .await;
    assert!(verdict.dkim.is_empty());
    assert!(
        unfold(&verdict.header).contains("dkim=none"),
        "{}",
        verdict.header
    );
}

#[tokio::test]
async fn every_signature_is_reported_in_order() {
    let dns = DnsServer::start().await;
    let author = ed25519_key();
    let esp = rsa_key();
    dns.add_txt("ed._domainkey.example.org", &author.record);
    dns.add_txt("esp._domainkey.esp.example", &esp.record);
    let once = dkim_sign(
        author,
        "example.org",
        "ed",
        &message("alice@example.org", BODY),
    );
    let twice = dkim_sign(esp, "esp.example", "esp", &once);
    let verdict = verify(&verifier(&dns), "127.0.0.1", "alice@example.org", &twice).await;
    assert_eq!(
        verdict.dkim,
        vec![
            outcome("esp.example", "esp", DkimStatus::Pass),
            outcome("example.org", "ed", DkimStatus::Pass),
        ]
    );
}

#[tokio::test]
async fn key_record_is_fetched_over_tcp_when_udp_is_truncated() {
    let dns = DnsServer::start().await;
    dns.set_force_tcp(true);
    let key = rsa_key();
    dns.add_txt("sel._domainkey.example.org", &key.record);
    let signed = dkim_sign(
        key,
        "example.org",
        "sel",
        &message("alice@example.org", BODY),
    );
    let verdict = verify(&verifier(&dns), "127.0.0.1", "alice@example.org", &signed).await;
    assert_eq!(
        verdict.dkim,
        vec![outcome("example.org", "sel", DkimStatus::Pass)]
    );
    assert!(dns.tcp_queries() > 0, "no query came over TCP");
}

#[tokio::test]
async fn message_without_header_section_still_gets_a_header() {
    let dns = DnsServer::start().await;
    dns.add_txt("example.org", "v=spf1 ip4:127.0.0.1 -all");
    let verdict = verify(
        &verifier(&dns),
        "127.0.0.1",
        "alice@example.org",
        b"this is not a message\r\n",
    )
    .await;
    assert!(verdict.dkim.is_empty());
    assert_header_shape(&verdict.header);
    let header = unfold(&verdict.header);
    assert!(header.contains("spf=pass"), "{header}");
    assert!(header.contains("dkim=none"), "{header}");
    assert!(header.contains("dmarc=none"), "{header}");
    assert!(header.contains("arc=none"), "{header}");
}
