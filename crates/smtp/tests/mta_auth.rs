//! The real smtp-mta service ([`run_smtp_mta`]) checking SPF, DKIM and DMARC against a DNS
//! server started by the test, with messages DKIM-signed in the test and sent over SMTP.
//!
//! - results are recorded: the queued message starts with `Received:`, then our
//!   `Authentication-Results: mx.test;` header, then the message as sent;
//! - a body changed after signing gives `dkim=fail`; DMARC then passes only through aligned SPF;
//! - local policy acts on the results when configured (`550 5.7.1` for a DMARC failure under
//!   `p=reject`, `550 5.7.23` for SPF `fail`), and nothing is queued;
//! - DNS trouble (server stopped, or silent) is `temperror` and never a refusal, and the reply
//!   comes within the configured `dns_timeout`.
//!
//! Delivery is not the point: the LMTP address points at a closed port, so messages stay queued
//! and are read back with `mailstack_queue::admin`.

mod dns_server;
mod verify_fixtures;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dns_server::DnsServer;
use mailstack_config::{Config, DurationSpec};
use mailstack_net::Shutdown;
use mailstack_queue::QueueEntry;
use mailstack_smtp::service::{ServiceError, run_smtp_mta};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinHandle;
use verify_fixtures::{BODY, dkim_sign, ed25519_key, message, unfold};

/// Our host name, hence the authserv-id of the headers smtp-mta writes.
const HOSTNAME: &str = "mx.test";
/// The EHLO name our client gives.
const EHLO: &str = "client.example.net";
/// The local recipient (from the users file).
const RCPT: &str = "alice@example.com";
/// Upper bound for any single wait of the test (connect, one SMTP reply, shutdown).
const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

/// One argon2 hash for every instance (hashing is slow in debug builds).
fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| mailstack_directory::password::hash_password("pw").expect("hash password"))
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A running smtp-mta.
struct Mta {
    smtp: SocketAddr,
    queue_dir: PathBuf,
    shutdown: Shutdown,
    task: JoinHandle<Result<(), ServiceError>>,
    _tmp: tempfile::TempDir,
}

impl Mta {
    /// Starts smtp-mta asking the DNS server at `dns` with the given timeout; `tweak` sets
    /// policy. Returns once the MX port accepts connections.
    async fn start(dns: SocketAddr, dns_timeout: Duration, tweak: impl FnOnce(&mut Config)) -> Mta {
        let tmp = tempfile::tempdir().expect("tempdir");
        let users_file = tmp.path().join("users.toml");
        let hash = password_hash().to_string();
        mailstack_directory::static_file::edit_users_file(&users_file, |f| {
            f.add_user(RCPT, &hash, None)
        })
        .expect("write users file");
        let queue_dir = tmp.path().join("queue");
        let smtp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();

        let mut config = Config::default();
        config.server.hostname = HOSTNAME.to_string();
        config.directory.users_file = users_file.to_string_lossy().into_owned();
        let mta = &mut config.smtp_mta;
        mta.listen = vec![smtp.to_string()];
        mta.relay_listen = vec![format!("127.0.0.1:{}", free_port())];
        mta.admin_listen = format!("127.0.0.1:{}", free_port());
        // Nothing listens there: deliveries fail temporarily and messages stay queued.
        mta.lmtp_address = format!("127.0.0.1:{}", free_port());
        mta.starttls = false;
        mta.verify = true;
        mta.dns_resolver = dns.to_string();
        mta.dns_timeout = DurationSpec(dns_timeout);
        mta.shutdown_grace = DurationSpec::secs(5);
        config.queue.dir = queue_dir.to_string_lossy().into_owned();
        config.queue.fsync = false;
        tweak(&mut config);

        let shutdown = Shutdown::new();
        let task = {
            let shutdown = shutdown.clone();
            tokio::spawn(async move { run_smtp_mta(&config, shutdown).await })
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if task.is_finished() {
                let result = task.await.expect("smtp-mta task");
                panic!("smtp-mta ended before accepting connections: {result:?}");
            }
            if TcpStream::connect(smtp).await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "smtp-mta did not listen on {smtp}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Mta {
            smtp,
            queue_dir,
            shutdown,
            task,
            _tmp: tmp,
        }
    }

