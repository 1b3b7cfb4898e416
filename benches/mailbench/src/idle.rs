//! The idle workload: K connections, each LOGIN, SELECT INBOX, IDLE, held open; the server's
//! memory (its process tree, [`crate::mem`]) before and after, per connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;
use tokio::io::AsyncBufReadExt;
use tokio::sync::Semaphore;

use crate::mem::{TreeMemory, tree_memory};
use crate::proto::{Conn, connect, imap_cmd, imap_greeting, quote, send};

/// What to run.
#[derive(Debug, Clone)]
pub struct IdleOptions {
    /// Server address.
    pub addr: String,
    /// Connections.
    pub connections: usize,
    /// Logins `prefix0@domain` .. (connection `i` logs in as user `i % users`).
    pub users: usize,
    /// Local part prefix of the logins.
    pub user_prefix: String,
    /// Domain of the logins.
    pub domain: String,
    /// Password of every login.
    pub password: String,
    /// Connections being set up at once.
    pub parallel: usize,
    /// The server's (master) process.
    pub server_pid: u32,
    /// Wait this long with every connection idle before measuring.
    pub settle: Duration,
}

/// The result line.
#[derive(Debug, Serialize)]
pub struct IdleReport {
    /// Connections in IDLE.
    pub connections: usize,
    /// Seconds to open, log in and start IDLE on all.
    pub setup_secs: f64,
    /// Server memory before the first connection.
    pub before: TreeMemory,
    /// Server memory with every connection idle.
    pub after: TreeMemory,
    /// (after - before) / connections, PSS, KiB.
    pub pss_per_conn_kib: f64,
    /// (after - before) / connections, RSS, KiB.
    pub rss_per_conn_kib: f64,
}

/// Run the workload; the connections are closed when it returns.
pub async fn run(o: &IdleOptions) -> Result<IdleReport> {
    let before = tree_memory(o.server_pid);
    if before.processes == 0 {
        bail!("no process {}", o.server_pid);
    }
    let start = Instant::now();
    let gate = Arc::new(Semaphore::new(o.parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..o.connections {
        let (o, gate) = (o.clone(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            open_idle(&o, i).await
        });
    }
    let mut conns: Vec<Conn> = Vec::with_capacity(o.connections);
    while let Some(joined) = tasks.join_next().await {
        conns.push(joined??);
    }
    let setup_secs = start.elapsed().as_secs_f64();
    tokio::time::sleep(o.settle).await;
    let after = tree_memory(o.server_pid);
    let n = o.connections.max(1) as f64;
    let report = IdleReport {
        connections: conns.len(),
        setup_secs,
        before,
        after,
        pss_per_conn_kib: (after.pss_kib as f64 - before.pss_kib as f64) / n,
        rss_per_conn_kib: (after.rss_kib as f64 - before.rss_kib as f64) / n,
    };
    // End IDLE politely on a few (checks the sessions still answer); drop the rest.
    for c in conns.iter_mut().take(5) {
        send(c, b"DONE\r\n").await?;
        crate::proto::imap_until(c, "i3", |_| {}).await?;
    }
    Ok(report)
}

async fn open_idle(o: &IdleOptions, i: usize) -> Result<Conn> {
    let mut c = connect(&o.addr, 1024).await?;
    imap_greeting(&mut c).await?;
    let user = format!("{}{}@{}", o.user_prefix, i % o.users.max(1), o.domain);
    imap_cmd(
        &mut c,
        "i1",
        &format!("LOGIN {} {}", quote(&user), quote(&o.password)),
        |_| {},
    )
    .await?;
    imap_cmd(&mut c, "i2", "SELECT INBOX", |_| {}).await?;
    send(&mut c, b"i3 IDLE\r\n").await?;
    let mut line = String::new();
    let deadline = Duration::from_secs(60);
    tokio::time::timeout(deadline, async {
        loop {
            line.clear();
            if c.read_line(&mut line).await? == 0 {
                bail!("closed before IDLE started");
            }
            if line.starts_with('+') {
                return Ok(());
            }
            if line.starts_with("i3 ") {
                bail!("IDLE refused: {}", line.trim_end());
            }
        }
    })
    .await??;
    Ok(c)
}
