//! Spam and ham reports to rspamd when users file messages over IMAP (Dovecot's imap_sieve
//! "report spam / report ham" recipe, built in).
//!
//! ```text
//!  COPY/MOVE  X ──▶ Junk       (X ≠ Junk)             ──▶ POST <learn_url>/learnspam
//!  COPY/MOVE  Junk ──▶ Y       (Y ≠ Junk, Y ∉ ignore)  ──▶ POST <learn_url>/learnham
//!                 │ open message files (fds survive the MOVE's expunge)
//!                 ▼
//!      bounded queue (learn_queue) ──▶ one worker: read (≤ learn_max_size), POST, log
//! ```
//!
//! Fire and forget: the IMAP command never waits for rspamd and never fails because of it. A
//! full queue drops the report (counted and logged); a report that fails (controller down,
//! timeout, non-2xx) is logged and counted, not retried. Reports still queued when imap-server
//! stops are lost. Moving a message out of Junk into a folder of `learn_ignore_folders`
//! (Trash by default) is not ham: the user is throwing spam away.
//!
//! The HTTP client is a minimal HTTP/1.1 POST over a tokio `TcpStream` (`Connection: close`,
//! `Content-Length`, status line read, body ignored past 4 KiB): the controller sits on the
//! internal network and speaks plain HTTP, the request has one shape, and the tree has no HTTP
//! client stack to reuse (hyper is there only as axum's server side; its client would add new
//! crates). The password goes in rspamd's `Password:` header and is never logged.

use std::fs::File;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use mailstack_telemetry::{CounterFamily, Metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// What a user said about a message by filing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Moved or copied into the spam folder.
    Spam,
    /// Moved or copied out of the spam folder (not into an ignored folder).
    Ham,
}

impl Verdict {
    fn endpoint(self) -> &'static str {
        match self {
            Verdict::Spam => "/learnspam",
            Verdict::Ham => "/learnham",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Spam => "spam",
            Verdict::Ham => "ham",
        }
    }
}

/// Why the learning settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LearnError {
    /// `learn_url` is not `http://host:port[/path]`.
    #[error("imap.learn_url: {0}")]
    Url(String),
    /// The password file cannot be read.
    #[error("imap.learn_password_file: {0}")]
    Password(String),
}

/// Where and how reports are sent.
#[derive(Clone)]
pub struct LearnSettings {
    /// The controller's base URL, `http://host:port` with an optional path prefix.
    pub url: String,
    /// Sent as `Password:`; `None` sends none (the controller trusts our address).
    pub password: Option<String>,
    /// Connect, send and answer, all together.
    pub timeout: Duration,
    /// Reports waiting at most; more are dropped.
    pub queue: usize,
    /// The spam folder (`Junk`).
    pub spam_folder: String,
    /// Folders that moving a message out of the spam folder into is not ham (`Trash`).
    pub ignore_folders: Vec<String>,
    /// Larger messages are not reported.
    pub max_size: u64,
}

impl std::fmt::Debug for LearnSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LearnSettings")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .field("timeout", &self.timeout)
            .field("queue", &self.queue)
            .field("spam_folder", &self.spam_folder)
            .field("ignore_folders", &self.ignore_folders)
            .field("max_size", &self.max_size)
            .finish()
    }
}

/// Read the settings from `[imap]`; `Ok(None)` when learning is off.
pub fn settings_from_config(
    section: &mailstack_config::ImapConfig,
) -> Result<Option<LearnSettings>, LearnError> {
    if !section.learn_spam {
        return Ok(None);
    }
    Target::parse(&section.learn_url)?;
    let password = if section.learn_password_file.is_empty() {
        std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty())
    } else {
        let text = std::fs::read_to_string(&section.learn_password_file)
            .map_err(|e| LearnError::Password(format!("{}: {e}", section.learn_password_file)))?;
        Some(text.lines().next().unwrap_or_default().to_string())
    };
    Ok(Some(LearnSettings {
        url: section.learn_url.clone(),
        password,
        timeout: section.learn_timeout.get(),
        queue: section.learn_queue,
        spam_folder: section.learn_spam_folder.clone(),
        ignore_folders: section.learn_ignore_folders.clone(),
        max_size: section.learn_max_size.bytes(),
    }))
}

/// The environment variable holding the controller password when no file is configured.
pub const PASSWORD_ENV: &str = "MAILSTACK_RSPAMD_PASSWORD";

/// The host, port and path prefix of `learn_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    prefix: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, LearnError> {
        let bad = |why: &str| LearnError::Url(format!("{url:?}: {why}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// is supported (the controller is internal)"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let port_of = |p: &str| p.parse::<u16>().map_err(|_| bad("bad port"));
        let (host, port) = if let Some(r) = authority.strip_prefix('[') {
            let (h, after) = r.split_once(']').ok_or_else(|| bad("bad host"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, port_of(p)?),
                None if after.is_empty() => (h, 80),
                None => return Err(bad("bad host")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, port_of(p)?),
                None => (authority, 80),
            }
        };
        if host.is_empty()
            || host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        {
            return Err(bad("bad host"));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("bad path"));
        }
        Ok(Target {
            host: host.to_string(),
            port,
            prefix: path.trim_end_matches('/').to_string(),
        })
    }

    fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

