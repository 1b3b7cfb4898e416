//! TLS policies of outbound delivery against real receivers on 127.0.0.x: our smtp-mta relay
//! session with STARTTLS (certificates from a test CA), `smtp-sink` without STARTTLS, the
//! in-process DNS server (TLSA records, AD bit for "signed" zones, MTA-STS TXT) and an HTTPS
//! policy host. Opportunistic STARTTLS, DANE-EE/DANE-TA match and mismatch, MTA-STS
//! `enforce` and `testing`. A policy failure keeps the message queued and sends nothing in
//! clear.

mod common;
mod dns_server;
mod outbound_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use dns_server::DnsServer;
use mailstack_queue::{DeliveryOutcome, RecipientOutcome, Transport};
use mailstack_smtp::outbound::{OutboundOptions, RemoteTransport};
use outbound_support::{
    Leaf, Mta, Pki, PolicyServer, RelayMta, SmtpSink, free_port, loopback, message,
    outbound_options, request, sha256,
};

const ALICE: &str = "alice@example.com";
const RCPT: &str = "bob@remote.test";
const MX: &str = "mx1.remote.test";

/// One MX host at a random loopback address; `port` is free there (and on `extra` addresses).
struct World {
    dns: DnsServer,
    ip: Ipv4Addr,
    port: u16,
    pki: Pki,
}

impl World {
    async fn new() -> World {
        let ip = loopback();
        let port = free_port(&[IpAddr::V4(ip)]);
        let dns = DnsServer::start().await;
        dns.add_mx("remote.test", 10, MX);
        dns.add_a(MX, ip);
        World {
            dns,
            ip,
            port,
            pki: Pki::new(),
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.ip), self.port)
    }

    fn options(&self) -> OutboundOptions {
        let mut o = outbound_options(self.dns.addr(), self.port);
        o.ca_file = Some(self.pki.ca_file.clone());
        o
    }

    /// Our relay session with STARTTLS and `leaf` as the MX.
    async fn tls_receiver(&self, leaf: &Leaf) -> RelayMta {
        RelayMta::start_at(self.addr(), Some((&leaf.cert_file, &leaf.key_file))).await
    }

    /// `_PORT._tcp.MX` TLSA record; the zone is signed (answers carry AD).
    fn tlsa(&self, usage: u8, selector: u8, matching: u8, data: &[u8]) {
        self.dns.sign("remote.test");
        self.dns.add_tlsa(
            &format!("_{}._tcp.{MX}", self.port),
            usage,
            selector,
            matching,
            data,
        );
    }

    async fn deliver(&self, remote: &RemoteTransport, subject: &str) -> RecipientOutcome {
        let tmp = tempfile::tempdir().unwrap();
        let msg = message(subject);
        let req = request(tmp.path(), &msg, ALICE, &[RCPT]);
        match remote.deliver(&req).await {
            DeliveryOutcome::PerRecipient(mut list) => list.remove(0),
            other => panic!("{other:?}"),
        }
    }
}

fn assert_delivered(o: &RecipientOutcome) {
    assert!(
        matches!(o, RecipientOutcome::Delivered { .. }),
        "expected delivered: {o:?}"
    );
}

fn assert_deferred(o: &RecipientOutcome, needle: &str) {
    match o {
        RecipientOutcome::Deferred { reply } => {
            assert!(reply.contains(needle), "{reply:?} lacks {needle:?}")
        }
        other => panic!("expected deferred ({needle}): {other:?}"),
    }
}

/// The one message the receiver queued, which must have come over TLS.
fn assert_received_over_tls(receiver: &RelayMta) {
    let queued = receiver.queued();
    assert_eq!(queued.len(), 1);
    let text = String::from_utf8_lossy(&queued[0].1);
    assert!(text.contains("with ESMTPS id"), "{text}");
}

#[tokio::test]
async fn starttls_is_used_when_the_mx_offers_it() {
    let w = World::new().await;
    // Opportunistic: a certificate for another name is fine.
    let leaf = w.pki.leaf("mx", &["something-else.test"]);
    let receiver = w.tls_receiver(&leaf).await;
    let remote = RemoteTransport::new(w.options()).unwrap();
    assert_delivered(&w.deliver(&remote, "starttls").await);
    assert_received_over_tls(&receiver);
}

