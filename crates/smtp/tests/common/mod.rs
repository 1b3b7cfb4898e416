//! Test harness for the SMTP/LMTP session: a client over an in-memory duplex pipe (no sockets),
//! a recording [`MailHandler`] test double, and the real [`LocalDelivery`] over a temporary
//! users file and mail root.
//!
//! ```ignore
//! let mut s = TestSession::new(config(), RecordingHandler::accepting(&["a@b"]));
//! s.expect("220 mx.test LMTP ready").await;
//! s.send("LHLO client").await;
//! s.expect("250").await;
//! ```
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use mailstack_directory::static_file::{StaticDirectory, UsersFile, edit_users_file};
use mailstack_directory::{AuthOutcome, Directory, DirectoryError, Entry, ExpandLimits};
use mailstack_net::Shutdown;
use mailstack_smtp::data::BareNewlines;
use mailstack_smtp::lmtp::LocalDelivery;
use mailstack_smtp::reply::Reply;
use mailstack_smtp::session::{Ending, Envelope, MailHandler, Mode, SessionConfig, run_session};
use mailstack_smtp::spool::Spool;
use mailstack_store::{MessageSource, Store, StoreOptions};
use mailstack_telemetry::Metrics;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};
use tokio::task::JoinHandle;

/// Host name the test sessions announce.
pub const HOST: &str = "mx.test";

/// Peer address given to the session (appears in `Received:`).
pub const PEER: &str = "192.0.2.7:40000";

/// A session configuration with small, test-friendly limits.
pub fn config() -> SessionConfig {
    SessionConfig {
        mode: Mode::Lmtp,
        hostname: HOST.to_string(),
        max_message_size: 10_000,
        max_recipients: 10,
        max_line_length: 512,
        bare_newlines: BareNewlines::Reject,
        timeout: Duration::from_secs(30),
        data_timeout: Duration::from_secs(30),
        max_errors: 20,
        ..SessionConfig::new(Mode::Lmtp, HOST)
    }
}

/// The client side of one session running in a background task.
pub struct TestSession {
    reader: BufReader<ReadHalf<DuplexStream>>,
    writer: WriteHalf<DuplexStream>,
    /// The session's shutdown token: `trigger()` it to stop the "service".
    pub shutdown: Shutdown,
    task: Option<JoinHandle<Ending>>,
    /// How long a read may wait before the test fails (instead of hanging).
    patience: Duration,
}

impl TestSession {
    /// Start `run_session` over an in-memory pipe. The greeting is not read yet.
    pub fn new<H: MailHandler>(cfg: SessionConfig, handler: Arc<H>) -> TestSession {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let shutdown = Shutdown::new();
        // Generous: the session's own timeout must always fire first.
        let patience = cfg.timeout + Duration::from_secs(60);
        let task = tokio::spawn(run_session(
            server,
            PEER.to_string(),
            Arc::new(cfg),
            handler,
            shutdown.clone(),
        ));
        let (rd, wr) = tokio::io::split(client);
        TestSession {
            reader: BufReader::new(rd),
            writer: wr,
            shutdown,
            task: Some(task),
            patience,
        }
    }

    /// Start a session, check the greeting and say `LHLO client.test`.
    pub async fn greeted<H: MailHandler>(cfg: SessionConfig, handler: Arc<H>) -> TestSession {
        let mut s = TestSession::new(cfg, handler);
        s.expect(&format!("220 {HOST} LMTP ready")).await;
        s.send("LHLO client.test").await;
        s.expect("250").await;
        s
    }

    /// Write `line` followed by CRLF.
    pub async fn send(&mut self, line: &str) {
        let mut bytes = line.as_bytes().to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.send_raw(&bytes).await;
    }

