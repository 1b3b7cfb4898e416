//! SPF through the verifier against a DNS server of our own: pass, fail, softfail, none, the
//! null sender, and temperror when DNS is gone.

mod dns_server;
mod verify_fixtures;

use std::time::{Duration, Instant};

use dns_server::DnsServer;
use mailstack_smtp::verify::SpfOutcome;
use verify_fixtures::{BODY, assert_header_shape, message, unfold, verifier, verifier_at, verify};

async fn server_with_spf(record: &str) -> DnsServer {
    let dns = DnsServer::start().await;
    dns.add_txt("example.org", record);
    dns
}

#[tokio::test]
async fn listed_ip_passes() {
    let dns = server_with_spf("v=spf1 ip4:127.0.0.1 -all").await;
    let verdict = verify(
        &verifier(&dns),
        "127.0.0.1",
        "alice@example.org",
        &message("alice@example.org", BODY),
    )
    .await;
    assert_eq!(verdict.spf, SpfOutcome::Pass);
    assert!(!verdict.spf_hard_fail());
    assert_header_shape(&verdict.header);
    let header = unfold(&verdict.header);
    assert!(header.contains("spf=pass"), "{header}");
    assert!(
        header.contains("smtp.mailfrom=alice@example.org"),
        "{header}"
    );
}

#[tokio::test]
async fn unlisted_ip_fails_hard_with_dash_all() {
    let dns = server_with_spf("v=spf1 ip4:127.0.0.1 -all").await;
    let verdict = verify(
        &verifier(&dns),
        "127.0.0.2",
        "alice@example.org",
        &message("alice@example.org", BODY),
    )
    .await;
    assert_eq!(verdict.spf, SpfOutcome::Fail);
    assert!(verdict.spf_hard_fail());
    assert!(
        unfold(&verdict.header).contains("spf=fail"),
        "{}",
        verdict.header
    );
}

#[tokio::test]
async fn unlisted_ip_soft_fails_with_tilde_all() {
    let dns = server_with_spf("v=spf1 ip4:127.0.0.1 ~all").await;
    let verdict = verify(
        &verifier(&dns),
        "127.0.0.2",
        "alice@example.org",
        &message("alice@example.org", BODY),
    )
    .await;
    assert_eq!(verdict.spf, SpfOutcome::SoftFail);
    assert!(!verdict.spf_hard_fail());
    assert!(
        unfold(&verdict.header).contains("spf=softfail"),
        "{}",
        verdict.header
    );
}

#[tokio::test]
async fn neutral_with_question_mark_all() {
    let dns = server_with_spf("v=spf1 ?all").await;
    let verdict = verify(
        &verifier(&dns),
        "127.0.0.2",
        "alice@example.org",
        &message("alice@example.org", BODY),
    )
    .await;
    assert_eq!(verdict.spf, SpfOutcome::Neutral);
}

#[tokio::test]
async fn no_record_is_none() {
    let dns = DnsServer::start().await;
    dns.add_a("example.org", "192.0.2.1".parse().unwrap());
    let verdict = verify(
        &verifier(&dns),
        "127.0.0.1",
        "alice@example.org",
        &message("alice@example.org", BODY),
    )
    .await;
    assert_eq!(verdict.spf, SpfOutcome::None);
    assert!(
        unfold(&verdict.header).contains("spf=none"),
        "{}",
        verdict.header
    );
}

#[tokio::test]
async fn broken_record_is_permerror() {
    let dns = server_with_spf("v=spf1 ip4:not-an-address -all").await;
    let verdict = verify(
        &verifier(&dns),
        "127.0.0.1",
        "alice@example.org",
        &message("alice@example.org", BODY),
    )
    .await;
    assert_eq!(verdict.spf, SpfOutcome::PermError);
}

#[tokio::test]
async fn include_and_a_mechanisms_are_followed() {
    let dns = DnsServer::start().await;
    dns.add_txt("example.org", "v=spf1 include:_spf.example.net -all");
    dns.add_txt("_spf.example.net", "v=spf1 a:out.example.net -all");
    dns.add_a("out.example.net", "127.0.0.9".parse().unwrap());
    let verifier = verifier(&dns);
    let msg = message("alice@example.org", BODY);
    let pass = verify(&verifier, "127.0.0.9", "alice@example.org", &msg).await;
    assert_eq!(pass.spf, SpfOutcome::Pass);
    let fail = verify(&verifier, "127.0.0.8", "alice@example.org", &msg).await;
    assert_eq!(fail.spf, SpfOutcome::Fail);
}

#[tokio::test]
async fn null_sender_checks_the_helo_name() {
    let dns = DnsServer::start().await;
    dns.add_txt("mail.example.org", "v=spf1 ip4:127.0.0.1 -all");
    let verifier = verifier(&dns);
    let msg = message("mailer-daemon@example.org", BODY);
    let pass = verify(&verifier, "127.0.0.1", "", &msg).await;
    assert_eq!(pass.spf, SpfOutcome::Pass);
    let header = unfold(&pass.header);
    assert!(header.contains("smtp.mailfrom=<>"), "{header}");
    assert!(header.contains("postmaster@mail.example.org"), "{header}");
    let fail = verify(&verifier, "127.0.0.3", "", &msg).await;
    assert_eq!(fail.spf, SpfOutcome::Fail);
}

#[tokio::test]
async fn stopped_dns_server_gives_temperror_within_the_timeout() {
    let dns = server_with_spf("v=spf1 ip4:127.0.0.1 -all").await;
    let addr = dns.addr();
    dns.stop().await;
    let timeout = Duration::from_secs(2);
    let verifier = verifier_at(addr, timeout);
    let started = Instant::now();
    let verdict = verify(
        &verifier,
        "127.0.0.1",
        "alice@example.org",
        &message("alice@example.org", BODY),
    )
    .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < timeout + Duration::from_millis(500),
        "took {elapsed:?}"
    );
    assert_eq!(verdict.spf, SpfOutcome::TempError);
    assert_header_shape(&verdict.header);
    assert!(
        unfold(&verdict.header).contains("spf=temperror"),
        "{}",
        verdict.header
    );
}

#[tokio::test]
async fn unresponsive_dns_server_gives_temperror_at_the_deadline() {
    // A UDP socket that reads nothing and a TCP port nobody accepts on: every query hangs.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let timeout = Duration::from_millis(700);
    let verifier = verifier_at(addr, timeout);
    let started = Instant::now();
    let verdict = verify(
        &verifier,
        "127.0.0.1",
        "alice@example.org",
        &message("alice@example.org", BODY),
    )
    .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < timeout + Duration::from_millis(500),
        "took {elapsed:?}"
    );
    assert_eq!(verdict.spf, SpfOutcome::TempError);
    drop(silent);
}
