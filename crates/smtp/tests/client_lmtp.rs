//! The LMTP client ([`LmtpTransport`]) against the real LMTP session and `LocalDelivery`
//! over real sockets (TCP on 127.0.0.1:0 and a unix socket).

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Local, config};
use mailstack_net::{ListenAddr, Shutdown};
use mailstack_queue::{DeliveryOutcome, DeliveryRequest, QueueId, RecipientOutcome, Transport};
use mailstack_smtp::client::LmtpTransport;
use mailstack_smtp::session::{SessionConfig, run_session};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Serve LMTP with `local`'s `LocalDelivery` on a fresh TCP port; returns its address.
async fn serve_tcp(local: &Local, shutdown: Shutdown) -> ListenAddr {
    serve_tcp_with(local, config(), shutdown).await.0
}

/// [`serve_tcp`] with the session settings given; also counts the connections accepted.
async fn serve_tcp_with(
    local: &Local,
    cfg: SessionConfig,
    shutdown: Shutdown,
) -> (ListenAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = local.handler.clone();
    let cfg = Arc::new(cfg);
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => r.unwrap(),
                () = shutdown.triggered() => return,
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(run_session(
                mailstack_net::Connection::Tcp(stream),
                peer.to_string(),
                cfg.clone(),
                handler.clone(),
                shutdown.clone(),
            ));
        }
    });
    (ListenAddr::Tcp(addr), accepted)
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

fn delivered(out: &DeliveryOutcome) -> bool {
    matches!(out, DeliveryOutcome::PerRecipient(l)
        if l.iter().all(|o| matches!(o, RecipientOutcome::Delivered { .. })))
}

