//! The SMTP client to a fixed next hop ([`NextHop`], [`SmarthostTransport`]) against real
//! servers on loopback: our own smtp-mta relay session (with and without STARTTLS) and
//! Postfix's `smtp-sink` (accepting, or answering 4xx/5xx to chosen commands).

mod common;
mod outbound_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use mailstack_net::ListenAddr;
use mailstack_queue::{DeliveryOutcome, Notify, RecipientDsn, RecipientOutcome, Transport};
use mailstack_smtp::client::{ClientTls, MessageBody, NextHop, SmarthostTransport};
use outbound_support::{Pki, RelayMta, SmtpSink, free_port, loopback, message, request};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn hop(target: SocketAddr, server_name: &str, tls: ClientTls) -> NextHop {
    NextHop {
        target: ListenAddr::Tcp(target),
        server_name: server_name.to_string(),
        helo: "client.test".to_string(),
        timeout: Duration::from_secs(10),
        tls,
        auth: None,
    }
}

fn outcomes(o: DeliveryOutcome) -> Vec<RecipientOutcome> {
    match o {
        DeliveryOutcome::PerRecipient(list) => list,
        other => panic!("expected per-recipient outcomes, got {other:?}"),
    }
}

fn assert_deferred_with(o: &RecipientOutcome, needle: &str) {
    match o {
        RecipientOutcome::Deferred { reply } => {
            assert!(
                reply.contains(needle),
                "deferred reply {reply:?} lacks {needle:?}"
            )
        }
        other => panic!("expected deferred ({needle}), got {other:?}"),
    }
}

#[tokio::test]
async fn next_hop_hands_a_message_to_the_relay_listener() {
    let relay = RelayMta::start(LOCALHOST, None).await;
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("relay-plain");
    let req = request(
        tmp.path(),
        &msg,
        "sender@example.com",
        &["alice@example.com"],
    );
    let list = outcomes(
        hop(relay.addr, "relay.test", ClientTls::Opportunistic)
            .send(&req, MessageBody::Bytes(&msg))
            .await,
    );
    assert!(
        matches!(&list[..], [RecipientOutcome::Delivered { reply }] if reply.starts_with("250 2.0.0")),
        "{list:?}"
    );
    let queued = relay.queued();
    assert_eq!(queued.len(), 1);
    let (entry, bytes) = &queued[0];
    assert_eq!(entry.sender, "sender@example.com");
    assert_eq!(entry.pending[0].address, "alice@example.com");
    let text = String::from_utf8_lossy(bytes);
    // Dot-stuffed on the wire, unstuffed by the server: the line is back as it was.
    assert!(text.contains("\r\n.leading dot\r\n"), "{text}");
    assert!(text.contains("with ESMTP id"), "no TLS offered: {text}");
}