#[tokio::test]
async fn dane_ee_with_a_matching_key_delivers_over_tls() {
    let w = World::new().await;
    let leaf = w.pki.leaf("mx", &["not-checked-for-dane-ee.test"]);
    w.tlsa(3, 1, 1, &sha256(&leaf.spki));
    let receiver = w.tls_receiver(&leaf).await;
    let remote = RemoteTransport::new(w.options()).unwrap();
    assert_delivered(&w.deliver(&remote, "dane-ee").await);
    assert_received_over_tls(&receiver);
}

#[tokio::test]
async fn dane_ta_anchors_the_chain_and_checks_the_mx_name() {
    let w = World::new().await;
    w.tlsa(2, 0, 1, &sha256(&w.pki.ca_der));
    let leaf = w.pki.leaf("mx", &[MX]);
    let receiver = w.tls_receiver(&leaf).await;
    // Only the TLSA record vouches for the CA: no CA file configured.
    let mut opts = w.options();
    opts.ca_file = None;
    opts.mta_sts = false;
    let remote = RemoteTransport::new(opts).unwrap();
    assert_delivered(&w.deliver(&remote, "dane-ta").await);
    assert_received_over_tls(&receiver);
}

#[tokio::test]
async fn dane_ta_refuses_a_certificate_for_another_name() {
    let w = World::new().await;
    w.tlsa(2, 0, 1, &sha256(&w.pki.ca_der));
    let leaf = w.pki.leaf("mx", &["wrong-name.test"]);
    let receiver = w.tls_receiver(&leaf).await;
    let remote = RemoteTransport::new(w.options()).unwrap();
    assert_deferred(&w.deliver(&remote, "dane-ta-name").await, "4.7.5");
    assert!(receiver.queued().is_empty());
}

#[tokio::test]
async fn a_dane_mismatch_keeps_the_message_queued_and_sends_nothing() {
    let w = World::new().await;
    let leaf = w.pki.leaf("mx", &[MX]);
    let other = w.pki.leaf("other", &[MX]);
    w.tlsa(3, 1, 1, &sha256(&other.spki));
    let receiver = w.tls_receiver(&leaf).await;
    let mta = Mta::start(w.options()).await;

    let id = mta.send(ALICE, &[RCPT], &message("dane-mismatch")).await;
    let entry = mta.wait_attempts(&id, 1).await;
    let reply = entry.pending[0].last_reply.clone().unwrap_or_default();
    assert!(reply.contains("4.7.5"), "{reply}");
    assert!(receiver.queued().is_empty(), "nothing may reach the MX");
    assert!(
        mta.alice_inbox().is_empty(),
        "no bounce for a policy failure"
    );
}

#[tokio::test]
async fn dane_refuses_an_mx_without_starttls() {
    let w = World::new().await;
    let leaf = w.pki.leaf("mx", &[MX]);
    w.tlsa(3, 1, 1, &sha256(&leaf.spki));
    let sink = SmtpSink::start(w.addr(), &[]).await; // no STARTTLS
    let remote = RemoteTransport::new(w.options()).unwrap();
    assert_deferred(&w.deliver(&remote, "dane-plain").await, "4.7.10");
    assert!(sink.dump().is_empty(), "nothing was sent in clear");
}

#[tokio::test]
async fn tlsa_records_in_an_unsigned_zone_are_ignored() {
    let w = World::new().await;
    let leaf = w.pki.leaf("mx", &[MX]);
    // A mismatching record, but not DNSSEC-authenticated: opportunistic TLS applies.
    w.dns
        .add_tlsa(&format!("_{}._tcp.{MX}", w.port), 3, 1, 1, &[0u8; 32]);
    let receiver = w.tls_receiver(&leaf).await;
    let remote = RemoteTransport::new(w.options()).unwrap();
    assert_delivered(&w.deliver(&remote, "unsigned").await);
    assert_received_over_tls(&receiver);
}

