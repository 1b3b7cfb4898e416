//! Total and per-IP connection limits with real TCP connections.

mod common;

use std::time::Duration;

use common::{bind, connect_from, read_line, tcp_addr, wait_until, within};
use mailstack_net::{Admission, Connection, Peer, Server, ServerLimits, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Greets admitted clients and holds them until they close or shutdown;
/// refuses the others the way SMTP does.
async fn handler(mut conn: Connection, _peer: Peer, admission: Admission, shutdown: Shutdown) {
    match admission {
        Admission::Accepted => {
            let _ = conn.write_all(b"220 welcome\r\n").await;
            let mut buf = [0u8; 64];
            tokio::select! {
                _ = conn.read(&mut buf) => {}
                () = shutdown.triggered() => {}
            }
        }
        Admission::OverLimit(limit) => {
            let reply = format!("421 4.7.0 Too many connections ({limit:?})\r\n");
            let _ = conn.write_all(reply.as_bytes()).await;
        }
    }
}

#[tokio::test]
async fn total_and_per_ip_limits_are_enforced() {
    let listener = bind("127.0.0.1:0");
    let addr = tcp_addr(&listener);
    let server = Server::new(
        vec![listener],
        ServerLimits {
            max_connections: 3,
            max_connections_per_ip: 2,
        },
    );
    let stats = server.stats();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(server.run(shutdown.clone(), Duration::from_secs(5), handler));

    let mut a1 = connect_from("127.0.0.1", addr).await;
    assert_eq!(read_line(&mut a1).await, "220 welcome");
    let mut a2 = connect_from("127.0.0.1", addr).await;
    assert_eq!(read_line(&mut a2).await, "220 welcome");
    let mut a3 = connect_from("127.0.0.1", addr).await;
    assert_eq!(
        read_line(&mut a3).await,
        "421 4.7.0 Too many connections (PerIp)"
    );
    assert_eq!(read_line(&mut a3).await, "", "closed after the refusal");

    let mut b1 = connect_from("127.0.0.2", addr).await;
    assert_eq!(
        read_line(&mut b1).await,
        "220 welcome",
        "another IP still gets in"
    );
    let mut c1 = connect_from("127.0.0.3", addr).await;
    assert_eq!(
        read_line(&mut c1).await,
        "421 4.7.0 Too many connections (Total)"
    );

    assert_eq!(stats.active(), 3);
    assert_eq!(stats.accepted_total(), 3);
    assert_eq!(stats.rejected_total(), 2);

    // Closing one frees its slot, for its IP and in total.
    drop(a1);
    wait_until("a1's slot to be released", || stats.active() == 2).await;
    let mut a4 = connect_from("127.0.0.1", addr).await;
    assert_eq!(read_line(&mut a4).await, "220 welcome");
    assert_eq!(stats.active(), 3);

    shutdown.trigger();
    within("serve to return", running).await.unwrap();
    assert_eq!(stats.active(), 0);
    drop((a2, b1, a4));
}

#[tokio::test]
async fn zero_means_unlimited_and_serves_several_listeners() {
    let first = bind("127.0.0.1:0");
    let second = bind("127.0.0.1:0");
    let (addr1, addr2) = (tcp_addr(&first), tcp_addr(&second));
    let server = Server::new(
        vec![first, second],
        ServerLimits {
            max_connections: 0,
            max_connections_per_ip: 0,
        },
    );
    let stats = server.stats();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(server.run(shutdown.clone(), Duration::from_secs(5), handler));

    let mut clients = Vec::new();
    for i in 0..30 {
        let mut client = connect_from("127.0.0.1", if i % 2 == 0 { addr1 } else { addr2 }).await;
        assert_eq!(read_line(&mut client).await, "220 welcome");
        clients.push(client);
    }
    assert_eq!(stats.active(), 30);
    assert_eq!(stats.rejected_total(), 0);

    shutdown.trigger();
    within("serve to return", running).await.unwrap();
}
