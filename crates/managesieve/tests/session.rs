//! ManageSieve sessions over in-memory pipes: a static users file, a store in a temporary
//! directory, and the client side written as RFC 5804's examples are.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use mailstack_directory::static_file::{StaticDirectory, edit_users_file};
use mailstack_directory::{AuthOutcome, Directory, DirectoryError, Entry};
use mailstack_managesieve::session::{Ending, SieveConfig, run_managesieve_session};
use mailstack_net::Shutdown;
use mailstack_store::sieve::SieveQuota;
use mailstack_store::{Store, StoreOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::task::JoinHandle;

const PASSWORD: &str = "secret";

fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| mailstack_directory::password::hash_password(PASSWORD).expect("hash"))
}

struct Env {
    tmp: tempfile::TempDir,
    store: Store,
    directory: Arc<dyn Directory>,
    config: SieveConfig,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let users = tmp.path().join("users.toml");
        edit_users_file(&users, |f| {
            f.add_user("alice@example.com", password_hash(), None)?;
            f.add_user("bob@example.com", password_hash(), None)
        })
        .unwrap();
        let directory = Arc::new(StaticDirectory::open(users, "+".into()).unwrap());
        Env::with_directory(tmp, directory)
    }

    fn with_directory(tmp: tempfile::TempDir, directory: Arc<dyn Directory>) -> Env {
        let mut opts = StoreOptions::new(tmp.path().join("mail"));
        opts.fsync = false;
        let mut config = SieveConfig {
            allow_plaintext_auth: true,
            ..SieveConfig::default()
        };
        config.throttle = mailstack_directory::AuthThrottle::new(Duration::from_millis(1));
        Env {
            store: Store::new(opts).unwrap(),
            tmp,
            directory,
            config,
        }
    }

    fn home(&self, local: &str) -> std::path::PathBuf {
        self.tmp.path().join("mail/example.com").join(local)
    }

    async fn client(&self) -> Client {
        let (client, server) = tokio::io::duplex(1 << 20);
        let shutdown = Shutdown::new();
        let task = tokio::spawn(run_managesieve_session(
            server,
            "192.0.2.9:4000".into(),
            Arc::new(self.config.clone()),
            self.directory.clone(),
            self.store.clone(),
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
        c.greeting = c.response().await;
        c
    }
}

struct Client {
    reader: BufReader<ReadHalf<DuplexStream>>,
    writer: WriteHalf<DuplexStream>,
    shutdown: Shutdown,
    task: Option<JoinHandle<Ending>>,
    greeting: String,
}

impl Client {
    /// Lines through the final OK/NO/BYE; literals inline.
    async fn response(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line))
                .await
                .expect("response in time")
                .unwrap();
            if n == 0 {
                return all;
            }
            all.push_str(&line);
            if let Some(size) = line
                .trim_end()
                .strip_suffix('}')
                .and_then(|l| l.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok())
            {
                let mut data = vec![0u8; size];
                self.reader.read_exact(&mut data).await.unwrap();
                all.push_str(&String::from_utf8_lossy(&data));
                continue;
            }
            if ["OK", "NO", "BYE"]
                .iter()
                .any(|w| line.starts_with(w) && line[w.len()..].starts_with([' ', '\r']))
            {
                return all;
            }
        }
    }

    async fn send(&mut self, data: &[u8]) {
        self.writer.write_all(data).await.unwrap();
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.response().await
    }

    async fn login(&mut self, user: &str) {
        let ir = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{PASSWORD}"));
        let r = self.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{ir}\"")).await;
        assert!(r.starts_with("OK"), "{r}");
    }

    async fn put(&mut self, name: &str, script: &str) -> String {
        self.cmd(&format!(
            "PUTSCRIPT \"{name}\" {{{}+}}\r\n{script}",
            script.len()
        ))
        .await
    }

    async fn ending(mut self) -> Ending {
        let t = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .expect("session ends")
            .unwrap()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

#[tokio::test]
async fn greeting_lists_capabilities() {
    let env = Env::new();
    let c = env.client().await;
    let g = &c.greeting;
    assert!(g.contains("\"IMPLEMENTATION\" \"mailstack\"\r\n"), "{g}");
    assert!(g.contains("\"SASL\" \"PLAIN LOGIN\"\r\n"), "{g}");
    assert!(g.contains("\"VERSION\" \"1.0\"\r\n"), "{g}");
    let sieve_line = g.lines().find(|l| l.starts_with("\"SIEVE\"")).unwrap();
    for cap in mailstack_sieve::CAPABILITIES {
        assert!(sieve_line.contains(cap), "{cap} missing in {sieve_line}");
    }
    assert!(!g.contains("STARTTLS"), "no certificate in this test: {g}");
    assert!(
        g.ends_with("OK \"mailstack ManageSieve ready.\"\r\n"),
        "{g}"
    );
}

#[tokio::test]
async fn plaintext_logins_are_refused_without_tls() {
    let mut env = Env::new();
    env.config.allow_plaintext_auth = false;
    let mut c = env.client().await;
    assert!(c.greeting.contains("\"SASL\" \"\"\r\n"), "{}", c.greeting);
    let ir = base64::engine::general_purpose::STANDARD
        .encode(format!("\0alice@example.com\0{PASSWORD}"));
    let r = c.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{ir}\"")).await;
    assert!(r.starts_with("NO (ENCRYPT-NEEDED)"), "{r}");
    let r = c.cmd("LISTSCRIPTS").await;
    assert!(r.starts_with("NO"), "{r}");
}

