//! The LMTP client ([`LmtpTransport`]) against the real LMTP session and `LocalDelivery`
//! over real sockets (TCP on 127.0.0.1:0 and a unix socket).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{Local, config};
use mailstack_net::{ListenAddr, Shutdown};
use mailstack_queue::{DeliveryOutcome, DeliveryRequest, QueueId, RecipientOutcome, Transport};
use mailstack_smtp::client::LmtpTransport;
use mailstack_smtp::session::run_session;

/// Serve LMTP with `local`'s `LocalDelivery` on a fresh TCP port; returns its address.
async fn serve_tcp(local: &Local, shutdown: Shutdown) -> ListenAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = local.handler.clone();
    let cfg = Arc::new(config());
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => r.unwrap(),
                () = shutdown.triggered() => return,
            };
            tokio::spawn(run_session(
                mailstack_net::Connection::Tcp(stream),
                peer.to_string(),
                cfg.clone(),
                handler.clone(),
                shutdown.clone(),
            ));
        }
    });
    ListenAddr::Tcp(addr)
}

async fn serve_unix(local: &Local, path: &Path, shutdown: Shutdown) -> ListenAddr {
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    let handler = local.handler.clone();
    let cfg = Arc::new(config());
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                r = listener.accept() => r.unwrap(),
                () = shutdown.triggered() => return,
            };
            tokio::spawn(run_session(
                mailstack_net::Connection::Unix(stream),
                "unix".to_string(),
                cfg.clone(),
                handler.clone(),
                shutdown.clone(),
            ));
        }
    });
    ListenAddr::Unix(path.to_path_buf())
}

fn request(dir: &Path, message: &[u8], recipients: &[&str]) -> DeliveryRequest {
    let path = dir.join("message");
    std::fs::write(&path, message).unwrap();
    DeliveryRequest {
        queue_id: QueueId::parse("TESTQUEUEID0001").unwrap(),
        sender: "sender@remote.example".to_string(),
        recipients: recipients.iter().map(|r| r.to_string()).collect(),
        message_path: path,
        size: message.len() as u64,
        env_id: None,
        smtputf8: false,
        ret_full: false,
        recipient_dsn: Vec::new(),
    }
}

fn transport(target: ListenAddr) -> LmtpTransport {
    LmtpTransport::new(target, "mta.test", Duration::from_secs(10))
}

/// A message whose lines start with dots (a lone "." line would end the data unstuffed).
fn dotty_message() -> Vec<u8> {
    let mut m =
        b"From: sender@remote.example\r\nTo: alice@example.com\r\nSubject: dots\r\n\r\n".to_vec();
    m.extend_from_slice(b".\r\n..two dots\r\n.leading dot\r\nmiddle . dot\r\n");
    m.extend_from_slice(b"Just some text here (lots).\r\n");
    m.extend_from_slice(b"\r\n.\r\nlast line\r\n");
    m
}

#[tokio::test]
async fn dot_lines_arrive_byte_exact_in_the_maildir() {
    let local = Local::new(|_| Ok(()));
    let shutdown = Shutdown::new();
    let target = serve_tcp(&local, shutdown.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let message = dotty_message();
    let out = transport(target)
        .deliver(&request(tmp.path(), &message, &["alice@example.com"]))
        .await;
    let DeliveryOutcome::PerRecipient(list) = out else {
        panic!("{out:?}")
    };
    assert!(
        matches!(&list[0], RecipientOutcome::Delivered { reply } if reply.starts_with("250 2.0.0")),
        "{list:?}"
    );
    let inbox = local.inbox_new("alice@example.com");
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].ends_with(&message),
        "message not byte-exact after the trace headers:\n{}",
        String::from_utf8_lossy(&inbox[0])
    );
    shutdown.trigger();
}