#[tokio::test]
async fn deliveries_in_a_row_share_one_connection() {
    let local = Local::new(|_| Ok(()));
    let shutdown = Shutdown::new();
    let (target, accepted) = serve_tcp_with(&local, config(), shutdown.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let lmtp = transport(target);
    for i in 0..3 {
        let msg = format!("Subject: {i}\r\n\r\nhi\r\n");
        let out = lmtp
            .deliver(&request(tmp.path(), msg.as_bytes(), &["alice@example.com"]))
            .await;
        assert!(delivered(&out), "{out:?}");
    }
    // A delivery whose every recipient is refused ends its transaction with RSET; the
    // connection still carries the next one.
    let out = lmtp
        .deliver(&request(
            tmp.path(),
            b"Subject: x\r\n\r\nhi\r\n",
            &["nobody@example.com"],
        ))
        .await;
    assert!(
        matches!(&out, DeliveryOutcome::PerRecipient(l) if matches!(l[0], RecipientOutcome::Failed { .. })),
        "{out:?}"
    );
    let out = lmtp
        .deliver(&request(
            tmp.path(),
            b"Subject: 4\r\n\r\nhi\r\n",
            &["alice@example.com"],
        ))
        .await;
    assert!(delivered(&out), "{out:?}");
    assert_eq!(local.inbox_new("alice@example.com").len(), 4);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    shutdown.trigger();
}

#[tokio::test]
async fn a_connection_the_server_timed_out_meanwhile_is_not_reused() {
    let local = Local::new(|_| Ok(()));
    let shutdown = Shutdown::new();
    // The server drops a client idle for 1 s (with its 421), before our 2 s are up.
    let cfg = SessionConfig {
        timeout: Duration::from_secs(1),
        ..config()
    };
    assert!(LmtpTransport::IDLE_TIME > cfg.timeout);
    let (target, accepted) = serve_tcp_with(&local, cfg, shutdown.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let lmtp = transport(target);
    let first = lmtp
        .deliver(&request(
            tmp.path(),
            b"Subject: 1\r\n\r\nhi\r\n",
            &["alice@example.com"],
        ))
        .await;
    assert!(delivered(&first), "{first:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = lmtp
        .deliver(&request(
            tmp.path(),
            b"Subject: 2\r\n\r\nhi\r\n",
            &["alice@example.com"],
        ))
        .await;
    assert!(delivered(&second), "{second:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    assert_eq!(local.inbox_new("alice@example.com").len(), 2);
    shutdown.trigger();
}

/// A scripted LMTP server: records every command line per connection; the first connection
/// reads the command after its first transaction and then closes without answering (a server
/// that went away under an idle connection, with nothing sent to say so).
async fn scripted_server() -> (ListenAddr, Arc<Mutex<Vec<Vec<String>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        for n in 0.. {
            let (stream, _) = listener.accept().await.unwrap();
            let log = log.clone();
            let index = {
                let mut l = log.lock().unwrap();
                l.push(Vec::new());
                l.len() - 1
            };
            tokio::spawn(async move {
                let (rd, mut wr) = stream.into_split();
                let mut rd = BufReader::new(rd);
                wr.write_all(b"220 scripted LMTP\r\n").await.unwrap();
                let mut transactions = 0;
                let mut line = String::new();
                loop {
                    line.clear();
                    if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_string();
                    log.lock().unwrap()[index].push(cmd.clone());
                    if n == 0 && transactions == 1 {
                        return; // gone without a word
                    }
                    let verb = cmd.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "LHLO" => b"250-scripted\r\n250 ENHANCEDSTATUSCODES\r\n",
                        "MAIL" | "RCPT" | "RSET" => b"250 2.0.0 ok\r\n",
                        "DATA" => {
                            wr.write_all(b"354 go ahead\r\n").await.unwrap();
                            loop {
                                line.clear();
                                if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if line == ".\r\n" {
                                    break;
                                }
                            }
                            transactions += 1;
                            log.lock().unwrap()[index].push("<message>".to_string());
                            b"250 2.0.0 delivered\r\n"
                        }
                        "QUIT" => {
                            let _ = wr.write_all(b"221 2.0.0 bye\r\n").await;
                            return;
                        }
                        _ => b"500 5.5.2 what\r\n",
                    };
                    wr.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (ListenAddr::Tcp(addr), seen)
}

/// A transport, a request, and the scripted server's log after one delivery to it.
async fn first_delivery_to_a_scripted_server() -> (
    LmtpTransport,
    DeliveryRequest,
    Arc<Mutex<Vec<Vec<String>>>>,
    tempfile::TempDir,
) {
    let (target, seen) = scripted_server().await;
    let tmp = tempfile::tempdir().unwrap();
    let lmtp = transport(target);
    let req = request(
        tmp.path(),
        b"Subject: x\r\n\r\nhi\r\n",
        &["alice@example.com"],
    );
    assert!(delivered(&lmtp.deliver(&req).await));
    (lmtp, req, seen, tmp)
}

#[tokio::test]
async fn a_reused_connection_that_breaks_before_data_is_replaced_and_nothing_is_sent_twice() {
    let (lmtp, req, seen, _tmp) = first_delivery_to_a_scripted_server().await;
    let out = lmtp.deliver(&req).await;
    assert!(delivered(&out), "{out:?}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    // First connection: one whole transaction, then the MAIL of the second went unanswered.
    assert_eq!(
        seen[0],
        [
            "LHLO mta.test",
            "MAIL FROM:<sender@remote.example>",
            "RCPT TO:<alice@example.com>",
            "DATA",
            "<message>",
            "MAIL FROM:<sender@remote.example>"
        ]
    );
    // Second connection: the second message, once.
    assert_eq!(
        seen[1].iter().filter(|c| *c == "<message>").count(),
        1,
        "{seen:?}"
    );
}

#[tokio::test]
async fn an_idle_connection_is_closed_with_quit_after_the_idle_time() {
    let (_lmtp, _req, seen, _tmp) = first_delivery_to_a_scripted_server().await;
    assert!(!seen.lock().unwrap()[0].contains(&"QUIT".to_string()));
    let deadline = tokio::time::Instant::now() + LmtpTransport::IDLE_TIME * 3;
    while !seen.lock().unwrap()[0].contains(&"QUIT".to_string()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no QUIT: {:?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