#[tokio::test]
async fn the_whole_script_life_cycle_in_dovecot_layout() {
    let env = Env::new();
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    let r = c.cmd("HAVESPACE \"vacation\" 500").await;
    assert!(r.starts_with("OK"), "{r}");
    let script =
        "require \"fileinto\";\r\nif header :contains \"subject\" \"x\" { fileinto \"X\"; }\r\n";
    let r = c.put("filters", script).await;
    assert!(r.starts_with("OK"), "{r}");
    // Synchronizing literal form too, and a quoted script.
    let r = c.cmd("PUTSCRIPT \"two\" {5}\r\nkeep;").await;
    assert!(r.starts_with("OK"), "{r}");
    let r = c.cmd("PUTSCRIPT \"three\" \"discard;\"").await;
    assert!(r.starts_with("OK"), "{r}");
    let r = c.cmd("LISTSCRIPTS").await;
    assert_eq!(
        r,
        "\"filters\"\r\n\"three\"\r\n\"two\"\r\nOK \"Listscripts completed.\"\r\n"
    );
    let r = c.cmd("SETACTIVE \"filters\"").await;
    assert!(r.starts_with("OK"), "{r}");
    let link = std::fs::read_link(env.home("alice").join(".dovecot.sieve")).unwrap();
    assert_eq!(link, std::path::PathBuf::from("sieve/filters.sieve"));
    let r = c.cmd("LISTSCRIPTS").await;
    assert!(r.contains("\"filters\" ACTIVE\r\n"), "{r}");
    let r = c.cmd("GETSCRIPT \"filters\"").await;
    assert_eq!(
        r,
        format!(
            "{{{}}}\r\n{script}\r\nOK \"Getscript completed.\"\r\n",
            script.len()
        )
    );
    let r = c.cmd("DELETESCRIPT \"filters\"").await;
    assert!(r.starts_with("NO (ACTIVE)"), "{r}");
    let r = c.cmd("RENAMESCRIPT \"filters\" \"two\"").await;
    assert!(r.starts_with("NO (ALREADYEXISTS)"), "{r}");
    let r = c.cmd("RENAMESCRIPT \"filters\" \"main\"").await;
    assert!(r.starts_with("OK"), "{r}");
    let link = std::fs::read_link(env.home("alice").join(".dovecot.sieve")).unwrap();
    assert_eq!(link, std::path::PathBuf::from("sieve/main.sieve"));
    let r = c.cmd("GETSCRIPT \"filters\"").await;
    assert!(r.starts_with("NO (NONEXISTENT)"), "{r}");
    let r = c.cmd("DELETESCRIPT \"nope\"").await;
    assert!(r.starts_with("NO (NONEXISTENT)"), "{r}");
    let r = c.cmd("SETACTIVE \"\"").await;
    assert!(r.starts_with("OK"), "{r}");
    assert!(std::fs::symlink_metadata(env.home("alice").join(".dovecot.sieve")).is_err());
    let r = c.cmd("DELETESCRIPT \"main\"").await;
    assert!(r.starts_with("OK"), "{r}");
    let r = c.cmd("LOGOUT").await;
    assert_eq!(r, "OK \"Logout completed.\"\r\n");
    assert_eq!(c.ending().await, Ending::Logout);
}