#[tokio::test]
async fn a_failing_tlsa_lookup_in_a_signed_zone_defers() {
    let w = World::new().await;
    let leaf = w.pki.leaf("mx", &[MX]);
    w.dns.sign("remote.test");
    w.dns.servfail(&format!("_{}._tcp.{MX}", w.port), true);
    let receiver = w.tls_receiver(&leaf).await;
    let remote = RemoteTransport::new(w.options()).unwrap();
    assert_deferred(&w.deliver(&remote, "tlsa-servfail").await, "TLSA");
    assert!(receiver.queued().is_empty());
}

/// An MTA-STS policy for remote.test served over HTTPS on a free port.
async fn sts_policy(w: &World, mode: &str, mx: &str) -> (PolicyServer, u16) {
    let sts_ip = loopback();
    let sts_port = free_port(&[IpAddr::V4(sts_ip)]);
    w.dns.add_a("mta-sts.remote.test", sts_ip);
    w.dns
        .add_txt("_mta-sts.remote.test", "v=STSv1; id=20261126T1;");
    let policy_leaf = w.pki.leaf("policy", &["mta-sts.remote.test"]);
    let body = format!("version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 86400\r\n");
    let server = PolicyServer::start(
        SocketAddr::new(IpAddr::V4(sts_ip), sts_port),
        &policy_leaf,
        "200 OK",
        &body,
    )
    .await;
    (server, sts_port)
}