#[tokio::test]
async fn refused_recipients_keep_their_own_reply_and_the_data_reply_covers_the_others() {
    let relay = RelayMta::start(LOCALHOST, None).await;
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("mixed");
    let req = request(
        tmp.path(),
        &msg,
        "sender@example.com",
        &["nobody@example.com", "alice@example.com"],
    );
    let list = outcomes(
        hop(relay.addr, "relay.test", ClientTls::None)
            .send(&req, MessageBody::File(&req.message_path))
            .await,
    );
    match &list[..] {
        [
            RecipientOutcome::Failed { status, reply },
            RecipientOutcome::Delivered { .. },
        ] => {
            assert_eq!(status, "5.1.1", "{reply}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(relay.queued().len(), 1);
}

#[tokio::test]
async fn required_tls_verifies_the_certificate_for_the_server_name() {
    let pki = Pki::new();
    let leaf = pki.leaf("relay", &["relay.test"]);
    let relay = RelayMta::start(LOCALHOST, Some((&leaf.cert_file, &leaf.key_file))).await;
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("relay-tls");
    let req = request(
        tmp.path(),
        &msg,
        "sender@example.com",
        &["alice@example.com"],
    );
    let required = ClientTls::Required {
        ca_file: Some(pki.ca_file.clone()),
    };

    // A name the certificate does not cover: deferred, nothing sent.
    let list = outcomes(
        hop(relay.addr, "wrong.test", required.clone())
            .send(&req, MessageBody::Bytes(&msg))
            .await,
    );
    assert_deferred_with(&list[0], "4.7.5");
    assert!(relay.queued().is_empty());

    // The right name: delivered over TLS.
    let list = outcomes(
        hop(relay.addr, "relay.test", required)
            .send(&req, MessageBody::Bytes(&msg))
            .await,
    );
    assert!(
        matches!(&list[..], [RecipientOutcome::Delivered { .. }]),
        "{list:?}"
    );
    let queued = relay.queued();
    assert_eq!(queued.len(), 1);
    let text = String::from_utf8_lossy(&queued[0].1);
    assert!(text.contains("with ESMTPS id"), "{text}");
}

#[tokio::test]
async fn required_tls_refuses_a_server_without_starttls() {
    let pki = Pki::new();
    let relay = RelayMta::start(LOCALHOST, None).await;
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("no-starttls");
    let req = request(
        tmp.path(),
        &msg,
        "sender@example.com",
        &["alice@example.com"],
    );
    let list = outcomes(
        hop(
            relay.addr,
            "relay.test",
            ClientTls::Required {
                ca_file: Some(pki.ca_file.clone()),
            },
        )
        .send(&req, MessageBody::Bytes(&msg))
        .await,
    );
    assert_deferred_with(&list[0], "4.7.10");
    assert!(relay.queued().is_empty(), "nothing may be sent in clear");
}

#[tokio::test]
async fn opportunistic_tls_is_used_when_offered() {
    let pki = Pki::new();
    // The certificate's name does not matter for opportunistic TLS.
    let leaf = pki.leaf("other", &["unrelated.test"]);
    let relay = RelayMta::start(LOCALHOST, Some((&leaf.cert_file, &leaf.key_file))).await;
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("opportunistic");
    let req = request(
        tmp.path(),
        &msg,
        "sender@example.com",
        &["alice@example.com"],
    );
    let list = outcomes(
        hop(relay.addr, "relay.test", ClientTls::Opportunistic)
            .send(&req, MessageBody::Bytes(&msg))
            .await,
    );
    assert!(
        matches!(&list[..], [RecipientOutcome::Delivered { .. }]),
        "{list:?}"
    );
    let text = String::from_utf8_lossy(&relay.queued()[0].1).to_string();
    assert!(text.contains("with ESMTPS id"), "{text}");
}

#[tokio::test]
async fn smarthost_transport_delivers_to_smtp_sink_with_dsn_parameters() {
    let ip = IpAddr::V4(loopback());
    let addr = SocketAddr::new(ip, free_port(&[ip]));
    let sink = SmtpSink::start(addr, &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("sink-happy");
    let mut req = request(
        tmp.path(),
        &msg,
        "sender@example.com",
        &["a@remote.test", "b@remote.test"],
    );
    req.env_id = Some("env+id=1".to_string());
    req.ret_full = true;
    req.recipient_dsn = vec![
        RecipientDsn {
            orcpt: Some("rfc822;a@remote.test".into()),
            notify: Notify {
                success: true,
                failure: true,
                delay: false,
                never: false,
            },
        },
        RecipientDsn {
            orcpt: None,
            notify: Notify::NEVER,
        },
    ];
    let transport = SmarthostTransport::new(hop(addr, "sink.test", ClientTls::Opportunistic));
    let list = outcomes(transport.deliver(&req).await);
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .all(|o| matches!(o, RecipientOutcome::Delivered { .. })),
        "{list:?}"
    );
    let dump = sink.wait_dump("leading dot").await;
    assert!(dump.contains("RET=FULL"), "{dump}");
    assert!(dump.contains("ENVID=env+2Bid+3D1"), "{dump}");
    assert!(
        dump.contains("NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@remote.test"),
        "{dump}"
    );
    assert!(dump.contains("NOTIFY=NEVER"), "{dump}");
    assert!(dump.contains("Subject: sink-happy"), "{dump}");
}

#[tokio::test]
async fn a_4xx_to_rcpt_defers_and_a_5xx_to_data_fails_every_recipient() {
    let ip = IpAddr::V4(loopback());
    let port = free_port(&[ip]);
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("sink-errors");
    let req = request(
        tmp.path(),
        &msg,
        "sender@example.com",
        &["a@remote.test", "b@remote.test"],
    );
    {
        let sink = SmtpSink::start(SocketAddr::new(ip, port), &["-r", "RCPT"]).await;
        let list = outcomes(
            hop(sink.addr, "sink.test", ClientTls::None)
                .send(&req, MessageBody::Bytes(&msg))
                .await,
        );
        assert_eq!(list.len(), 2);
        for o in &list {
            assert_deferred_with(o, "450 4.3.0");
        }
    }
    let ip = IpAddr::V4(loopback());
    let sink = SmtpSink::start(SocketAddr::new(ip, free_port(&[ip])), &["-f", "DATA"]).await;
    let list = outcomes(
        hop(sink.addr, "sink.test", ClientTls::None)
            .send(&req, MessageBody::Bytes(&msg))
            .await,
    );
    assert_eq!(list.len(), 2);
    for o in &list {
        assert!(
            matches!(o, RecipientOutcome::Failed { status, .. } if status == "5.3.0"),
            "{o:?}"
        );
    }
}

#[tokio::test]
async fn a_dead_next_hop_defers_every_recipient_without_failing_the_agent() {
    let ip = IpAddr::V4(loopback());
    let addr = SocketAddr::new(ip, free_port(&[ip]));
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("dead");
    let req = request(tmp.path(), &msg, "sender@example.com", &["a@remote.test"]);
    let transport = SmarthostTransport::new(hop(addr, "down.test", ClientTls::Opportunistic));
    let list = outcomes(transport.deliver(&req).await);
    assert_deferred_with(&list[0], "4.4.1");
}

#[tokio::test]
async fn auth_plain_is_sent_to_a_loopback_next_hop_and_the_password_is_not_kept() {
    let ip = IpAddr::V4(loopback());
    let addr = SocketAddr::new(ip, free_port(&[ip]));
    let sink = SmtpSink::start(addr, &["-v"]).await;
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("auth");
    let req = request(tmp.path(), &msg, "sender@example.com", &["a@remote.test"]);
    let mut h = hop(addr, "sink.test", ClientTls::Opportunistic);
    h.auth = Some(("user@example.com".into(), "s3cret-pw".into()));
    assert!(
        !format!("{h:?}").contains("s3cret-pw"),
        "Debug hides the password"
    );
    let list = outcomes(h.send(&req, MessageBody::Bytes(&msg)).await);
    assert!(
        matches!(&list[..], [RecipientOutcome::Delivered { .. }]),
        "{list:?}"
    );
    sink.wait_dump("Subject: auth").await;
    // AUTH PLAIN base64("\0user@example.com\0s3cret-pw")
    let log = sink.log();
    assert!(
        log.contains("AUTH PLAIN AHVzZXJAZXhhbXBsZS5jb20AczNjcmV0LXB3"),
        "{log}"
    );
}

#[tokio::test]
async fn a_message_needing_smtputf8_fails_at_a_server_without_it() {
    let ip = IpAddr::V4(loopback());
    let sink = SmtpSink::start(SocketAddr::new(ip, free_port(&[ip])), &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let msg = message("utf8");
    let mut req = request(
        tmp.path(),
        &msg,
        "sender@example.com",
        &["jörg@remote.test"],
    );
    req.smtputf8 = true;
    let list = outcomes(
        hop(sink.addr, "sink.test", ClientTls::None)
            .send(&req, MessageBody::Bytes(&msg))
            .await,
    );
    assert!(
        matches!(&list[..], [RecipientOutcome::Failed { status, .. }] if status == "5.6.7"),
        "{list:?}"
    );
    assert!(!sink.dump().contains("Subject: utf8"));
}

#[tokio::test]
async fn a_message_above_the_servers_size_limit_fails_without_being_sent() {
    let relay = RelayMta::start(LOCALHOST, None).await; // announces SIZE 1000000
    let tmp = tempfile::tempdir().unwrap();
    let mut msg = message("big");
    msg.extend(std::iter::repeat_n(b'x', 1_100_000));
    msg.extend_from_slice(b"\r\n");
    let req = request(
        tmp.path(),
        &msg,
        "sender@example.com",
        &["alice@example.com"],
    );
    let list = outcomes(
        hop(relay.addr, "relay.test", ClientTls::None)
            .send(&req, MessageBody::File(&req.message_path))
            .await,
    );
    assert!(
        matches!(&list[..], [RecipientOutcome::Failed { status, .. }] if status == "5.3.4"),
        "{list:?}"
    );
    assert!(relay.queued().is_empty());
}
