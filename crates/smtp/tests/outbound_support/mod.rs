//! Peers for the outbound tests: Postfix's `smtp-sink` as a receiving MTA, our own smtp-mta
//! relay session on a real TCP socket (with or without STARTTLS), a small PKI (a CA and leaf
//! certificates for chosen names), and free-port probing on 127.0.0.x.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailstack_directory::ExpandLimits;
use mailstack_directory::static_file::{StaticDirectory, edit_users_file};
use mailstack_net::{ReloadingTlsAcceptor, Shutdown};
use mailstack_queue::{DeliveryRequest, Queue, QueueId, QueueOptions, RetryPolicy};
use mailstack_smtp::inbound::{Inbound, InboundPolicy};
use mailstack_smtp::session::{Mode, SessionConfig, run_session};
use mailstack_telemetry::Metrics;

/// Path of Postfix's test server.
pub const SMTP_SINK: &str = "/usr/sbin/smtp-sink";

/// A random loopback address 127.0.0.2 – 127.0.0.254 (so parallel tests rarely share one).
pub fn loopback() -> Ipv4Addr {
    Ipv4Addr::new(127, 0, fastrand_u8(2, 254), fastrand_u8(1, 254))
}

fn fastrand_u8(lo: u8, hi: u8) -> u8 {
    // Time and counter based: good enough to spread tests over addresses.
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        ^ (N.fetch_add(1, Ordering::Relaxed) * 0x9E37_79B9)
        ^ u64::from(std::process::id());
    lo + (seed % u64::from(hi - lo + 1)) as u8
}

/// A port free on every address in `ips` (probing: bind each, keep none).
pub fn free_port(ips: &[IpAddr]) -> u16 {
    for _ in 0..200 {
        let first = std::net::TcpListener::bind(SocketAddr::new(ips[0], 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        let mut held = vec![first];
        let mut ok = true;
        for ip in &ips[1..] {
            match std::net::TcpListener::bind(SocketAddr::new(*ip, port)) {
                Ok(l) => held.push(l),
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            return port;
        }
    }
    panic!("no common free port on {ips:?}");
}

/// Wait until `addr` accepts connections.
pub async fn wait_listening(addr: SocketAddr) {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{addr} never started listening"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A running `smtp-sink` writing every transaction to a dump file.
pub struct SmtpSink {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Start `smtp-sink` on `addr` with extra options (`-r RCPT`, `-f DATA`, ...).
    pub async fn start(addr: SocketAddr, extra: &[&str]) -> SmtpSink {
        assert!(
            Path::new(SMTP_SINK).exists(),
            "{SMTP_SINK} is missing: install the postfix package (scripts/test does)"
        );
        let dir = tempfile::tempdir().unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let mut cmd = Command::new(SMTP_SINK);
        if nix_is_root() {
            cmd.args(["-u", "nobody"]);
        }
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        cmd.args(["-h", "sink.test", "-D"])
            .arg(dir.path().join("dump"))
            .args(extra)
            .arg(format!("{}:{}", addr.ip(), addr.port()))
            .arg("64")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = cmd.spawn().expect("start smtp-sink");
        wait_listening(addr).await;
        SmtpSink { child, addr, dir }
    }

    /// Everything dumped so far (envelope lines `X-Mail-Args:`, `X-Rcpt-Args:` and messages).
    pub fn dump(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dump")).unwrap_or_default()
    }

    /// What smtp-sink printed on stderr (the commands it received, with `-v`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Wait until the dump contains `needle` (smtp-sink writes it after the final reply).
    pub async fn wait_dump(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let d = self.dump();
            if d.contains(needle) {
                return d;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "smtp-sink dump never contained {needle:?}: {d}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nix_is_root() -> bool {
    // The `id -u` of the test process, without a libc dependency.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A CA and the files of leaf certificates it signs.
pub struct Pki {
    pub dir: tempfile::TempDir,
    ca_params: rcgen::CertificateParams,
    ca_key: rcgen::KeyPair,
    /// The CA certificate (PEM file), to trust in clients.
    pub ca_file: PathBuf,
    pub ca_der: Vec<u8>,
}

/// One leaf certificate: files for a server and the DER for TLSA records.
pub struct Leaf {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub der: Vec<u8>,
    /// DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mailstack test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        Pki {
            ca_der: ca.der().to_vec(),
            dir,
            ca_params,
            ca_key,
            ca_file,
        }
    }

    /// A leaf for `names`, signed by the CA; the cert file holds leaf + CA.
    pub fn leaf(&self, file: &str, names: &[&str]) -> Leaf {
        let params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let issuer = rcgen::Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let cert_file = self.dir.path().join(format!("{file}.crt"));
        let key_file = self.dir.path().join(format!("{file}.key"));
        let ca_pem = std::fs::read_to_string(&self.ca_file).unwrap();
        std::fs::write(&cert_file, format!("{}{}", cert.pem(), ca_pem)).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        Leaf {
            cert_file,
            key_file,
            der: cert.der().to_vec(),
            spki: rcgen::PublicKeyData::subject_public_key_info(&key),
        }
    }
}

/// Our own smtp-mta relay session (the real [`Inbound`] with `relay: true`, a static directory
/// with `alice@example.com`, a real queue without scheduler) on a TCP listener.
pub struct RelayMta {
    pub addr: SocketAddr,
    pub queue_dir: PathBuf,
    pub shutdown: Shutdown,
    _tmp: tempfile::TempDir,
}

impl RelayMta {
    /// Start on `ip`:free port, with STARTTLS when `tls` is given (cert, key).
    pub async fn start(ip: IpAddr, tls: Option<(&Path, &Path)>) -> RelayMta {
        RelayMta::start_at(SocketAddr::new(ip, 0), tls).await
    }

    /// Start on `addr`, with STARTTLS when `tls` is given (cert, key).
    pub async fn start_at(addr: SocketAddr, tls: Option<(&Path, &Path)>) -> RelayMta {
        let tmp = tempfile::tempdir().unwrap();
        let users = tmp.path().join("users.toml");
        edit_users_file(&users, |f| {
            f.add_user("alice@example.com", super_hash(), None)
        })
        .unwrap();
        let directory = Arc::new(StaticDirectory::open(users, "+".to_string()).unwrap());
        let queue_dir = tmp.path().join("queue");
        let queue = Queue::open(QueueOptions {
            dir: queue_dir.clone(),
            fsync: false,
            retry: RetryPolicy::default(),
            max_concurrent_deliveries: 1,
            hostname: "relay.test".to_string(),
        })
        .await
        .unwrap();
        let handler = Arc::new(Inbound::new(
            directory,
            queue,
            None,
            "relay.test".to_string(),
            InboundPolicy {
                relay: true,
                max_received_headers: 50,
                reject_dmarc_reject: false,
                reject_spf_fail: false,
            },
            ExpandLimits::default(),
            &Metrics::new(),
        ));
        let cfg = Arc::new(SessionConfig {
            max_message_size: 1_000_000,
            tls: tls.map(|(c, k)| ReloadingTlsAcceptor::new(c, k).unwrap()),
            ..SessionConfig::new(Mode::Relay, "relay.test")
        });
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    r = listener.accept() => r.unwrap(),
                    () = stop.triggered() => return,
                };
                tokio::spawn(run_session(
                    mailstack_net::Connection::Tcp(stream),
                    peer.to_string(),
                    cfg.clone(),
                    handler.clone(),
                    stop.clone(),
                ));
            }
        });
        RelayMta {
            addr,
            queue_dir,
            shutdown,
            _tmp: tmp,
        }
    }

    /// The messages queued so far: (envelope entry, bytes).
    pub fn queued(&self) -> Vec<(mailstack_queue::QueueEntry, Vec<u8>)> {
        mailstack_queue::admin::list(&self.queue_dir)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| mailstack_queue::admin::show(&self.queue_dir, e.id.as_str()).ok())
            .collect()
    }
}

