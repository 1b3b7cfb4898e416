//! Test harness for the IMAP session: clients over in-memory duplex pipes, a static users
//! file and a store (fsync off) in a temporary directory, and a scriptable test directory.
//!
//! ```ignore
//! let env = Env::new();
//! let mut c = env.client().await;          // greeting read
//! c.login("alice@example.com").await;
//! let r = c.cmd("a1 SELECT INBOX").await;  // all lines through the tagged one
//! assert!(r.ok());
//! ```
#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use mailstack_directory::static_file::{StaticDirectory, edit_users_file};
use mailstack_directory::{AuthOutcome, Directory, DirectoryError, Entry, User};
use mailstack_imap::session::{Ending, ImapConfig, run_imap_session};
use mailstack_imap::watch::MaildirWatcher;
use mailstack_net::Shutdown;
use mailstack_store::{MessageSource, Quota, Store, StoreOptions, UserStore};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::task::JoinHandle;

/// The password of every test user.
pub const PASSWORD: &str = "secret";

fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| mailstack_directory::password::hash_password(PASSWORD).expect("hash"))
}

/// A users file (alice, bob), a mail root and a watcher in a temporary directory.
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub store: Store,
    pub directory: Arc<dyn Directory>,
    pub watcher: MaildirWatcher,
    pub config: ImapConfig,
}

impl Env {
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().expect("tempdir");
        let users = tmp.path().join("users.toml");
        edit_users_file(&users, |f| {
            f.add_user("alice@example.com", password_hash(), None)?;
            f.add_user("bob@example.com", password_hash(), None)
        })
        .expect("users file");
        let directory = StaticDirectory::open(users, "+".into()).expect("directory");
        Env::with_directory(tmp, Arc::new(directory))
    }

    pub fn with_directory(tmp: tempfile::TempDir, directory: Arc<dyn Directory>) -> Env {
        let mut opts = StoreOptions::new(tmp.path().join("mail"));
        opts.fsync = false;
        let store = Store::new(opts).expect("store");
        let config = ImapConfig {
            allow_plaintext_auth: true,
            ..ImapConfig::default()
        };
        Env {
            tmp,
            store,
            directory,
            watcher: MaildirWatcher::new().expect("watcher"),
            config,
        }
    }

    pub fn user(&self, local: &str) -> UserStore {
        self.store.user("example.com", local).expect("user store")
    }

    /// Deliver a message into alice's INBOX as lmtp-mda would.
    pub async fn deliver(&self, local: &str, msg: &[u8]) -> u32 {
        let d = self
            .user(local)
            .deliver(
                "INBOX",
                b"",
                MessageSource::Bytes(msg),
                &[],
                &Quota::UNLIMITED,
            )
            .await
            .expect("deliver");
        d.uid.expect("uid")
    }

    /// A session; the greeting is read and returned in `greeting`.
    pub async fn client(&self) -> Client {
        let (client, server) = tokio::io::duplex(1 << 20);
        let shutdown = Shutdown::new();
        let task = tokio::spawn(run_imap_session(
            server,
            "192.0.2.7:40000".into(),
            Arc::new(self.config.clone()),
            self.directory.clone(),
            self.store.clone(),
            self.watcher.clone(),
            shutdown.clone(),
        ));
        let (rd, wr) = tokio::io::split(client);
        let mut c = Client {
            reader: BufReader::new(rd),
            writer: wr,
            shutdown,
            task: Some(task),
            greeting: String::new(),
        };
        c.greeting = c.line().await;
        c
    }
}

/// The lines of one command's answer, through the tagged line; literals inline.
#[derive(Debug)]
pub struct Reply {
    pub lines: Vec<Vec<u8>>,
}

impl Reply {
    /// The tagged line.
    pub fn tagged(&self) -> String {
        String::from_utf8_lossy(self.lines.last().expect("tagged line")).into_owned()
    }
    pub fn ok(&self) -> bool {
        self.tagged().split(' ').nth(1) == Some("OK")
    }
    /// All lines as text.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
    pub fn has(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "expected OK:\n{}", self.text());
        self
    }
}

pub struct Client {
    reader: BufReader<ReadHalf<DuplexStream>>,
    writer: WriteHalf<DuplexStream>,
    pub shutdown: Shutdown,
    task: Option<JoinHandle<Ending>>,
    pub greeting: String,
}

const PATIENCE: Duration = Duration::from_secs(20);