#[tokio::test]
async fn many_dot_lines_arrive_byte_exact() {
    let local = Local::new(|_| Ok(()));
    let shutdown = Shutdown::new();
    let target = serve_tcp(&local, shutdown.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    // Every line starts with a dot (stuffing on each); the session limit in common::config()
    // is 10_000 bytes. Chunk boundaries are covered by the unit tests of client.rs.
    let mut message = b"Subject: many dots\r\n\r\n".to_vec();
    while message.len() < 9_000 {
        message.extend_from_slice(b".abcdefg\r\n");
    }
    let out = transport(target)
        .deliver(&request(tmp.path(), &message, &["bob@example.com"]))
        .await;
    assert!(
        matches!(&out, DeliveryOutcome::PerRecipient(l) if matches!(l[0], RecipientOutcome::Delivered { .. })),
        "{out:?}"
    );
    let inbox = local.inbox_new("bob@example.com");
    assert!(inbox[0].ends_with(&message));
    shutdown.trigger();
}

#[tokio::test]
async fn unknown_user_fails_while_another_recipient_is_delivered() {
    let local = Local::new(|_| Ok(()));
    let shutdown = Shutdown::new();
    let target = serve_tcp(&local, shutdown.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = transport(target)
        .deliver(&request(
            tmp.path(),
            b"Subject: x\r\n\r\nhi\r\n",
            &["nobody@example.com", "bob@example.com"],
        ))
        .await;
    let DeliveryOutcome::PerRecipient(list) = out else {
        panic!("{out:?}")
    };
    assert_eq!(list.len(), 2);
    match &list[0] {
        RecipientOutcome::Failed { reply, status } => {
            assert_eq!(status, "5.1.1");
            assert!(reply.starts_with("550 5.1.1"), "{reply}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(
        matches!(&list[1], RecipientOutcome::Delivered { .. }),
        "{list:?}"
    );
    assert_eq!(local.inbox_new("bob@example.com").len(), 1);
    shutdown.trigger();
}

#[tokio::test]
async fn no_server_listening_is_an_agent_failure() {
    // Bind and drop a listener: the port is (almost certainly) closed now.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = transport(ListenAddr::Tcp(addr))
        .deliver(&request(
            tmp.path(),
            b"Subject: x\r\n\r\nhi\r\n",
            &["bob@example.com"],
        ))
        .await;
    match out {
        DeliveryOutcome::AgentFailed { reason } => assert!(reason.contains("refused"), "{reason}"),
        other => panic!("expected AgentFailed, got {other:?}"),
    }
    let out = transport(ListenAddr::Unix(tmp.path().join("missing.sock")))
        .deliver(&request(
            tmp.path(),
            b"Subject: x\r\n\r\nhi\r\n",
            &["bob@example.com"],
        ))
        .await;
    assert!(
        matches!(out, DeliveryOutcome::AgentFailed { .. }),
        "{out:?}"
    );
}

#[tokio::test]
async fn delivery_over_a_unix_socket() {
    let local = Local::new(|_| Ok(()));
    let shutdown = Shutdown::new();
    let sock = tempfile::tempdir().unwrap();
    let target = serve_unix(&local, &sock.path().join("lmtp.sock"), shutdown.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let message = dotty_message();
    let out = transport(target)
        .deliver(&request(tmp.path(), &message, &["alice@example.com"]))
        .await;
    assert!(
        matches!(&out, DeliveryOutcome::PerRecipient(l) if matches!(l[0], RecipientOutcome::Delivered { .. })),
        "{out:?}"
    );
    assert!(local.inbox_new("alice@example.com")[0].ends_with(&message));
    shutdown.trigger();
}

#[tokio::test]
async fn a_server_closing_after_the_greeting_is_an_agent_failure() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(b"220 flaky LMTP\r\n").await.unwrap();
        // drop: connection closed before LHLO is answered
    });
    let tmp = tempfile::tempdir().unwrap();
    let out = transport(ListenAddr::Tcp(addr))
        .deliver(&request(
            tmp.path(),
            b"Subject: x\r\n\r\nhi\r\n",
            &["bob@example.com"],
        ))
        .await;
    assert!(
        matches!(out, DeliveryOutcome::AgentFailed { .. }),
        "{out:?}"
    );
}