    /// Opens an SMTP session: greeting and EHLO done.
    async fn connect(&self) -> Client {
        let stream = TcpStream::connect(self.smtp).await.expect("connect smtp");
        let (read, write) = stream.into_split();
        let mut client = Client {
            read: BufReader::new(read),
            write,
        };
        let (code, text) = client.reply().await;
        assert_eq!(code, 220, "greeting: {text}");
        assert!(text.contains(HOSTNAME), "greeting: {text}");
        client.expect(&format!("EHLO {EHLO}"), 250).await;
        client
    }

    /// Everything queued, read back from the spool.
    async fn queued(&self) -> Vec<QueueEntry> {
        let dir = self.queue_dir.clone();
        tokio::task::spawn_blocking(move || mailstack_queue::admin::list(&dir))
            .await
            .expect("list task")
            .expect("list queue")
    }

    /// The queued message with id `id`: its entry and bytes.
    async fn show(&self, id: &str) -> (QueueEntry, Vec<u8>) {
        let (dir, id) = (self.queue_dir.clone(), id.to_string());
        tokio::task::spawn_blocking(move || mailstack_queue::admin::show(&dir, &id))
            .await
            .expect("show task")
            .unwrap_or_else(|e| panic!("show queued message: {e}"))
    }

    /// Sends one message in a fresh session and returns the queued copy (asserting `250`).
    async fn send_and_fetch(&self, mail_from: &str, message: &[u8]) -> Queued {
        let mut client = self.connect().await;
        let (code, text) = client.send(mail_from, RCPT, message).await;
        assert_eq!(code, 250, "reply to DATA: {text}");
        client.quit().await;
        let id = queued_id(&text);
        let (entry, bytes) = self.show(&id).await;
        assert_eq!(entry.sender, mail_from);
        assert_eq!(
            entry
                .pending
                .iter()
                .map(|p| p.address.as_str())
                .collect::<Vec<_>>(),
            vec![RCPT]
        );
        Queued::new(bytes)
    }

    /// Triggers shutdown and waits for the service, which must end with `Ok`.
    async fn stop(self) {
        self.shutdown.trigger();
        let result = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("smtp-mta did not stop in time")
            .expect("smtp-mta task panicked");
        assert!(result.is_ok(), "smtp-mta ended with {result:?}");
    }
}

/// The id in `250 2.0.0 Ok: queued as <ID>`.
fn queued_id(reply: &str) -> String {
    let rest = reply
        .split_once("Ok: queued as ")
        .unwrap_or_else(|| panic!("not a queued reply: {reply}"))
        .1;
    rest.split_whitespace()
        .next()
        .expect("queue id")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// A small SMTP client
// ---------------------------------------------------------------------------------------------

struct Client {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl Client {
    /// Reads one (possibly multi-line) reply: its code and all its lines joined by `\n`.
    async fn reply(&mut self) -> (u16, String) {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(WAIT, self.read.read_line(&mut line))
                .await
                .expect("timed out waiting for a reply")
                .expect("read reply");
            assert!(n > 0, "connection closed; reply so far: {lines:?}");
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            assert!(
                line.len() >= 3 && line.as_bytes()[..3].iter().all(u8::is_ascii_digit),
                "malformed reply line {line:?}"
            );
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                break;
            }
        }
        let code = lines[0][..3].parse().expect("reply code");
        (code, lines.join("\n"))
    }

    async fn write(&mut self, data: &[u8]) {
        self.write.write_all(data).await.expect("write");
    }

    /// Sends one command line and reads the reply.
    async fn command(&mut self, line: &str) -> (u16, String) {
        self.write(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Sends one command line and asserts the reply code.
    async fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, text) = self.command(line).await;
        assert_eq!(got, code, "reply to {line:?}: {text}");
        text
    }

    /// One transaction; MAIL, RCPT and DATA must be accepted. Returns the reply to the final
    /// dot and how long it took to come.
    async fn send_timed(
        &mut self,
        mail_from: &str,
        rcpt: &str,
        message: &[u8],
    ) -> ((u16, String), Duration) {
        self.expect(&format!("MAIL FROM:<{mail_from}>"), 250).await;
        self.expect(&format!("RCPT TO:<{rcpt}>"), 250).await;
        self.expect("DATA", 354).await;
        self.write(&dot_stuffed(message)).await;
        let started = Instant::now();
        let reply = self.reply().await;
        (reply, started.elapsed())
    }

    async fn send(&mut self, mail_from: &str, rcpt: &str, message: &[u8]) -> (u16, String) {
        self.send_timed(mail_from, rcpt, message).await.0
    }

    async fn quit(mut self) {
        self.expect("QUIT", 221).await;
    }
}