struct Job {
    verdict: Verdict,
    file: File,
    user: String,
}

/// Sends reports in the background; cheap to share between sessions.
pub struct SpamLearner {
    tx: mpsc::Sender<Job>,
    spam_folder: String,
    ignore_folders: Vec<String>,
    /// `mailstack_imap_spam_reports_total{verdict, result}`.
    reports: CounterFamily,
}

impl std::fmt::Debug for SpamLearner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpamLearner")
            .field("spam_folder", &self.spam_folder)
            .finish_non_exhaustive()
    }
}

impl SpamLearner {
    /// Start the worker (needs a tokio runtime).
    pub fn start(settings: LearnSettings, metrics: &Metrics) -> Result<Arc<Self>, LearnError> {
        let target = Target::parse(&settings.url)?;
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let reports = metrics.counter_family(
            "mailstack_imap_spam_reports",
            "Spam/ham reports to rspamd by verdict and result: sent, failed, dropped (queue \
             full) or skipped (too large)",
        );
        let learner = Arc::new(SpamLearner {
            tx,
            spam_folder: settings.spam_folder.clone(),
            ignore_folders: settings.ignore_folders.clone(),
            reports: reports.clone(),
        });
        tokio::spawn(worker(rx, target, settings, reports));
        Ok(learner)
    }

    /// What filing a message from `source` into `dest` (store names) says, if anything.
    pub fn classify(&self, source: &str, dest: &str) -> Option<Verdict> {
        classify(&self.spam_folder, &self.ignore_folders, source, dest)
    }

    /// Queue a report on the open message `file` for `user` (for logs). Never waits: when the
    /// queue is full the report is dropped.
    pub fn submit(&self, verdict: Verdict, file: File, user: &str) {
        let job = Job {
            verdict,
            file,
            user: user.to_string(),
        };
        if let Err(e) = self.tx.try_send(job) {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "queue full",
                mpsc::error::TrySendError::Closed(_) => "worker gone",
            };
            tracing::warn!(user, verdict = verdict.label(), why, "spam report dropped");
            count(&self.reports, verdict, "dropped");
        }
    }
}

/// Spam when filed into the spam folder from elsewhere; ham when filed out of it into a
/// folder that is not ignored. Names compare exactly (INBOX case-insensitively).
pub fn classify(spam: &str, ignore: &[String], source: &str, dest: &str) -> Option<Verdict> {
    let same = |a: &str, b: &str| {
        a == b || (a.eq_ignore_ascii_case("INBOX") && b.eq_ignore_ascii_case("INBOX"))
    };
    match (same(source, spam), same(dest, spam)) {
        (false, true) => Some(Verdict::Spam),
        (true, false) if !ignore.iter().any(|i| same(i, dest)) => Some(Verdict::Ham),
        _ => None,
    }
}

fn count(reports: &CounterFamily, verdict: Verdict, result: &str) {
    reports
        .get_or_create(&vec![
            ("verdict".to_string(), verdict.label().to_string()),
            ("result".to_string(), result.to_string()),
        ])
        .inc();
}

async fn worker(
    mut rx: mpsc::Receiver<Job>,
    target: Target,
    settings: LearnSettings,
    reports: CounterFamily,
) {
    while let Some(job) = rx.recv().await {
        let max = settings.max_size;
        let Job {
            verdict,
            file,
            user,
        } = job;
        let body = tokio::task::spawn_blocking(move || read_limited(file, max)).await;
        let body = match body {
            Ok(Ok(Some(b))) => b,
            Ok(Ok(None)) => {
                tracing::info!(%user, verdict = verdict.label(), max, "message too large to report");
                count(&reports, verdict, "skipped");
                continue;
            }
            Ok(Err(e)) => {
                tracing::warn!(%user, error = %e, "cannot read the message to report");
                count(&reports, verdict, "failed");
                continue;
            }
            Err(e) => {
                tracing::warn!(%user, error = %e, "report reader failed");
                count(&reports, verdict, "failed");
                continue;
            }
        };
        let sent = tokio::time::timeout(
            settings.timeout,
            post(&target, verdict, settings.password.as_deref(), &body),
        )
        .await;
        match sent {
            Ok(Ok(status)) if (200..300).contains(&status) => {
                tracing::info!(%user, verdict = verdict.label(), status, "reported to rspamd");
                count(&reports, verdict, "sent");
            }
            Ok(Ok(status)) => {
                // 208: already learned; 403: wrong password; 404/500: rspamd could not learn.
                tracing::warn!(%user, verdict = verdict.label(), status, "rspamd refused the report");
                count(&reports, verdict, "failed");
            }
            Ok(Err(e)) => {
                tracing::warn!(%user, verdict = verdict.label(), error = %e, "cannot reach rspamd's controller");
                count(&reports, verdict, "failed");
            }
            Err(_) => {
                tracing::warn!(%user, verdict = verdict.label(), timeout = ?settings.timeout, "rspamd's controller timed out");
                count(&reports, verdict, "failed");
            }
        }
    }
}