#[tokio::test]
async fn syntax_errors_are_answered_with_their_position() {
    let env = Env::new();
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    let r = c
        .put("bad", "keep;\r\nif true {\r\n  filein \"x\";\r\n}\r\n")
        .await;
    assert!(r.starts_with("NO \"line 3, column 3: "), "{r}");
    let r = c.cmd("LISTSCRIPTS").await;
    assert_eq!(r, "OK \"Listscripts completed.\"\r\n", "nothing stored");
    let r = c.cmd("CHECKSCRIPT {8+}\r\nfileinto").await;
    assert!(r.starts_with("NO \"line 1"), "{r}");
    let r = c.cmd("CHECKSCRIPT \"keep;\"").await;
    assert!(r.starts_with("OK"), "{r}");
    // A script that is not UTF-8.
    let r = c.cmd("PUTSCRIPT \"x\" {3+}\r\n\u{ff}").await;
    assert!(r.starts_with("NO"), "{r}");
}

#[tokio::test]
async fn quota_and_name_limits() {
    let mut env = Env::new();
    env.config.quota = SieveQuota {
        max_scripts: 2,
        max_script_size: 50,
        max_storage: 80,
    };
    let mut c = env.client().await;
    c.login("bob@example.com").await;
    let r = c.cmd("HAVESPACE \"a\" 51").await;
    assert!(r.starts_with("NO (QUOTA/MAXSIZE)"), "{r}");
    let big = format!("#{}\r\nkeep;", "x".repeat(60));
    let r = c.put("a", &big).await;
    assert!(r.starts_with("NO (QUOTA/MAXSIZE)"), "{r}");
    assert!(c.put("a", "keep;").await.starts_with("OK"));
    assert!(c.put("b", "keep;").await.starts_with("OK"));
    let r = c.put("c", "keep;").await;
    assert!(r.starts_with("NO (QUOTA/MAXSCRIPTS)"), "{r}");
    let r = c.put("bad/name", "keep;").await;
    assert!(r.starts_with("NO \"Invalid script name"), "{r}");
    let r = c.put(".hidden", "keep;").await;
    assert!(r.starts_with("NO \"Invalid script name"), "{r}");
}

#[tokio::test]
async fn an_oversized_literal_is_refused_and_the_session_goes_on() {
    let mut env = Env::new();
    env.config.limits.max_literal = 100;
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    let r = c.put("big", &"#".repeat(500)).await;
    assert!(r.starts_with("NO (QUOTA/MAXSIZE)"), "{r}");
    let r = c.cmd("NOOP \"still here\"").await;
    assert_eq!(r, "OK (TAG \"still here\") \"Done\"\r\n");
}

#[tokio::test]
async fn authenticate_with_challenges_login_and_cancel() {
    let env = Env::new();
    let mut c = env.client().await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // PLAIN without an initial response: an empty challenge, then the response as a literal.
    c.send(b"AUTHENTICATE \"PLAIN\"\r\n").await;
    let line = {
        let mut l = String::new();
        c.reader.read_line(&mut l).await.unwrap();
        l
    };
    assert_eq!(line, "\"\"\r\n");
    let resp = b64("\0alice@example.com\0wrong");
    let r = c.cmd(&format!("{{{}+}}\r\n{resp}", resp.len())).await;
    assert_eq!(r, "NO \"Authentication failed.\"\r\n");
    // Cancel.
    c.send(b"AUTHENTICATE \"PLAIN\"\r\n").await;
    let mut l = String::new();
    c.reader.read_line(&mut l).await.unwrap();
    let r = c.cmd("\"*\"").await;
    assert!(r.starts_with("NO"), "{r}");
    // LOGIN: two prompts.
    c.send(b"AUTHENTICATE \"LOGIN\"\r\n").await;
    let mut l = String::new();
    c.reader.read_line(&mut l).await.unwrap();
    assert_eq!(l, format!("\"{}\"\r\n", b64("Username:")));
    c.send(format!("\"{}\"\r\n", b64("alice@example.com")).as_bytes())
        .await;
    let mut l = String::new();
    c.reader.read_line(&mut l).await.unwrap();
    assert_eq!(l, format!("\"{}\"\r\n", b64("Password:")));
    let r = c.cmd(&format!("\"{}\"", b64(PASSWORD))).await;
    assert_eq!(r, "OK \"Logged in.\"\r\n");
    let r = c.cmd("AUTHENTICATE \"PLAIN\" \"x\"").await;
    assert!(r.starts_with("NO"), "{r}");
    // UNAUTHENTICATE goes back.
    let r = c.cmd("UNAUTHENTICATE").await;
    assert!(r.starts_with("OK"), "{r}");
    let r = c.cmd("LISTSCRIPTS").await;
    assert!(r.starts_with("NO"), "{r}");
    c.login("bob@example.com").await;
}