impl Client {
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
        self.writer.flush().await.expect("flush");
    }

    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// One line without CRLF (empty string at EOF).
    pub async fn line(&mut self) -> String {
        String::from_utf8_lossy(&self.raw_line().await).into_owned()
    }

    /// One response line with any literals it announces read in place, without the CRLF.
    pub async fn raw_line(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut buf = Vec::new();
            tokio::time::timeout(PATIENCE, self.reader.read_until(b'\n', &mut buf))
                .await
                .expect("timed out waiting for the server")
                .expect("read");
            if buf.is_empty() {
                return out;
            }
            let line = buf.strip_suffix(b"\r\n").unwrap_or(&buf).to_vec();
            out.extend_from_slice(&line);
            // A literal `{n}` at the end: read n octets, then the line continues.
            let Some(n) = literal_size(&line) else {
                return out;
            };
            out.extend_from_slice(b"\r\n");
            let mut data = vec![0u8; n];
            tokio::time::timeout(PATIENCE, self.reader.read_exact(&mut data))
                .await
                .expect("timed out reading a literal")
                .expect("read literal");
            out.extend_from_slice(&data);
        }
    }

    /// Read lines through the one tagged `tag`.
    pub async fn until_tagged(&mut self, tag: &str) -> Reply {
        let mut lines = Vec::new();
        loop {
            let line = self.raw_line().await;
            assert!(!line.is_empty(), "session closed; so far: {lines:?}");
            let done = line.starts_with(format!("{tag} ").as_bytes());
            lines.push(line);
            if done {
                return Reply { lines };
            }
        }
    }

    /// Send `line` (which starts with its tag) and read the answer.
    pub async fn cmd(&mut self, line: &str) -> Reply {
        let tag = line.split(' ').next().unwrap().to_string();
        self.send(line).await;
        self.until_tagged(&tag).await
    }

    pub async fn login(&mut self, user: &str) {
        self.cmd(&format!("L LOGIN {user} {PASSWORD}"))
            .await
            .assert_ok();
    }

    /// Whether the session ended, and how (waits for it).
    pub async fn ending(&mut self) -> Ending {
        let task = self.task.take().expect("task");
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("session did not end")
            .expect("session task")
    }
}

fn literal_size(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}

/// A directory answering logins from a script: a fixed outcome, counting calls.
pub struct ScriptedDirectory {
    pub outcome: Mutex<Result<bool, ()>>,
    pub calls: Mutex<u32>,
    /// alice's quota: bytes, messages.
    pub quota: (Option<u64>, Option<u64>),
}

impl ScriptedDirectory {
    /// `Ok(true)` accepts alice, `Ok(false)` rejects everybody, `Err(())` is an outage.
    pub fn new(outcome: Result<bool, ()>) -> Arc<ScriptedDirectory> {
        Arc::new(ScriptedDirectory {
            outcome: Mutex::new(outcome),
            calls: Mutex::new(0),
            quota: (None, None),
        })
    }

    /// Accepts alice (any password), with these quota limits.
    pub fn with_quota(bytes: Option<u64>, messages: Option<u64>) -> Arc<ScriptedDirectory> {
        Arc::new(ScriptedDirectory {
            outcome: Mutex::new(Ok(true)),
            calls: Mutex::new(0),
            quota: (bytes, messages),
        })
    }
}

#[async_trait]
impl Directory for ScriptedDirectory {
    async fn lookup(&self, _address: &str) -> Result<Option<Entry>, DirectoryError> {
        Ok(None)
    }
    async fn is_local_domain(&self, _domain: &str) -> Result<bool, DirectoryError> {
        Ok(true)
    }
    async fn catch_all(&self, _domain: &str) -> Result<Option<String>, DirectoryError> {
        Ok(None)
    }
    fn subaddress_delimiters(&self) -> &str {
        "+"
    }
    async fn authenticate(
        &self,
        _login: &str,
        _password: &str,
    ) -> Result<AuthOutcome, DirectoryError> {
        *self.calls.lock().unwrap() += 1;
        match *self.outcome.lock().unwrap() {
            Ok(true) => Ok(AuthOutcome::Accepted(User {
                address: "alice@example.com".into(),
                uid: None,
                aliases: Vec::new(),
                quota_bytes: self.quota.0,
                quota_messages: self.quota.1,
                host: None,
            })),
            Ok(false) => Ok(AuthOutcome::Rejected),
            Err(()) => Err(DirectoryError::Unavailable("test outage".into())),
        }
    }
    fn describe(&self) -> String {
        "scripted".into()
    }
}

/// A small message with CRLF line ends.
pub fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.com>\r\n\r\nHello {subject}.\r\nSecond line.\r\n"
    )
    .into_bytes()
}
