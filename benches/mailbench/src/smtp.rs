//! The inbound workload: N messages over C concurrent SMTP sessions (each session sends
//! messages one after the other: MAIL, RCPT, DATA), then, with `--maildir-root`, wait until
//! every message is in a Maildir (`new/` or `cur/`): the end-to-end rate of SMTP → queue →
//! LMTP → Maildir.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;

use crate::message::{Filler, SizeSpec, headers};
use crate::proto::{connect, send, smtp_cmd, smtp_reply};
use crate::stats::percentile_ms;

/// What to send.
#[derive(Debug, Clone)]
pub struct SmtpOptions {
    /// Server address.
    pub addr: String,
    /// Messages in total.
    pub messages: usize,
    /// Concurrent sessions.
    pub concurrency: usize,
    /// Message sizes.
    pub size: SizeSpec,
    /// Recipients: `user0@domain` .. `user{users-1}@domain`, message `i` to user `i % users`.
    pub users: usize,
    /// Local part prefix of the recipients.
    pub user_prefix: String,
    /// Recipient domain.
    pub domain: String,
    /// Seed of the size mix.
    pub seed: u64,
    /// Count delivered files under this root (`*/new`, `*/cur` at any depth) until all arrived.
    pub maildir_root: Option<PathBuf>,
    /// Give up waiting for delivery after this long.
    pub timeout: Duration,
}

/// The result line.
#[derive(Debug, Serialize)]
pub struct SmtpReport {
    /// Messages accepted (`250` after DATA).
    pub accepted: usize,
    /// Transactions that failed.
    pub errors: usize,
    /// Bytes of message data sent.
    pub bytes: u64,
    /// Seconds from the first connection to the last `250`.
    pub accept_secs: f64,
    /// Accepted messages per second.
    pub accept_rate: f64,
    /// Seconds from the first connection until every accepted message was in a Maildir.
    pub e2e_secs: Option<f64>,
    /// Delivered messages per second (end to end).
    pub e2e_rate: Option<f64>,
    /// Median transaction latency (MAIL to the `250` after DATA), milliseconds.
    pub p50_ms: f64,
    /// 99th percentile transaction latency, milliseconds.
    pub p99_ms: f64,
    /// The first error, if any.
    pub first_error: Option<String>,
}

/// Run the workload.
pub async fn run(opts: SmtpOptions) -> Result<SmtpReport> {
    let max = match opts.size {
        SizeSpec::Fixed(n) => n,
        SizeSpec::Mix(_, hi) => hi,
    };
    let filler = Arc::new(Filler::new(max + 4096, b"\r\n", opts.seed));
    let baseline = match &opts.maildir_root {
        Some(root) => count_delivered(root),
        None => 0,
    };
    let next = Arc::new(AtomicUsize::new(0));
    let opts = Arc::new(opts);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..opts.concurrency.max(1) {
        let (opts, next, filler) = (opts.clone(), next.clone(), filler.clone());
        tasks.spawn(async move { session(&opts, &next, &filler).await });
    }
    let mut latencies = Vec::with_capacity(opts.messages);
    let (mut accepted, mut errors, mut bytes, mut first_error) = (0, 0, 0u64, None);
    while let Some(joined) = tasks.join_next().await {
        let w = joined?;
        accepted += w.accepted;
        errors += w.errors;
        bytes += w.bytes;
        latencies.extend(w.latencies);
        if first_error.is_none() {
            first_error = w.first_error;
        }
    }
    let accept_secs = start.elapsed().as_secs_f64();
    let mut e2e_secs = None;
    if let Some(root) = &opts.maildir_root {
        let want = baseline + accepted;
        let deadline = start + opts.timeout;
        loop {
            let n = count_delivered(root);
            if n >= want {
                e2e_secs = Some(start.elapsed().as_secs_f64());
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "only {} of {accepted} messages arrived in {} within {:?}",
                    n - baseline.min(n),
                    root.display(),
                    opts.timeout
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(SmtpReport {
        accepted,
        errors,
        bytes,
        accept_secs,
        accept_rate: accepted as f64 / accept_secs,
        e2e_secs,
        e2e_rate: e2e_secs.map(|s| accepted as f64 / s),
        p50_ms: percentile_ms(&mut latencies, 50.0),
        p99_ms: percentile_ms(&mut latencies, 99.0),
        first_error,
    })
}

#[derive(Default)]
struct Worker {
    accepted: usize,
    errors: usize,
    bytes: u64,
    latencies: Vec<Duration>,
    first_error: Option<String>,
}

async fn session(opts: &SmtpOptions, next: &AtomicUsize, filler: &Filler) -> Worker {
    let mut w = Worker::default();
    if let Err(e) = session_inner(opts, next, filler, &mut w).await {
        w.errors += 1;
        w.first_error.get_or_insert(format!("{e:#}"));
    }
    w
}

async fn session_inner(
    opts: &SmtpOptions,
    next: &AtomicUsize,
    filler: &Filler,
    w: &mut Worker,
) -> Result<()> {
    let mut c = connect(&opts.addr, 64 * 1024).await?;
    let (code, line) = smtp_reply(&mut c).await?;
    if code != 220 {
        bail!("greeting {line:?}");
    }
    smtp_cmd(&mut c, "EHLO mailbench.test\r\n", 250).await?;
    let mut msg = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= opts.messages {
            break;
        }
        let rcpt = format!(
            "{}{}@{}",
            opts.user_prefix,
            i % opts.users.max(1),
            opts.domain
        );
        let size = opts.size.size_of(opts.seed, i);
        msg.clear();
        let h = headers(
            i,
            "sender@mailbench.test",
            &rcpt,
            &format!("mailbench message {i}"),
            "\r\n",
        );
        msg.extend_from_slice(h.as_bytes());
        msg.extend_from_slice(filler.body(size.saturating_sub(h.len()), i));
        msg.extend_from_slice(b".\r\n");
        let t = Instant::now();
        match transaction(&mut c, &rcpt, &msg).await {
            Ok(()) => {
                w.latencies.push(t.elapsed());
                w.accepted += 1;
                w.bytes += msg.len() as u64;
            }
            Err(e) => {
                w.errors += 1;
                w.first_error.get_or_insert(format!("{e:#}"));
                smtp_cmd(&mut c, "RSET\r\n", 250).await?;
            }
        }
    }
    let _ = smtp_cmd(&mut c, "QUIT\r\n", 221).await;
    Ok(())
}

async fn transaction(c: &mut crate::proto::Conn, rcpt: &str, msg: &[u8]) -> Result<()> {
    smtp_cmd(c, "MAIL FROM:<sender@mailbench.test>\r\n", 250).await?;
    smtp_cmd(c, &format!("RCPT TO:<{rcpt}>\r\n"), 250).await?;
    smtp_cmd(c, "DATA\r\n", 354).await?;
    send(c, msg).await?;
    let (code, line) = smtp_reply(c).await?;
    if code != 250 {
        bail!("end of DATA answered {line:?}");
    }
    Ok(())
}

/// Files in every `new/` and `cur/` directory under `root` (any depth).
pub fn count_delivered(root: &Path) -> usize {
    fn walk(dir: &Path, depth: usize, n: &mut usize) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            let name = e.file_name();
            if name == "new" || name == "cur" {
                if let Ok(files) = std::fs::read_dir(e.path()) {
                    *n += files.count();
                }
            } else if name != "tmp" && depth < 6 {
                walk(&e.path(), depth + 1, n);
            }
        }
    }
    let mut n = 0;
    walk(root, 0, &mut n);
    n
}