    /// Write bytes as they are (one write: pipelined commands arrive together).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer
            .write_all(bytes)
            .await
            .expect("write to session");
        self.writer.flush().await.expect("flush to session");
    }

    /// Read one reply (all `250-` continuation lines through the `250 ` line) and return its
    /// full text, lines joined with `\n`, CRLFs removed.
    pub async fn reply(&mut self) -> String {
        let mut lines: Vec<String> = Vec::new();
        loop {
            let line = self.read_line().await;
            assert!(!line.is_empty(), "session closed; reply so far: {lines:?}");
            assert!(line.ends_with("\r\n"), "reply line without CRLF: {line:?}");
            let line = line.trim_end_matches("\r\n").to_string();
            assert!(
                line.len() >= 4 && line.as_bytes()[..3].iter().all(u8::is_ascii_digit),
                "malformed reply line {line:?}"
            );
            let last = line.as_bytes()[3] == b' ';
            assert!(
                last || line.as_bytes()[3] == b'-',
                "malformed reply line {line:?}"
            );
            if let Some(first) = lines.first() {
                assert_eq!(
                    &first[..3],
                    &line[..3],
                    "code changed inside a multi-line reply"
                );
            }
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    /// Read the next reply and assert that it starts with `prefix`; return its full text.
    pub async fn expect(&mut self, prefix: &str) -> String {
        let reply = self.reply().await;
        assert!(
            reply.starts_with(prefix),
            "expected a reply starting with {prefix:?}, got {reply:?}"
        );
        reply
    }

    /// Assert that the server closed the connection without sending anything more.
    pub async fn expect_closed(&mut self) {
        let line = self.read_line().await;
        assert_eq!(line, "", "expected the connection to be closed");
    }

    /// Close our side (the client goes away).
    pub async fn close(&mut self) {
        let _ = self.writer.shutdown().await;
    }

    /// Wait for the session task and return how it ended.
    pub async fn ending(&mut self) -> Ending {
        let task = self.task.take().expect("ending() called twice");
        tokio::time::timeout(self.patience, task)
            .await
            .expect("session did not end")
            .expect("session task panicked")
    }

    /// Whether the session task is still running.
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// One raw line from the server ("" at EOF).
    async fn read_line(&mut self) -> String {
        let mut buf = Vec::new();
        tokio::time::timeout(self.patience, self.reader.read_until(b'\n', &mut buf))
            .await
            .expect("no reply from the session (timed out)")
            .expect("read from session");
        String::from_utf8(buf).expect("reply is not UTF-8")
    }
}

/// Run one full transaction: MAIL, each RCPT (expecting `250`), DATA, the message (dot-stuffing
/// is the caller's job; the terminator is added here). Returns the replies after the data.
pub async fn transaction(
    s: &mut TestSession,
    from: &str,
    rcpts: &[&str],
    data: &[u8],
) -> Vec<String> {
    s.send(&format!("MAIL FROM:<{from}>")).await;
    s.expect("250 2.1.0").await;
    for r in rcpts {
        s.send(&format!("RCPT TO:<{r}>")).await;
        s.expect("250 2.1.5").await;
    }
    s.send("DATA").await;
    s.expect("354").await;
    s.send_raw(data).await;
    s.send_raw(b".\r\n").await;
    let mut replies = Vec::new();
    for _ in rcpts {
        replies.push(s.reply().await);
    }
    replies
}

// --- A recording MailHandler -------------------------------------------------------------------

/// One call of [`MailHandler::deliver`] as the recording handler saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub envelope: Envelope,
    pub recipients: Vec<String>,
    /// The message bytes as spooled.
    pub message: Vec<u8>,
    /// Whether the spool had spilled to a file.
    pub from_file: bool,
    /// `Spool::size()`.
    pub spool_size: u64,
}

/// A test double: accepts the recipients in a set (case-sensitive, exactly as given), refuses
/// the others with a configurable reply, records deliveries and answers each recipient with a
/// configurable reply (default `250 2.0.0`).
pub struct RecordingHandler {
    accept: HashSet<String>,
    refuse: Reply,
    answers: Mutex<HashMap<String, Reply>>,
    checked: Mutex<Vec<String>>,
    deliveries: Mutex<Vec<Delivery>>,
}

