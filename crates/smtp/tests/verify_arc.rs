//! ARC through the verifier: a message sealed by a forwarder (mail-auth's ArcSealer, key on our
//! DNS server) passes, an unsealed one is none, and one changed after sealing does not pass.

mod dns_server;
mod verify_fixtures;

use dns_server::DnsServer;
use mailstack_smtp::verify::ArcOutcome;
use verify_fixtures::{
    BODY, arc_seal, assert_header_shape, dkim_sign, ed25519_key, message, rsa_key, unfold,
    verifier, verify,
};

/// alice@example.org signs, the list at lists.example.net breaks nothing and seals.
async fn sealed_message(dns: &DnsServer) -> Vec<u8> {
    let author = ed25519_key();
    dns.add_txt("ed._domainkey.example.org", &author.record);
    let sealer = rsa_key();
    dns.add_txt("arc._domainkey.lists.example.net", &sealer.record);
    let signed = dkim_sign(
        author,
        "example.org",
        "ed",
        &message("alice@example.org", BODY),
    );
    arc_seal(sealer, "lists.example.net", "arc", &signed)
}

#[tokio::test]
async fn sealed_message_passes() {
    let dns = DnsServer::start().await;
    let sealed = sealed_message(&dns).await;
    let verdict = verify(
        &verifier(&dns),
        "127.0.0.5",
        "list@lists.example.net",
        &sealed,
    )
    .await;
    assert_eq!(verdict.arc, ArcOutcome::Pass);
    assert_header_shape(&verdict.header);
    let header = unfold(&verdict.header);
    assert!(
        header.contains("arc=pass smtp.remote-ip=127.0.0.5"),
        "{header}"
    );
}

#[tokio::test]
async fn unsealed_message_is_none() {
    let dns = DnsServer::start().await;
    let verdict = verify(
        &verifier(&dns),
        "127.0.0.5",
        "alice@example.org",
        &message("alice@example.org", BODY),
    )
    .await;
    assert_eq!(verdict.arc, ArcOutcome::None);
    assert!(
        unfold(&verdict.header).contains("arc=none"),
        "{}",
        verdict.header
    );
}

#[tokio::test]
async fn body_changed_after_sealing_does_not_pass() {
    let dns = DnsServer::start().await;
    let mut sealed = sealed_message(&dns).await;
    sealed.extend_from_slice(b"-- \r\nappended by a later hop\r\n");
    let verdict = verify(
        &verifier(&dns),
        "127.0.0.5",
        "list@lists.example.net",
        &sealed,
    )
    .await;
    // The last ARC-Message-Signature no longer matches the body: the chain fails.
    assert_eq!(verdict.arc, ArcOutcome::Fail);
    assert!(
        unfold(&verdict.header).contains("arc=fail"),
        "{}",
        verdict.header
    );
}

#[tokio::test]
async fn unknown_sealing_key_does_not_pass() {
    let dns = DnsServer::start().await;
    let sealed = sealed_message(&dns).await;
    dns.remove("arc._domainkey.lists.example.net");
    let verdict = verify(
        &verifier(&dns),
        "127.0.0.5",
        "list@lists.example.net",
        &sealed,
    )
    .await;
    assert!(
        matches!(verdict.arc, ArcOutcome::PermError | ArcOutcome::Fail),
        "{:?}",
        verdict.arc
    );
}