/// The whole file, or `None` when it is larger than `max`.
fn read_limited(file: File, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut body)?;
    Ok((body.len() as u64 <= max).then_some(body))
}

/// POST `body` and return the status code.
async fn post(
    target: &Target,
    verdict: Verdict,
    password: Option<&str>,
    body: &[u8],
) -> std::io::Result<u16> {
    let mut conn = TcpStream::connect((target.host.as_str(), target.port)).await?;
    let mut head = format!(
        "POST {}{} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        target.prefix,
        verdict.endpoint(),
        target.host_header(),
        body.len()
    );
    if let Some(p) = password {
        head.push_str(&format!("Password: {p}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body).await?;
    conn.flush().await?;
    let mut answer = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while answer.len() < 4096 && !answer.windows(2).any(|w| w == b"\r\n") {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    status_code(&answer)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP status line"))
}

/// The status of `HTTP/1.x NNN ...`.
fn status_code(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&b| b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filing_into_and_out_of_junk() {
        let ignore = vec!["Trash".to_string()];
        let c = |s: &str, d: &str| classify("Junk", &ignore, s, d);
        assert_eq!(c("INBOX", "Junk"), Some(Verdict::Spam));
        assert_eq!(c("Work.Projects", "Junk"), Some(Verdict::Spam));
        assert_eq!(c("Junk", "INBOX"), Some(Verdict::Ham));
        assert_eq!(c("Junk", "Archive"), Some(Verdict::Ham));
        assert_eq!(c("Junk", "Trash"), None, "deleting spam is not ham");
        assert_eq!(c("Junk", "Junk"), None);
        assert_eq!(c("INBOX", "Archive"), None);
        assert_eq!(c("inbox", "junk"), None, "folder names are case-sensitive");
    }

    #[test]
    fn urls() {
        let t = Target::parse("http://rspamd:11334").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.prefix.as_str()),
            ("rspamd", 11334, "")
        );
        let t = Target::parse("http://127.0.0.1:8080/rspamd/").unwrap();
        assert_eq!((t.port, t.prefix.as_str()), (8080, "/rspamd"));
        let t = Target::parse("http://[::1]:11334").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 11334));
        assert_eq!(t.host_header(), "[::1]:11334");
        assert_eq!(Target::parse("http://rspamd").unwrap().port, 80);
        assert!(Target::parse("https://rspamd:11334").is_err());
        assert!(Target::parse("http://:11334").is_err());
        assert!(Target::parse("http://rspamd:port").is_err());
        assert!(Target::parse("http://user@rspamd:1").is_err());
        assert!(Target::parse("http://rspamd:1/a b").is_err());
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n\r\n"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 403 Forbidden\r\n"), Some(403));
        assert_eq!(status_code(b"SMTP 200\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    #[test]
    fn large_messages_are_not_read_whole() {
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &[b'x'; 100]).unwrap();
        std::io::Seek::rewind(&mut f).unwrap();
        assert_eq!(
            read_limited(f.try_clone().unwrap(), 100)
                .unwrap()
                .unwrap()
                .len(),
            100
        );
        std::io::Seek::rewind(&mut f).unwrap();
        assert!(read_limited(f, 99).unwrap().is_none());
    }

    /// A report reaches a controller (a one-shot HTTP server here) with the password and the
    /// message, and the command that filed it does not wait for it.
    #[tokio::test]
    async fn reports_are_posted_in_the_background() {
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        let metrics = Metrics::new();
        let learner = SpamLearner::start(
            LearnSettings {
                url: format!("http://127.0.0.1:{port}"),
                password: Some("pw".into()),
                timeout: Duration::from_secs(5),
                queue: 4,
                spam_folder: "Junk".into(),
                ignore_folders: vec!["Trash".into()],
                max_size: 1 << 20,
            },
            &metrics,
        )
        .unwrap();
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, b"Subject: x\r\n\r\nbody\r\n").unwrap();
        std::io::Seek::rewind(&mut f).unwrap();
        learner.submit(Verdict::Spam, f, "alice@example.com");
        let (mut conn, _) = server.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(b"body\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8(got).unwrap();
        assert!(text.starts_with("POST /learnspam HTTP/1.1\r\n"), "{text}");
        assert!(text.contains("\r\nPassword: pw\r\n"), "{text}");
        assert!(text.contains("\r\nContent-Length: 20\r\n"), "{text}");
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            .await
            .unwrap();
        drop(conn);
        for _ in 0..200 {
            if metrics.encode().contains("result=\"sent\"") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("not counted as sent:\n{}", metrics.encode());
    }
}