impl RecordingHandler {
    /// Accept exactly `addresses`; refuse others with `550 5.1.1`.
    pub fn accepting(addresses: &[&str]) -> Arc<RecordingHandler> {
        Arc::new(RecordingHandler::new(
            addresses,
            Reply::new(550, "5.1.1", "User unknown"),
        ))
    }

    /// Accept exactly `addresses`; refuse others with `refuse`.
    pub fn new(addresses: &[&str], refuse: Reply) -> RecordingHandler {
        RecordingHandler {
            accept: addresses.iter().map(|a| a.to_string()).collect(),
            refuse,
            answers: Mutex::new(HashMap::new()),
            checked: Mutex::new(Vec::new()),
            deliveries: Mutex::new(Vec::new()),
        }
    }

    /// Answer `address` with `reply` at the end of DATA.
    pub fn answer(&self, address: &str, reply: Reply) {
        self.answers
            .lock()
            .unwrap()
            .insert(address.to_string(), reply);
    }

    /// Deliveries so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// Addresses passed to `check_recipient` so far.
    pub fn checked(&self) -> Vec<String> {
        self.checked.lock().unwrap().clone()
    }
}

/// The content of a spool, wherever it is held.
pub fn spool_bytes(spool: &Spool) -> (Vec<u8>, bool) {
    match spool.source() {
        MessageSource::Bytes(b) => (b.to_vec(), false),
        MessageSource::File(f) => {
            use std::os::unix::fs::FileExt;
            let mut out = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = f
                    .read_at(&mut buf, out.len() as u64)
                    .expect("read spool file");
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            (out, true)
        }
    }
}

#[async_trait]
impl MailHandler for RecordingHandler {
    type Recipient = String;

    async fn check_recipient(&self, _envelope: &Envelope, address: &str) -> Result<String, Reply> {
        self.checked.lock().unwrap().push(address.to_string());
        if self.accept.contains(address) {
            Ok(address.to_string())
        } else {
            Err(self.refuse.clone())
        }
    }

    async fn deliver(
        &self,
        envelope: &Envelope,
        recipients: &[(String, String)],
        message: &Spool,
    ) -> Vec<Reply> {
        let (bytes, from_file) = spool_bytes(message);
        self.deliveries.lock().unwrap().push(Delivery {
            envelope: envelope.clone(),
            recipients: recipients.iter().map(|(a, _)| a.clone()).collect(),
            message: bytes,
            from_file,
            spool_size: message.size(),
        });
        let answers = self.answers.lock().unwrap();
        recipients
            .iter()
            .map(|(a, _)| {
                answers
                    .get(a)
                    .cloned()
                    .unwrap_or_else(|| Reply::delivered(a, &envelope.id))
            })
            .collect()
    }
}

// --- The real LocalDelivery over a temporary users file and store -------------------------------

/// One argon2 hash for every test user (hashing is slow in debug builds; LMTP never checks it).
pub fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| mailstack_directory::password::hash_password("secret").expect("hash"))
}

/// A users file, a mail root and a [`LocalDelivery`] over them, all in a temporary directory.
pub struct Local {
    pub tmp: tempfile::TempDir,
    pub users_file: PathBuf,
    pub root: PathBuf,
    pub store: Store,
    pub metrics: Metrics,
    pub handler: Arc<LocalDelivery>,
}

/// Default users: alice and bob at example.com, `postmaster@` (alias to alice),
/// `all@` (group of alice and bob), `a.smith@` (alice's own alias), and
/// `fwd@` (an alias whose only target is remote).
pub fn default_users(f: &mut UsersFile) -> Result<(), DirectoryError> {
    f.add_user("alice@example.com", password_hash(), None)?;
    f.add_user("bob@example.com", password_hash(), None)?;
    f.add_user_alias("alice@example.com", "a.smith@example.com")?;
    f.add_alias("postmaster@example.com", &["alice@example.com"])?;
    f.add_group("all@example.com", &["alice@example.com", "bob@example.com"])?;
    f.add_alias("fwd@example.com", &["someone@remote.example"])?;
    Ok(())
}

