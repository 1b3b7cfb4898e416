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
        cmd.args(["-h", "sink.test", "-D"])
            .arg(dir.path().join("dump"))
            .args(extra)
            .arg(format!("{}:{}", addr.ip(), addr.port()))
            .arg("64")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("start smtp-sink");
        wait_listening(addr).await;
        SmtpSink { child, addr, dir }
    }

    /// Everything dumped so far (envelope lines `X-Mail-Args:`, `X-Rcpt-Args:` and messages).
    pub fn dump(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dump")).unwrap_or_default()
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
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .unwrap();
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