fn super_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| mailstack_directory::password::hash_password("secret").expect("hash"))
}

/// A delivery request for a message file written into `dir`.
pub fn request(dir: &Path, message: &[u8], sender: &str, recipients: &[&str]) -> DeliveryRequest {
    let path = dir.join(format!("message-{}", QueueId::generate()));
    std::fs::write(&path, message).unwrap();
    DeliveryRequest {
        queue_id: QueueId::generate(),
        sender: sender.to_string(),
        recipients: recipients.iter().map(|r| r.to_string()).collect(),
        message_path: path,
        size: message.len() as u64,
        env_id: None,
        smtputf8: false,
        ret_full: false,
        recipient_dsn: Vec::new(),
    }
}

/// A short test message.
pub fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: sender@example.com\r\nTo: someone@example.net\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.com>\r\n\r\nHello.\r\n.leading dot\r\n"
    )
    .into_bytes()
}

/// A TCP proxy in front of a server that counts connections (total and most at once).
pub struct CountingProxy {
    pub addr: SocketAddr,
    pub total: Arc<std::sync::atomic::AtomicUsize>,
    pub max_active: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    pub async fn start(addr: SocketAddr, backend: SocketAddr) -> CountingProxy {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let total = Arc::new(AtomicUsize::new(0));
        let max_active = Arc::new(AtomicUsize::new(0));
        let active = Arc::new(AtomicUsize::new(0));
        let (t, m) = (total.clone(), max_active.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                t.fetch_add(1, Ordering::SeqCst);
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                let active = active.clone();
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                    active.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        CountingProxy {
            addr,
            total,
            max_active,
            task,
        }
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTPS server answering every request with `status` and `body` (an MTA-STS policy host).
pub struct PolicyServer {
    pub requests: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl PolicyServer {
    pub async fn start(addr: SocketAddr, leaf: &Leaf, status: &str, body: &str) -> PolicyServer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let acceptor = ReloadingTlsAcceptor::new(&leaf.cert_file, &leaf.key_file)
            .unwrap()
            .acceptor();
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let response = response.clone();
                let count = count.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&req);
                    if head.starts_with("GET /.well-known/mta-sts.txt HTTP/1.1\r\n") {
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        PolicyServer { requests, task }
    }
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Outbound options for tests: the test DNS server, `port` for every MX, short timeouts.
pub fn outbound_options(dns: SocketAddr, port: u16) -> mailstack_smtp::outbound::OutboundOptions {
    mailstack_smtp::outbound::OutboundOptions {
        port,
        connect_timeout: Duration::from_secs(3),
        timeout: Duration::from_secs(10),
        resolver: Some(dns),
        dns_timeout: Duration::from_secs(3),
        ..mailstack_smtp::outbound::OutboundOptions::new("mta.example.com")
    }
}

/// SHA-256 of `data` (TLSA matching type 1).
pub fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// smtp-mta's delivery side in-process: a real queue with its scheduler, the
/// [`RouterTransport`] (local `example.com` over LMTP to the real `LocalDelivery` of
/// [`crate::common::Local`], other domains through a [`RemoteTransport`]).
pub struct Mta {
    pub local: crate::common::Local,
    pub queue: Queue,
    pub remote: Arc<mailstack_smtp::outbound::RemoteTransport>,
    pub shutdown: Shutdown,
    _tmp: tempfile::TempDir,
}

impl Mta {
    pub async fn start(opts: mailstack_smtp::outbound::OutboundOptions) -> Mta {
        use mailstack_smtp::client::LmtpTransport;
        use mailstack_smtp::outbound::{RemoteTransport, RouterTransport};
        let local = crate::common::Local::new(|_| Ok(()));
        let shutdown = Shutdown::new();
        let lmtp = serve_lmtp(&local, shutdown.clone()).await;
        let directory =
            Arc::new(StaticDirectory::open(local.users_file.clone(), "+".to_string()).unwrap());
        let remote = Arc::new(RemoteTransport::new(opts).unwrap());
        let router = Arc::new(RouterTransport::new(
            directory,
            Arc::new(LmtpTransport::new(
                lmtp,
                "mta.example.com",
                Duration::from_secs(10),
            )),
            remote.clone(),
        ));
        let tmp = tempfile::tempdir().unwrap();
        let queue = Queue::open(QueueOptions {
            dir: tmp.path().join("queue"),
            fsync: false,
            retry: RetryPolicy {
                // Long: tests retry with `queue.flush()`.
                min_backoff: Duration::from_secs(600),
                max_backoff: Duration::from_secs(600),
                max_lifetime: Duration::from_secs(86400),
                warn_after: None,
            },
            max_concurrent_deliveries: 8,
            hostname: "mta.example.com".to_string(),
        })
        .await
        .unwrap();
        queue.start(router, shutdown.clone());
        Mta {
            local,
            queue,
            remote,
            shutdown,
            _tmp: tmp,
        }
    }

    /// Queue a message as smtp-mta's listeners would.
    pub async fn send(&self, from: &str, to: &[&str], message: &[u8]) -> QueueId {
        let env = mailstack_queue::Envelope {
            sender: from.to_string(),
            recipients: to
                .iter()
                .map(|r| mailstack_queue::RecipientSpec::new(*r))
                .collect(),
            env_id: None,
            ret_full: false,
            smtputf8: false,
            received_from: "test".to_string(),
        };
        self.queue.enqueue(env, message).await.unwrap()
    }

    /// The messages still queued.
    pub fn entries(&self) -> Vec<mailstack_queue::QueueEntry> {
        mailstack_queue::admin::list(self.queue.dir()).unwrap_or_default()
    }

    /// The queue entry `id`, if still queued.
    pub fn entry(&self, id: &QueueId) -> Option<mailstack_queue::QueueEntry> {
        self.entries().into_iter().find(|e| e.id == *id)
    }

    /// Poll `cond` every 20 ms for up to 20 s.
    pub async fn wait(&self, what: &str, cond: impl Fn(&Mta) -> bool) {
        let start = Instant::now();
        while !cond(self) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting until {what}; queue: {:?}",
                self.entries()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until message `id` was tried at least `n` times (and is still queued).
    pub async fn wait_attempts(&self, id: &QueueId, n: u32) -> mailstack_queue::QueueEntry {
        self.wait(&format!("{id} was tried {n} times"), |m| {
            m.entry(id).is_some_and(|e| e.attempts >= n)
        })
        .await;
        self.entry(id).unwrap()
    }

    /// Messages in alice's inbox (`new/`).
    pub fn alice_inbox(&self) -> Vec<String> {
        self.local
            .inbox_new("alice@example.com")
            .into_iter()
            .map(|b| String::from_utf8_lossy(&b).to_string())
            .collect()
    }
}

impl Drop for Mta {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// LMTP with `local`'s `LocalDelivery` on a fresh TCP port of 127.0.0.1.
async fn serve_lmtp(local: &crate::common::Local, shutdown: Shutdown) -> mailstack_net::ListenAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = local.handler.clone();
    let cfg = Arc::new(crate::common::config());
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => r.unwrap(),
                () = shutdown.triggered() => return,
            };
            tokio::spawn(run_session(
                mailstack_net::Connection::Tcp(stream),
                peer.to_string(),
                cfg.clone(),
                handler.clone(),
                shutdown.clone(),
            ));
        }
    });
    mailstack_net::ListenAddr::Tcp(addr)
}
