//! Outbound delivery through the real queue and the [`RouterTransport`]: MX resolution
//! against the in-process DNS server, Postfix's `smtp-sink` as the remote MTA on 127.0.0.x,
//! retries, DSNs to the local sender (over LMTP into her Maildir), null MX, MX preference and
//! fallback, connection reuse and the per-domain concurrency limit. Loopback only.

mod common;
mod dns_server;
mod outbound_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use dns_server::DnsServer;
use mailstack_queue::{DeliveryOutcome, RecipientOutcome, Transport};
use mailstack_smtp::outbound::RemoteTransport;
use outbound_support::{
    CountingProxy, Mta, SmtpSink, free_port, loopback, message, outbound_options, request,
};

const ALICE: &str = "alice@example.com";

/// Distinct random loopback addresses and one port free on all of them.
fn addresses(n: usize) -> (Vec<Ipv4Addr>, u16) {
    let mut ips: Vec<Ipv4Addr> = Vec::new();
    while ips.len() < n {
        let ip = loopback();
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    let all: Vec<IpAddr> = ips.iter().map(|i| IpAddr::V4(*i)).collect();
    (ips, free_port(&all))
}

fn outcomes(o: DeliveryOutcome) -> Vec<RecipientOutcome> {
    match o {
        DeliveryOutcome::PerRecipient(list) => list,
        other => panic!("expected per-recipient outcomes, got {other:?}"),
    }
}

#[tokio::test]
async fn a_queued_message_is_delivered_to_the_recipients_mx() {
    let (ips, port) = addresses(1);
    let dns = DnsServer::start().await;
    dns.add_mx("remote.test", 10, "mx1.remote.test");
    dns.add_a("mx1.remote.test", ips[0]);
    let sink = SmtpSink::start(SocketAddr::new(IpAddr::V4(ips[0]), port), &[]).await;
    let mta = Mta::start(outbound_options(dns.addr(), port)).await;

    let id = mta
        .send(
            ALICE,
            &["bob@remote.test", "carol@REMOTE.test", "bob@example.com"],
            &message("happy"),
        )
        .await;
    mta.wait("the message left the queue", |m| m.entry(&id).is_none())
        .await;
    let dump = sink.wait_dump("Subject: happy").await;
    assert!(dump.contains("bob@remote.test"), "{dump}");
    assert!(dump.contains("carol@REMOTE.test"), "{dump}");
    assert!(
        !dump.contains("bob@example.com"),
        "local recipients go over LMTP: {dump}"
    );
    let bob = mta.local.inbox_new("bob@example.com");
    assert_eq!(bob.len(), 1, "the local recipient got it over LMTP");
}

#[tokio::test]
async fn a_4xx_is_retried_and_delivered_later() {
    let (ips, port) = addresses(1);
    let addr = SocketAddr::new(IpAddr::V4(ips[0]), port);
    let dns = DnsServer::start().await;
    dns.add_mx("remote.test", 10, "mx1.remote.test");
    dns.add_a("mx1.remote.test", ips[0]);
    let sink = SmtpSink::start(addr, &["-r", "RCPT"]).await;
    let mta = Mta::start(outbound_options(dns.addr(), port)).await;

    let id = mta
        .send(ALICE, &["bob@remote.test"], &message("retry"))
        .await;
    let entry = mta.wait_attempts(&id, 1).await;
    let reply = entry.pending[0].last_reply.clone().unwrap_or_default();
    assert!(reply.starts_with("450 4.3.0"), "{reply}");
    drop(sink);

    let sink = SmtpSink::start(addr, &[]).await;
    mta.queue.flush();
    mta.wait("the retried message left the queue", |m| {
        m.entry(&id).is_none()
    })
    .await;
    sink.wait_dump("Subject: retry").await;
    assert!(
        mta.alice_inbox().is_empty(),
        "no DSN for a delivered message"
    );
}

#[tokio::test]
async fn a_5xx_bounces_with_a_dsn_in_the_senders_mailbox() {
    let (ips, port) = addresses(1);
    let dns = DnsServer::start().await;
    dns.add_mx("remote.test", 10, "mx1.remote.test");
    dns.add_a("mx1.remote.test", ips[0]);
    let sink = SmtpSink::start(SocketAddr::new(IpAddr::V4(ips[0]), port), &["-f", "RCPT"]).await;
    let mta = Mta::start(outbound_options(dns.addr(), port)).await;

    let id = mta
        .send(ALICE, &["bob@remote.test"], &message("bounce"))
        .await;
    mta.wait("a DSN reached alice", |m| !m.alice_inbox().is_empty())
        .await;
    assert!(mta.entry(&id).is_none(), "the failed message is gone");
    let dsn = mta.alice_inbox().remove(0);
    assert!(dsn.contains("multipart/report"), "{dsn}");
    assert!(
        dsn.contains("Final-Recipient: rfc822; bob@remote.test"),
        "{dsn}"
    );
    assert!(dsn.contains("Status: 5.3.0"), "{dsn}");
    assert!(
        dsn.contains("500 5.3.0"),
        "the remote reply is quoted: {dsn}"
    );
    assert!(sink.dump().is_empty(), "nothing was accepted");
}

#[tokio::test]
async fn a_receiver_that_is_down_leaves_the_message_deferred_and_local_mail_flowing() {
    let (ips, port) = addresses(1);
    let dns = DnsServer::start().await;
    dns.add_mx("remote.test", 10, "mx1.remote.test");
    dns.add_a("mx1.remote.test", ips[0]); // nothing listens there
    let mta = Mta::start(outbound_options(dns.addr(), port)).await;

    let id = mta
        .send(ALICE, &["bob@remote.test"], &message("down"))
        .await;
    let entry = mta.wait_attempts(&id, 1).await;
    let reply = entry.pending[0].last_reply.clone().unwrap_or_default();
    assert!(reply.starts_with("451 4.4.1"), "{reply}");
    assert!(
        mta.alice_inbox().is_empty(),
        "no bounce for a temporary failure"
    );

    // The remote failure did not back off the transport: local mail goes out at once.
    let local = mta
        .send("bob@example.com", &[ALICE], &message("local"))
        .await;
    mta.wait("local mail was delivered", |m| m.entry(&local).is_none())
        .await;
    assert_eq!(mta.alice_inbox().len(), 1);
    assert!(
        mta.entry(&id).is_some(),
        "the remote message is still queued"
    );
}

#[tokio::test]
async fn a_null_mx_bounces_at_once() {
    let dns = DnsServer::start().await;
    dns.add_mx("nomail.test", 0, ".");
    let mta = Mta::start(outbound_options(dns.addr(), 25)).await;
    let id = mta
        .send(ALICE, &["x@nomail.test"], &message("nullmx"))
        .await;
    mta.wait("a DSN reached alice", |m| !m.alice_inbox().is_empty())
        .await;
    assert!(mta.entry(&id).is_none());
    let dsn = mta.alice_inbox().remove(0);
    assert!(dsn.contains("Status: 5.1.10"), "{dsn}");
    assert!(dsn.contains("null MX"), "{dsn}");
}

#[tokio::test]
async fn dns_answers_decide_between_failure_and_retry() {
    let dns = DnsServer::start().await;
    dns.add_mx("flaky.test", 10, "mx.flaky.test");
    dns.servfail("flaky.test", true);
    let remote = RemoteTransport::new(outbound_options(dns.addr(), 25)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("dns");
    let req = request(tmp.path(), &msg, ALICE, &["a@missing.test", "b@flaky.test"]);
    let list = outcomes(remote.deliver(&req).await);
    match &list[..] {
        [
            RecipientOutcome::Failed { status, reply },
            RecipientOutcome::Deferred { reply: deferred },
        ] => {
            assert_eq!(status, "5.1.2", "{reply}");
            assert!(deferred.starts_with("451 4.4.3"), "{deferred}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn mx_hosts_are_tried_in_preference_order_with_fallback() {
    let (ips, port) = addresses(3);
    let dns = DnsServer::start().await;
    // Listed out of order on purpose.
    dns.add_mx("remote.test", 30, "mx3.remote.test");
    dns.add_mx("remote.test", 10, "mx1.remote.test");
    dns.add_mx("remote.test", 20, "mx2.remote.test");
    dns.add_a("mx1.remote.test", ips[0]); // down
    dns.add_a("mx2.remote.test", ips[1]);
    dns.add_a("mx3.remote.test", ips[2]);
    let second = SmtpSink::start(SocketAddr::new(IpAddr::V4(ips[1]), port), &[]).await;
    let third = SmtpSink::start(SocketAddr::new(IpAddr::V4(ips[2]), port), &[]).await;
    let remote = RemoteTransport::new(outbound_options(dns.addr(), port)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..3 {
        let msg = message(&format!("pref{i}"));
        let req = request(tmp.path(), &msg, ALICE, &["bob@remote.test"]);
        let list = outcomes(remote.deliver(&req).await);
        assert!(
            matches!(&list[..], [RecipientOutcome::Delivered { .. }]),
            "{list:?}"
        );
        second.wait_dump(&format!("Subject: pref{i}")).await;
    }
    assert!(
        third.dump().is_empty(),
        "the third MX is only for when the second fails"
    );
}

#[tokio::test]
async fn a_domain_without_mx_is_its_own_mx() {
    let (ips, port) = addresses(1);
    let dns = DnsServer::start().await;
    dns.add_a("plain.test", ips[0]);
    dns.add_txt("plain.test", "v=spf1 -all");
    let sink = SmtpSink::start(SocketAddr::new(IpAddr::V4(ips[0]), port), &[]).await;
    let remote = RemoteTransport::new(outbound_options(dns.addr(), port)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("implicit");
    let req = request(tmp.path(), &msg, ALICE, &["x@plain.test"]);
    let list = outcomes(remote.deliver(&req).await);
    assert!(
        matches!(&list[..], [RecipientOutcome::Delivered { .. }]),
        "{list:?}"
    );
    sink.wait_dump("Subject: implicit").await;
}

#[tokio::test]
async fn two_messages_share_one_connection() {
    let (ips, port) = addresses(2);
    let dns = DnsServer::start().await;
    dns.add_mx("remote.test", 10, "mx1.remote.test");
    dns.add_a("mx1.remote.test", ips[0]);
    let backend_port = free_port(&[IpAddr::V4(ips[1])]);
    let sink = SmtpSink::start(SocketAddr::new(IpAddr::V4(ips[1]), backend_port), &[]).await;
    let proxy = CountingProxy::start(SocketAddr::new(IpAddr::V4(ips[0]), port), sink.addr).await;
    let remote = RemoteTransport::new(outbound_options(dns.addr(), port)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for subject in ["reuse1", "reuse2"] {
        let msg = message(subject);
        let req = request(tmp.path(), &msg, ALICE, &["bob@remote.test"]);
        let list = outcomes(remote.deliver(&req).await);
        assert!(
            matches!(&list[..], [RecipientOutcome::Delivered { .. }]),
            "{list:?}"
        );
    }
    let dump = sink.wait_dump("Subject: reuse2").await;
    assert!(dump.contains("Subject: reuse1"), "{dump}");
    assert_eq!(proxy.total.load(Ordering::SeqCst), 1, "one connection");
    assert_eq!(remote.connections_opened(), 1);

    // With one message per connection, each message opens its own.
    let mut opts = outbound_options(dns.addr(), port);
    opts.max_messages_per_connection = 1;
    let remote = RemoteTransport::new(opts).unwrap();
    for subject in ["single1", "single2"] {
        let msg = message(subject);
        let req = request(tmp.path(), &msg, ALICE, &["bob@remote.test"]);
        outcomes(remote.deliver(&req).await);
    }
    sink.wait_dump("Subject: single2").await;
    assert_eq!(proxy.total.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn deliveries_to_one_domain_respect_the_concurrency_limit() {
    let (ips, port) = addresses(2);
    let dns = DnsServer::start().await;
    dns.add_mx("remote.test", 10, "mx1.remote.test");
    dns.add_a("mx1.remote.test", ips[0]);
    let backend_port = free_port(&[IpAddr::V4(ips[1])]);
    // The sink waits 1 s before answering DATA, so the deliveries overlap.
    let sink = SmtpSink::start(
        SocketAddr::new(IpAddr::V4(ips[1]), backend_port),
        &["-w", "1"],
    )
    .await;
    let proxy = CountingProxy::start(SocketAddr::new(IpAddr::V4(ips[0]), port), sink.addr).await;
    let mut opts = outbound_options(dns.addr(), port);
    opts.max_per_domain = 2;
    let remote = Arc::new(RemoteTransport::new(opts).unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let mut tasks = Vec::new();
    for i in 0..5 {
        let msg = message(&format!("conc{i}"));
        let req = request(tmp.path(), &msg, ALICE, &["bob@remote.test"]);
        let remote = remote.clone();
        tasks.push(tokio::spawn(async move { remote.deliver(&req).await }));
    }
    for t in tasks {
        let list = outcomes(t.await.unwrap());
        assert!(
            matches!(&list[..], [RecipientOutcome::Delivered { .. }]),
            "{list:?}"
        );
    }
    assert_eq!(
        proxy.max_active.load(Ordering::SeqCst),
        2,
        "at most two connections at once, and the limit was used"
    );
}

#[tokio::test]
async fn an_mx_host_behind_a_cname_is_reached() {
    let (ips, port) = addresses(1);
    let dns = DnsServer::start().await;
    dns.add_mx("remote.test", 10, "alias.remote.test");
    dns.add_cname("alias.remote.test", "real.hosting.test");
    dns.add_a("real.hosting.test", ips[0]);
    let sink = SmtpSink::start(SocketAddr::new(IpAddr::V4(ips[0]), port), &[]).await;
    let remote = RemoteTransport::new(outbound_options(dns.addr(), port)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("cname");
    let req = request(tmp.path(), &msg, ALICE, &["bob@remote.test"]);
    let list = outcomes(remote.deliver(&req).await);
    assert!(
        matches!(&list[..], [RecipientOutcome::Delivered { .. }]),
        "{list:?}"
    );
    sink.wait_dump("Subject: cname").await;
}

#[tokio::test]
async fn a_smarthost_replaces_mx_delivery() {
    let (ips, port) = addresses(1);
    let dns = DnsServer::start().await;
    // The recipient domain's MX is never asked: everything goes to the smarthost.
    dns.add_mx("remote.test", 10, "mx.unreachable.test");
    dns.add_a("relay.provider.test", ips[0]);
    let sink = SmtpSink::start(SocketAddr::new(IpAddr::V4(ips[0]), port), &["-v"]).await;
    let mut opts = outbound_options(dns.addr(), 1);
    opts.smarthost = Some(mailstack_smtp::outbound::Smarthost {
        host: "relay.provider.test".into(),
        port,
        tls: mailstack_smtp::client::ClientTls::Opportunistic,
        auth: Some(("mta@example.com".into(), "pw".into())),
    });
    let mta = Mta::start(opts).await;
    let id = mta
        .send(
            ALICE,
            &["bob@remote.test", "x@other.test"],
            &message("smarthost"),
        )
        .await;
    mta.wait("the message left the queue", |m| m.entry(&id).is_none())
        .await;
    let dump = sink.wait_dump("Subject: smarthost").await;
    assert!(dump.contains("x@other.test"), "{dump}");
    assert!(sink.log().contains("AUTH PLAIN"), "{}", sink.log());
}

#[tokio::test]
async fn an_ipv6_only_mx_is_reached() {
    let ip6 = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    let port = free_port(&[ip6]);
    let dns = DnsServer::start().await;
    dns.add_mx("v6.test", 10, "mx.v6.test");
    dns.add_aaaa("mx.v6.test", std::net::Ipv6Addr::LOCALHOST);
    let receiver = outbound_support::RelayMta::start_at(SocketAddr::new(ip6, port), None).await;
    let remote = RemoteTransport::new(outbound_options(dns.addr(), port)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("ipv6");
    let req = request(tmp.path(), &msg, ALICE, &["x@v6.test"]);
    let list = outcomes(remote.deliver(&req).await);
    assert!(
        matches!(&list[..], [RecipientOutcome::Delivered { .. }]),
        "{list:?}"
    );
    assert_eq!(receiver.queued().len(), 1);
}