#[tokio::test]
async fn mta_sts_enforce_with_a_certificate_not_valid_for_the_mx_keeps_the_message_queued() {
    let w = World::new().await;
    let (policy, sts_port) = sts_policy(&w, "enforce", MX).await;
    let leaf = w.pki.leaf("mx", &["wrong-name.test"]);
    let receiver = w.tls_receiver(&leaf).await;
    let mut opts = w.options();
    opts.mta_sts_port = sts_port;
    let mta = Mta::start(opts).await;

    let id = mta.send(ALICE, &[RCPT], &message("sts-bad-cert")).await;
    let entry = mta.wait_attempts(&id, 1).await;
    let reply = entry.pending[0].last_reply.clone().unwrap_or_default();
    assert!(reply.contains("4.7.5"), "{reply}");
    assert!(receiver.queued().is_empty(), "nothing may reach the MX");
    assert_eq!(policy.requests.load(std::sync::atomic::Ordering::SeqCst), 1);

    // The policy is cached: a retry does not fetch it again.
    mta.queue.flush();
    mta.wait_attempts(&id, 2).await;
    assert_eq!(policy.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn mta_sts_enforce_with_a_valid_certificate_delivers() {
    let w = World::new().await;
    let (_policy, sts_port) = sts_policy(&w, "enforce", "*.remote.test").await;
    let leaf = w.pki.leaf("mx", &[MX]);
    let receiver = w.tls_receiver(&leaf).await;
    let mut opts = w.options();
    opts.mta_sts_port = sts_port;
    let remote = RemoteTransport::new(opts).unwrap();
    assert_delivered(&w.deliver(&remote, "sts-good").await);
    assert_received_over_tls(&receiver);
}

#[tokio::test]
async fn mta_sts_enforce_skips_mx_hosts_not_in_the_policy() {
    let w = World::new().await;
    let (_policy, sts_port) = sts_policy(&w, "enforce", "mail.elsewhere.test").await;
    let leaf = w.pki.leaf("mx", &[MX]);
    let receiver = w.tls_receiver(&leaf).await;
    let mut opts = w.options();
    opts.mta_sts_port = sts_port;
    let remote = RemoteTransport::new(opts).unwrap();
    assert_deferred(&w.deliver(&remote, "sts-mx").await, "MTA-STS");
    assert!(receiver.queued().is_empty());
}

#[tokio::test]
async fn mta_sts_testing_only_logs() {
    let w = World::new().await;
    let (_policy, sts_port) = sts_policy(&w, "testing", "mail.elsewhere.test").await;
    let leaf = w.pki.leaf("mx", &["wrong-name.test"]);
    let receiver = w.tls_receiver(&leaf).await;
    let mut opts = w.options();
    opts.mta_sts_port = sts_port;
    let remote = RemoteTransport::new(opts).unwrap();
    assert_delivered(&w.deliver(&remote, "sts-testing").await);
    assert_received_over_tls(&receiver);
}

#[tokio::test]
async fn dane_wins_over_mta_sts() {
    let w = World::new().await;
    // MTA-STS enforce would refuse this certificate (wrong name); DANE-EE accepts its key.
    let (_policy, sts_port) = sts_policy(&w, "enforce", MX).await;
    let leaf = w.pki.leaf("mx", &["wrong-name.test"]);
    w.tlsa(3, 1, 1, &sha256(&leaf.spki));
    let receiver = w.tls_receiver(&leaf).await;
    let mut opts = w.options();
    opts.mta_sts_port = sts_port;
    let remote = RemoteTransport::new(opts).unwrap();
    assert_delivered(&w.deliver(&remote, "dane-over-sts").await);
    assert_received_over_tls(&receiver);
}

#[tokio::test]
async fn a_cached_mta_sts_policy_survives_a_restart_and_a_dead_policy_host() {
    let w = World::new().await;
    let (policy, sts_port) = sts_policy(&w, "enforce", MX).await;
    let leaf = w.pki.leaf("mx", &["wrong-name.test"]);
    let receiver = w.tls_receiver(&leaf).await;
    let cache = tempfile::tempdir().unwrap();
    let mut opts = w.options();
    opts.mta_sts_port = sts_port;
    opts.mta_sts_cache_file = Some(cache.path().join("mta-sts.json"));
    let remote = RemoteTransport::new(opts.clone()).unwrap();
    assert_deferred(&w.deliver(&remote, "sts-cache-1").await, "4.7.5");
    drop(remote);
    drop(policy); // the policy host is gone

    // A new transport (smtp-mta restarted) still enforces the policy from the file.
    let remote = RemoteTransport::new(opts).unwrap();
    assert_deferred(&w.deliver(&remote, "sts-cache-2").await, "4.7.5");
    assert!(receiver.queued().is_empty());
}

/// A front for `backend` whose first connection offers STARTTLS and then answers the TLS
/// handshake with plain text (a broken TLS stack); later connections are passed to `backend`.
async fn broken_tls_front(addr: SocketAddr, backend: SocketAddr) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            if !first {
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                continue;
            }
            first = false;
            let (rd, mut wr) = client.split();
            let mut rd = BufReader::new(rd);
            wr.write_all(b"220 broken.test ESMTP\r\n").await.unwrap();
            let mut line = String::new();
            while rd.read_line(&mut line).await.unwrap_or(0) > 0 {
                let cmd = line.trim_end().to_ascii_uppercase();
                line.clear();
                if cmd.starts_with("EHLO") {
                    wr.write_all(b"250-broken.test\r\n250 STARTTLS\r\n")
                        .await
                        .unwrap();
                } else if cmd == "STARTTLS" {
                    wr.write_all(b"220 go ahead\r\n").await.unwrap();
                    // Whatever the client hello says, this is no TLS.
                    let mut hello = [0u8; 512];
                    let _ = tokio::io::AsyncReadExt::read(&mut rd, &mut hello).await;
                    let _ = wr.write_all(b"this is not TLS\r\n\r\n").await;
                    break;
                } else {
                    wr.write_all(b"502 5.5.1 no\r\n").await.unwrap();
                }
            }
        }
    })
}

#[tokio::test]
async fn a_failed_opportunistic_handshake_is_retried_without_tls() {
    let w = World::new().await;
    let backend_ip = IpAddr::V4(loopback());
    let sink = SmtpSink::start(SocketAddr::new(backend_ip, free_port(&[backend_ip])), &[]).await;
    let front = broken_tls_front(w.addr(), sink.addr).await;
    let remote = RemoteTransport::new(w.options()).unwrap();
    assert_delivered(&w.deliver(&remote, "tls-fallback").await);
    sink.wait_dump("Subject: tls-fallback").await;
    assert_eq!(remote.connections_opened(), 2, "one TLS attempt, one plain");
    front.abort();
}
