//! Harness: an admin server on 127.0.0.1:0 and a raw-HTTP client.

use std::net::SocketAddr;

use mailstack_telemetry::{Metrics, Readiness, bind_admin, serve_admin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running admin server.
pub struct Admin {
    pub addr: SocketAddr,
    pub metrics: Metrics,
    pub readiness: Readiness,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Admin {
    pub async fn start() -> Admin {
        let listener = bind_admin("127.0.0.1:0").await.expect("bind admin");
        let addr = listener.local_addr().unwrap();
        let metrics = Metrics::new();
        let readiness = Readiness::new();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_admin(
            listener,
            metrics.clone(),
            readiness.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        Admin {
            addr,
            metrics,
            readiness,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Sends `METHOD path` with `Connection: close` and reads the whole reply.
    pub async fn request(&self, method: &str, path: &str) -> Reply {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        let req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        parse(&String::from_utf8(raw).expect("utf-8 reply"))
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request("GET", path).await
    }

    /// Stops the server and waits until it returned.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.expect("admin task");
    }
}

fn parse(raw: &str) -> Reply {
    let (head, body) = raw.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").expect("chunk size");
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}
