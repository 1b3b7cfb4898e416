//! Graceful shutdown: stop accepting, wait for handlers, abort after grace.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{bind, read_line, tcp_addr, within};
use mailstack_net::{Admission, Connection, Peer, ServerLimits, Shutdown, serve};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Sets its flag when dropped: tells that an aborted handler was cleaned up.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The client's first line picks the behaviour: "polite" ends at shutdown
/// after a short final write, "stubborn" never ends on its own.
fn handler(
    stubborn_dropped: Arc<AtomicBool>,
) -> impl Fn(Connection, Peer, Admission, Shutdown) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    move |mut conn, _peer, _admission, shutdown| {
        let flag = stubborn_dropped.clone();
        Box::pin(async move {
            let mode = read_line(&mut conn).await;
            conn.write_all(format!("220 {mode}\r\n").as_bytes())
                .await
                .unwrap();
            if mode == "stubborn" {
                let _flag = DropFlag(flag);
                std::future::pending::<()>().await;
            }
            shutdown.triggered().await;
            // Finish the "transaction" in progress, then say goodbye.
            tokio::task::yield_now().await;
            let _ = conn.write_all(b"421 4.3.2 Shutting down\r\n").await;
        })
    }
}

async fn client(addr: std::net::SocketAddr, mode: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("{mode}\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_line(&mut stream).await, format!("220 {mode}"));
    stream
}

#[tokio::test]
async fn waits_for_handlers_that_finish_within_grace() {
    let listener = bind("127.0.0.1:0");
    let addr = tcp_addr(&listener);
    let shutdown = Shutdown::new();
    let grace = Duration::from_secs(30);
    let running = tokio::spawn(serve(
        vec![listener],
        ServerLimits::default(),
        shutdown.clone(),
        grace,
        handler(Arc::new(AtomicBool::new(false))),
    ));
    let mut polite = client(addr, "polite").await;

    let started = Instant::now();
    shutdown.trigger();
    within("serve to return", running).await.unwrap();
    assert!(
        started.elapsed() < grace,
        "returned as soon as the handler ended"
    );
    assert_eq!(read_line(&mut polite).await, "421 4.3.2 Shutting down");
    assert_eq!(read_line(&mut polite).await, "", "connection closed");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn aborts_handlers_that_outlive_grace() {
    let listener = bind("127.0.0.1:0");
    let addr = tcp_addr(&listener);
    let shutdown = Shutdown::new();
    let grace = Duration::from_millis(200);
    let stubborn_dropped = Arc::new(AtomicBool::new(false));
    let running = tokio::spawn(serve(
        vec![listener],
        ServerLimits::default(),
        shutdown.clone(),
        grace,
        handler(stubborn_dropped.clone()),
    ));
    let mut polite = client(addr, "polite").await;
    let mut stubborn = client(addr, "stubborn").await;

    let started = Instant::now();
    shutdown.trigger();
    within("serve to return", running).await.unwrap();
    assert!(
        started.elapsed() >= grace,
        "waited the grace period for the stubborn handler"
    );
    assert!(
        stubborn_dropped.load(Ordering::SeqCst),
        "stubborn handler was aborted"
    );
    assert_eq!(read_line(&mut polite).await, "421 4.3.2 Shutting down");
    assert_eq!(
        read_line(&mut stubborn).await,
        "",
        "aborted connection closed"
    );
}

#[tokio::test]
async fn a_panicking_handler_ends_only_its_connection() {
    let listener = bind("127.0.0.1:0");
    let addr = tcp_addr(&listener);
    let shutdown = Shutdown::new();
    let running = tokio::spawn(serve(
        vec![listener],
        ServerLimits::default(),
        shutdown.clone(),
        Duration::from_secs(5),
        |mut conn: Connection, _peer: Peer, _admission: Admission, _shutdown: Shutdown| async move {
            let line = read_line(&mut conn).await;
            assert_ne!(line, "panic", "handler panics on request");
            conn.write_all(b"250 still serving\r\n").await.unwrap();
        },
    ));

    let mut bad = TcpStream::connect(addr).await.unwrap();
    bad.write_all(b"panic\r\n").await.unwrap();
    assert_eq!(read_line(&mut bad).await, "", "panicked session closed");

    let mut good = TcpStream::connect(addr).await.unwrap();
    good.write_all(b"hello\r\n").await.unwrap();
    assert_eq!(read_line(&mut good).await, "250 still serving");

    shutdown.trigger();
    within("serve to return", running).await.unwrap();
}