/// `message` with lines starting with `.` doubled, a final CRLF, and the `.` line.
fn dot_stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

// ---------------------------------------------------------------------------------------------
// The queued message
// ---------------------------------------------------------------------------------------------

/// A queued message split into its header fields (each with its folds and CRLF) and the rest.
struct Queued {
    bytes: Vec<u8>,
    fields: Vec<String>,
}

impl Queued {
    fn new(bytes: Vec<u8>) -> Queued {
        let text = String::from_utf8(bytes.clone()).expect("queued message is UTF-8");
        let head_end = text.find("\r\n\r\n").expect("header section ends") + 2;
        let mut fields: Vec<String> = Vec::new();
        for line in text[..head_end].split_inclusive("\r\n") {
            if line.starts_with([' ', '\t']) {
                fields
                    .last_mut()
                    .expect("fold after a field")
                    .push_str(line);
            } else {
                fields.push(line.to_string());
            }
        }
        Queued { bytes, fields }
    }

    /// Every `Authentication-Results:` field naming `authserv_id`, unfolded.
    fn auth_results(&self, authserv_id: &str) -> Vec<String> {
        let prefix = format!("authentication-results: {authserv_id};");
        self.fields
            .iter()
            .map(|f| unfold(f))
            .filter(|f| f.to_ascii_lowercase().starts_with(&prefix))
            .collect()
    }

    /// Our one `Authentication-Results` header, unfolded; it must be the second field, right
    /// after our `Received:`, and ahead of everything the client sent.
    fn our_results(&self) -> String {
        let ours = self.auth_results(HOSTNAME);
        assert_eq!(ours.len(), 1, "headers: {:#?}", self.fields);
        assert!(
            self.fields[1].starts_with(&format!("Authentication-Results: {HOSTNAME};")),
            "headers: {:#?}",
            self.fields
        );
        ours.into_iter().next().unwrap()
    }

    /// The bytes after our two header fields (`Received:` and `Authentication-Results:`).
    fn as_sent(&self) -> &[u8] {
        let ours = self.fields[0].len() + self.fields[1].len();
        &self.bytes[ours..]
    }
}

/// Asserts `header` contains every one of `parts`.
fn assert_has(header: &str, parts: &[&str]) {
    for part in parts {
        assert!(header.contains(part), "missing {part:?} in {header}");
    }
}

/// Asserts `header` contains none of `parts`.
fn assert_lacks(header: &str, parts: &[&str]) {
    for part in parts {
        assert!(!header.contains(part), "unexpected {part:?} in {header}");
    }
}

// ---------------------------------------------------------------------------------------------
// DNS fixtures
// ---------------------------------------------------------------------------------------------

/// A DNS server with:
/// - example.org: SPF authorizing 127.0.0.1, DMARC `p=reject`, DKIM key `sel` (returned);
/// - bad.example: `v=spf1 -all` (nobody may send), no DMARC record;
/// - other.example: SPF authorizing 127.0.0.1, no DMARC record.
async fn zone() -> (DnsServer, verify_fixtures::Key) {
    let dns = DnsServer::start().await;
    dns.add_txt("example.org", "v=spf1 ip4:127.0.0.1 -all");
    dns.add_txt("_dmarc.example.org", "v=DMARC1; p=reject");
    let key = ed25519_key();
    dns.add_txt("sel._domainkey.example.org", &key.record);
    dns.add_txt("bad.example", "v=spf1 -all");
    dns.add_txt("other.example", "v=spf1 ip4:127.0.0.1 -all");
    (dns, key)
}