#[tokio::test]
async fn three_failed_logins_close_the_connection() {
    let env = Env::new();
    let mut c = env.client().await;
    let ir = base64::engine::general_purpose::STANDARD.encode("\0alice@example.com\0bad");
    for _ in 0..2 {
        let r = c.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{ir}\"")).await;
        assert_eq!(r, "NO \"Authentication failed.\"\r\n");
    }
    let r = c.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{ir}\"")).await;
    assert_eq!(r, "NO \"Authentication failed.\"\r\n");
    let r = c.response().await;
    assert!(r.starts_with("BYE"), "{r}");
    assert_eq!(c.ending().await, Ending::TooManyErrors);
}

/// A directory that is down.
struct DownDirectory;

#[async_trait]
impl Directory for DownDirectory {
    async fn lookup(&self, _: &str) -> Result<Option<Entry>, DirectoryError> {
        Err(DirectoryError::Unavailable("ldap down".into()))
    }
    async fn is_local_domain(&self, _: &str) -> Result<bool, DirectoryError> {
        Err(DirectoryError::Unavailable("ldap down".into()))
    }
    async fn catch_all(&self, _: &str) -> Result<Option<String>, DirectoryError> {
        Err(DirectoryError::Unavailable("ldap down".into()))
    }
    fn subaddress_delimiters(&self) -> &str {
        "+"
    }
    async fn authenticate(&self, _: &str, _: &str) -> Result<AuthOutcome, DirectoryError> {
        Err(DirectoryError::Unavailable("ldap down".into()))
    }
    fn describe(&self) -> String {
        "down".into()
    }
}

#[tokio::test]
async fn a_directory_outage_is_trylater() {
    let env = Env::with_directory(tempfile::tempdir().unwrap(), Arc::new(DownDirectory));
    let mut c = env.client().await;
    let ir = base64::engine::general_purpose::STANDARD
        .encode(format!("\0alice@example.com\0{PASSWORD}"));
    let r = c.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{ir}\"")).await;
    assert!(r.starts_with("NO (TRYLATER)"), "{r}");
}

#[tokio::test]
async fn errors_unknown_commands_and_limits() {
    let env = Env::new();
    let mut c = env.client().await;
    let r = c.cmd("FROBNICATE").await;
    assert_eq!(r, "NO \"Unknown command\"\r\n");
    let r = c.cmd("PUTSCRIPT \"a\" \"keep;\"").await;
    assert_eq!(r, "NO \"Not authenticated\"\r\n");
    let r = c.cmd("STARTTLS").await;
    assert!(r.starts_with("NO"), "{r}");
    let r = c.cmd("NOOP (bad)").await;
    assert!(r.starts_with("NO"), "{r}");
    let r = c.cmd("CAPABILITY").await;
    assert!(r.ends_with("OK \"Capability completed.\"\r\n"), "{r}");
    // A line over the limit ends the connection.
    c.send(format!("NOOP \"{}\"\r\n", "x".repeat(10_000)).as_bytes())
        .await;
    let r = c.response().await;
    assert!(r.starts_with("BYE"), "{r}");
    assert_eq!(c.ending().await, Ending::TooManyErrors);
}

#[tokio::test]
async fn a_dovecot_made_sieve_directory_is_served() {
    let env = Env::new();
    let home = env.home("alice");
    std::fs::create_dir_all(home.join("sieve/tmp")).unwrap();
    std::fs::write(
        home.join("sieve/roundcube.sieve"),
        "require [\"fileinto\"];\nfileinto \"Junk\";\n",
    )
    .unwrap();
    std::fs::write(home.join("sieve/roundcube.svbin"), b"\0\0bin").unwrap();
    std::os::unix::fs::symlink("sieve/roundcube.sieve", home.join(".dovecot.sieve")).unwrap();
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    let r = c.cmd("LISTSCRIPTS").await;
    assert_eq!(
        r,
        "\"roundcube\" ACTIVE\r\nOK \"Listscripts completed.\"\r\n"
    );
    let r = c.cmd("GETSCRIPT \"roundcube\"").await;
    assert!(r.contains("fileinto \"Junk\";"), "{r}");
}

#[tokio::test(start_paused = true)]
async fn idle_sessions_time_out() {
    let mut env = Env::new();
    env.config.timeout = Duration::from_secs(5);
    let mut c = env.client().await;
    let r = c.response().await;
    assert!(r.starts_with("BYE"), "{r}");
    assert_eq!(c.ending().await, Ending::Timeout);
}