impl Local {
    /// [`default_users`] plus whatever `extra` adds; no default quota, no default folders.
    pub fn new(extra: impl FnOnce(&mut UsersFile) -> Result<(), DirectoryError>) -> Local {
        Local::with_options(extra, 0, Vec::new())
    }

    pub fn with_options(
        extra: impl FnOnce(&mut UsersFile) -> Result<(), DirectoryError>,
        default_quota_bytes: u64,
        default_folders: Vec<String>,
    ) -> Local {
        let tmp = tempfile::tempdir().expect("tempdir");
        let users_file = tmp.path().join("users.toml");
        edit_users_file(&users_file, |f| {
            default_users(f)?;
            extra(f)
        })
        .expect("write users file");
        let directory =
            StaticDirectory::open(users_file.clone(), "+".to_string()).expect("open directory");
        Local::with_directory(
            tmp,
            users_file,
            Arc::new(directory),
            default_quota_bytes,
            default_folders,
        )
    }

    /// A [`LocalDelivery`] over any directory (e.g. [`FailingDirectory`]).
    pub fn with_directory(
        tmp: tempfile::TempDir,
        users_file: PathBuf,
        directory: Arc<dyn Directory>,
        default_quota_bytes: u64,
        default_folders: Vec<String>,
    ) -> Local {
        let root = tmp.path().join("mail");
        let store = Store::new(StoreOptions {
            root: root.clone(),
            fsync: false,
        })
        .expect("store");
        let metrics = Metrics::new();
        let handler = Arc::new(LocalDelivery::new(
            directory,
            store.clone(),
            HOST.to_string(),
            ExpandLimits::default(),
            default_quota_bytes,
            default_folders,
            &metrics,
        ));
        Local {
            tmp,
            users_file,
            root,
            store,
            metrics,
            handler,
        }
    }

    /// `<root>/<domain>/<user>/Maildir`.
    pub fn maildir(&self, address: &str) -> PathBuf {
        let (user, domain) = address.rsplit_once('@').expect("address");
        self.root.join(domain).join(user).join("Maildir")
    }

    /// The messages in `new/` of `address`'s INBOX, oldest file name first.
    pub fn inbox_new(&self, address: &str) -> Vec<Vec<u8>> {
        read_dir_files(&self.maildir(address).join("new"))
    }
}

/// Contents of the regular files in `dir`, sorted by file name; empty if `dir` is missing.
pub fn read_dir_files(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("read message"))
        .collect()
}

/// A directory whose every query fails with the given error (a backend outage).
pub struct FailingDirectory {
    pub make_error: fn() -> DirectoryError,
}

impl FailingDirectory {
    pub fn unavailable() -> FailingDirectory {
        FailingDirectory {
            make_error: || DirectoryError::Unavailable("ldap server down".into()),
        }
    }
    pub fn invalid() -> FailingDirectory {
        FailingDirectory {
            make_error: || DirectoryError::Invalid("users file broken".into()),
        }
    }
}

#[async_trait]
impl Directory for FailingDirectory {
    async fn lookup(&self, _address: &str) -> Result<Option<Entry>, DirectoryError> {
        Err((self.make_error)())
    }
    async fn is_local_domain(&self, _domain: &str) -> Result<bool, DirectoryError> {
        Err((self.make_error)())
    }
    async fn catch_all(&self, _domain: &str) -> Result<Option<String>, DirectoryError> {
        Err((self.make_error)())
    }
    fn subaddress_delimiters(&self) -> &str {
        "+"
    }
    async fn authenticate(
        &self,
        _login: &str,
        _password: &str,
    ) -> Result<AuthOutcome, DirectoryError> {
        Err((self.make_error)())
    }
    fn describe(&self) -> String {
        "failing test directory".to_string()
    }
}

/// Whether `bytes` contain a CR not followed by LF or an LF not preceded by CR.
pub fn has_bare_newline(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => bytes.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || bytes[i - 1] != b'\r',
        _ => false,
    })
}