/// The fixture message from `someone@example.org`, signed by example.org (selector `sel`).
fn signed_message(key: verify_fixtures::Key) -> Vec<u8> {
    dkim_sign(
        key,
        "example.org",
        "sel",
        &message("someone@example.org", BODY),
    )
}

/// `signed` with its body changed after signing (the signature's body hash no longer matches).
fn tampered(signed: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(signed.to_vec()).unwrap();
    let changed = text.replace("the numbers are attached", "the numbers are NOT attached");
    assert_ne!(changed, text);
    changed.into_bytes()
}

fn default_policy(_: &mut Config) {}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Case 1: SPF, DKIM and DMARC all pass; the results are recorded in front of the message.
#[tokio::test]
async fn signed_message_from_authorized_ip_passes_everything() {
    let (dns, key) = zone().await;
    let mta = Mta::start(dns.addr(), Duration::from_secs(5), default_policy).await;

    // A body line starting with "." is dot-stuffed on the wire; DKIM passing (and the queued
    // copy being byte-identical) shows the server un-stuffed it exactly.
    let original = message(
        "someone@example.org",
        &format!("{BODY}.hidden dot line\r\n"),
    );
    let signed = dkim_sign(key, "example.org", "sel", &original);
    let queued = mta.send_and_fetch("someone@example.org", &signed).await;

    let text = String::from_utf8_lossy(&queued.bytes).into_owned();
    assert!(
        text.starts_with(&format!("Received: from {EHLO} ([127.0.0.1])")),
        "{text}"
    );
    assert!(
        queued.fields[0].contains(&format!("by {HOSTNAME}")),
        "{text}"
    );
    let header = queued.our_results();
    assert_has(
        &header,
        &[
            "spf=pass",
            "smtp.mailfrom=someone@example.org",
            "dkim=pass",
            "header.d=example.org",
            "header.s=sel",
            "dmarc=pass",
            "header.from=example.org",
        ],
    );
    assert_lacks(&header, &["fail", "temperror", "permerror"]);
    // Everything the client sent follows our two fields unchanged (signature first).
    assert_eq!(queued.as_sent(), &signed[..]);
    assert!(queued.as_sent().starts_with(b"DKIM-Signature:"));

    // Nothing but this message was queued.
    assert_eq!(mta.queued().await.len(), 1);
    mta.stop().await;
    dns.stop().await;
}

/// Case 2: a body changed after signing is `dkim=fail`. DMARC then depends on SPF alone:
/// aligned SPF pass (MAIL FROM example.org) still passes; SPF fail from another domain fails.
/// The default policy only records the results: both are queued.
#[tokio::test]
async fn body_changed_after_signing_fails_dkim_and_dmarc_without_aligned_spf() {
    let (dns, key) = zone().await;
    let mta = Mta::start(dns.addr(), Duration::from_secs(5), default_policy).await;
    let changed = tampered(&signed_message(key));

    // SPF fails (bad.example allows nobody) and is not aligned anyway; DKIM fails: DMARC fails
    // under example.org's p=reject, which the default policy does not act on.
    let queued = mta.send_and_fetch("x@bad.example", &changed).await;
    let header = queued.our_results();
    assert_has(
        &header,
        &[
            "spf=fail",
            "smtp.mailfrom=x@bad.example",
            "dkim=fail",
            "header.d=example.org",
            "dmarc=fail",
            "header.from=example.org",
        ],
    );
    assert_lacks(&header, &["dkim=pass", "dmarc=pass", "spf=pass"]);
    assert_eq!(queued.as_sent(), &changed[..]);

    // The same message with MAIL FROM example.org: SPF passes aligned, so DMARC passes even
    // though the signature does not verify.
    let queued = mta.send_and_fetch("someone@example.org", &changed).await;
    let header = queued.our_results();
    assert_has(
        &header,
        &[
            "spf=pass",
            "dkim=fail",
            "header.d=example.org",
            "dmarc=pass",
        ],
    );
    assert_lacks(&header, &["dkim=pass", "dmarc=fail"]);

    // Unsigned, From: example.org, MAIL FROM bad.example: no signature at all, DMARC fails.
    let unsigned = message("x@example.org", BODY);
    let queued = mta.send_and_fetch("x@bad.example", &unsigned).await;
    let header = queued.our_results();
    assert_has(&header, &["spf=fail", "dkim=none", "dmarc=fail"]);

    assert_eq!(mta.queued().await.len(), 3);
    mta.stop().await;
    dns.stop().await;
}

/// Case 3: local policy acting on the results. With `reject_dmarc_reject` and
/// `reject_spf_fail` on, a DMARC failure under `p=reject` gets `550 5.7.1` and SPF `fail` gets
/// `550 5.7.23`, both in reply to the end of DATA, and nothing is queued; mail that passes is
/// still queued on the same connection afterwards.
#[tokio::test]
async fn configured_policy_refuses_dmarc_reject_and_spf_fail_after_data() {
    let (dns, key) = zone().await;
    let signed = signed_message(key);
    let changed = tampered(&signed);

    // Only reject_dmarc_reject: DMARC failure of a p=reject domain. MAIL FROM other.example
    // passes SPF (so reject_spf_fail could not be the reason) but is not aligned with
    // From: example.org, and the signature is broken.
    let strict_dmarc = Mta::start(dns.addr(), Duration::from_secs(5), |c| {
        c.smtp_mta.reject_dmarc_reject = true;
    })
    .await;
    let mut client = strict_dmarc.connect().await;
    let (code, text) = client.send("x@other.example", RCPT, &changed).await;
    assert_eq!(code, 550, "{text}");
    assert!(text.starts_with("550 5.7.1 "), "{text}");
    assert!(strict_dmarc.queued().await.is_empty());
    // SPF fail alone is not a reason for this instance: no DMARC record for bad.example.
    let spf_fail_only = message("x@bad.example", BODY);
    let (code, text) = client.send("x@bad.example", RCPT, &spf_fail_only).await;
    assert_eq!(code, 250, "{text}");
    let queued = strict_dmarc.show(&queued_id(&text)).await.1;
    assert_has(
        &Queued::new(queued).our_results(),
        &["spf=fail", "dmarc=none"],
    );
    client.quit().await;
    strict_dmarc.stop().await;

    // Only reject_spf_fail: MAIL FROM bad.example (-all, 127.0.0.1 not authorized).
    let strict_spf = Mta::start(dns.addr(), Duration::from_secs(5), |c| {
        c.smtp_mta.reject_spf_fail = true;
    })
    .await;
    let mut client = strict_spf.connect().await;
    let (code, text) = client.send("x@bad.example", RCPT, &spf_fail_only).await;
    assert_eq!(code, 550, "{text}");
    assert!(text.starts_with("550 5.7.23 "), "{text}");
    assert!(strict_spf.queued().await.is_empty());
    // A DMARC failure under p=reject with SPF passing is not a reason for this instance.
    let (code, text) = client.send("x@other.example", RCPT, &changed).await;
    assert_eq!(code, 250, "{text}");
    client.quit().await;
    assert_eq!(strict_spf.queued().await.len(), 1);
    strict_spf.stop().await;

    // Both on: both refusals, then a message passing everything is queued on the same
    // connection (the refusals end the transaction, not the session).
    let strict = Mta::start(dns.addr(), Duration::from_secs(5), |c| {
        c.smtp_mta.reject_dmarc_reject = true;
        c.smtp_mta.reject_spf_fail = true;
    })
    .await;
    let mut client = strict.connect().await;
    let (code, text) = client.send("x@other.example", RCPT, &changed).await;
    assert!(text.starts_with("550 5.7.1 "), "{code}: {text}");
    let (code, text) = client.send("x@bad.example", RCPT, &spf_fail_only).await;
    assert!(text.starts_with("550 5.7.23 "), "{code}: {text}");
    assert!(strict.queued().await.is_empty());
    let (code, text) = client.send("someone@example.org", RCPT, &signed).await;
    assert_eq!(code, 250, "{text}");
    client.quit().await;
    let queued = Queued::new(strict.show(&queued_id(&text)).await.1);
    assert_has(
        &queued.our_results(),
        &["spf=pass", "dkim=pass", "dmarc=pass"],
    );
    assert_eq!(strict.queued().await.len(), 1);
    strict.stop().await;
    dns.stop().await;
}

/// Case 4a: the DNS server is gone. Every check is `temperror`, the message is queued (also
/// under the strictest policy), and the reply comes within `dns_timeout`.
#[tokio::test]
async fn dns_server_down_gives_temperror_and_still_accepts() {
    let (dns, key) = zone().await;
    let dns_addr = dns.addr();
    let signed = signed_message(key);
    let timeout = Duration::from_secs(5);
    let mta = Mta::start(dns_addr, timeout, default_policy).await;
    let strict = Mta::start(dns_addr, timeout, |c| {
        c.smtp_mta.reject_dmarc_reject = true;
        c.smtp_mta.reject_spf_fail = true;
    })
    .await;
    dns.stop().await;

    for service in [&mta, &strict] {
        let mut client = service.connect().await;
        let ((code, text), took) = client
            .send_timed("someone@example.org", RCPT, &signed)
            .await;
        assert_eq!(code, 250, "{text}");
        assert!(
            took < timeout + Duration::from_secs(2),
            "reply after {took:?} with dns_timeout {timeout:?}"
        );
        client.quit().await;
        let queued = Queued::new(service.show(&queued_id(&text)).await.1);
        let header = queued.our_results();
        assert_has(&header, &["spf=temperror", "dkim=temperror"]);
        assert_lacks(&header, &["=pass", "=fail"]);
        assert_eq!(queued.as_sent(), &signed[..]);
    }
    mta.stop().await;
    strict.stop().await;
}

/// Case 4b: a DNS server that never answers. The verification gives up at `dns_timeout`
/// (`temperror`) and the message is queued.
#[tokio::test]
async fn silent_dns_server_times_out_into_temperror() {
    // Bound but never read: queries go unanswered (TCP connects complete in the backlog).
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let addr = udp.local_addr().unwrap();
    let _tcp = std::net::TcpListener::bind(addr).ok();
    let timeout = Duration::from_secs(2);
    let mta = Mta::start(addr, timeout, default_policy).await;

    let mut client = mta.connect().await;
    let msg = message("someone@example.org", BODY);
    let ((code, text), took) = client.send_timed("someone@example.org", RCPT, &msg).await;
    assert_eq!(code, 250, "{text}");
    assert!(
        took < timeout + Duration::from_secs(2),
        "reply after {took:?} with dns_timeout {timeout:?}"
    );
    client.quit().await;
    let header = Queued::new(mta.show(&queued_id(&text)).await.1).our_results();
    assert_has(&header, &["spf=temperror"]);
    assert_lacks(
        &header,
        &["spf=pass", "spf=fail", "dmarc=pass", "dmarc=fail"],
    );
    mta.stop().await;
    drop(udp);
}

/// An incoming `Authentication-Results` header claiming our authserv-id is removed (only our
/// own checks speak for mx.test); one of another server is kept.
#[tokio::test]
async fn forged_results_in_our_name_are_removed() {
    let (dns, _key) = zone().await;
    let mta = Mta::start(dns.addr(), Duration::from_secs(5), default_policy).await;
    let mut forged = format!(
        "Authentication-Results: {HOSTNAME}; spf=pass smtp.mailfrom=x@bad.example;\r\n\
         \tdkim=pass header.d=example.org; dmarc=pass header.from=example.org\r\n\
         Authentication-Results: other.test; dkim=pass header.d=example.org\r\n"
    )
    .into_bytes();
    forged.extend_from_slice(&message("x@example.org", BODY));

    let queued = mta.send_and_fetch("x@bad.example", &forged).await;
    let header = queued.our_results();
    assert_has(&header, &["spf=fail", "dkim=none", "dmarc=fail"]);
    assert_eq!(queued.auth_results("other.test").len(), 1);
    mta.stop().await;
    dns.stop().await;
}

#[test]
fn dot_stuffing_doubles_leading_dots_and_terminates() {
    assert_eq!(
        dot_stuffed(b"A: b\r\n\r\n.x\r\n..y\r\nz."),
        b"A: b\r\n\r\n..x\r\n...y\r\nz.\r\n.\r\n".to_vec()
    );
}
