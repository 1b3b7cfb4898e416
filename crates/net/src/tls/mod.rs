//! A rustls acceptor whose certificate follows the files on disk: a PEM certificate and key
//! (certbot, Kubernetes secrets), or every certificate in Traefik's `acme.json` (dcape), chosen
//! per connection by the name the client asks for (SNI).
//!
//! - [`acme`]: reading Traefik's `acme.json`.

mod acme;

use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::{NetError, Shutdown};

/// Default minimum time between two checks of the files from [`ReloadingTlsAcceptor::acceptor`].
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Interval of the background check started by [`ReloadingTlsAcceptor::spawn_watcher`].
pub const WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// Where the certificate and key come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsConfigSource {
    /// A PEM certificate chain (leaf first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1), e.g. from certbot or a Kubernetes secret.
    PemFiles {
        /// The certificate chain file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
    },
    /// Every certificate Traefik's ACME resolvers keep in `acme.json` (Traefik v2/v3 format).
    /// A client naming a host (SNI) gets the certificate for that name (exact, else a
    /// wildcard); a client naming none (most SMTP clients) gets the one for `default_name`.
    TraefikAcme {
        /// The `acme.json` file (dcape: `var/traefik/acme.json`, mounted read-only).
        file: PathBuf,
        /// Only this resolver's certificates (`None`: every resolver's).
        resolver: Option<String>,
        /// The host name for clients without SNI (the server's host name).
        default_name: String,
    },
}

impl TlsConfigSource {
    /// The source `[tls]` names: `acme_file` when set, else `cert_file` and `key_file`.
    pub fn from_config(tls: &mailstack_config::TlsConfig, hostname: &str) -> TlsConfigSource {
        if tls.acme_file.is_empty() {
            TlsConfigSource::PemFiles {
                cert: PathBuf::from(&tls.cert_file),
                key: PathBuf::from(&tls.key_file),
            }
        } else {
            TlsConfigSource::TraefikAcme {
                file: PathBuf::from(&tls.acme_file),
                resolver: Some(tls.acme_resolver.clone()).filter(|r| !r.is_empty()),
                default_name: hostname.to_string(),
            }
        }
    }

    /// The files whose changes mean a reload.
    fn files(&self) -> Vec<&Path> {
        match self {
            TlsConfigSource::PemFiles { cert, key } => vec![cert, key],
            TlsConfigSource::TraefikAcme { file, .. } => vec![file],
        }
    }

    /// The file named in logs.
    fn main_file(&self) -> &Path {
        match self {
            TlsConfigSource::PemFiles { cert, .. } => cert,
            TlsConfigSource::TraefikAcme { file, .. } => file,
        }
    }

    fn load(&self, provider: &CryptoProvider) -> Result<CertSet, NetError> {
        match self {
            TlsConfigSource::PemFiles { cert, key } => {
                let certified = Arc::new(load(cert, key, provider)?);
                Ok(CertSet {
                    default: certified,
                    named: Vec::new(),
                })
            }
            TlsConfigSource::TraefikAcme {
                file,
                resolver,
                default_name,
            } => acme::load(file, resolver.as_deref(), default_name, provider),
        }
    }
}

/// A TLS acceptor that picks up a renewed certificate without a restart.
///
/// The `ServerConfig` is built once (TLS 1.2 and 1.3 only, aws-lc-rs
/// provider passed explicitly, no client certificates); only the certified
/// key behind it is swapped, so connections in progress keep theirs.
///
/// The files are checked (size, mtime, inode of both) on
/// [`acceptor`](Self::acceptor) at most once per check interval, by
/// [`spawn_watcher`](Self::spawn_watcher) every 5 s, and by
/// [`reload`](Self::reload) on demand. A reload that fails (half-written
/// file, key not matching) keeps the previous certificate and logs one
/// error per distinct file state, so renewing the certificate and the key
/// one after the other works.
#[derive(Clone)]
pub struct ReloadingTlsAcceptor {
    inner: Arc<Inner>,
}

struct Inner {
    source: TlsConfigSource,
    provider: Arc<CryptoProvider>,
    resolver: Arc<CurrentCert>,
    acceptor: TlsAcceptor,
    config: Arc<ServerConfig>,
    check: Mutex<CheckState>,
}

struct CheckState {
    interval: Duration,
    last_check: Instant,
    loaded: FilesStamp,
    failed: Option<FilesStamp>,
}

/// What identifies a version of the source's files.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FilesStamp(Vec<FileStamp>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    dev: u64,
    ino: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        // `metadata` follows symlinks, so a Kubernetes secret update (a
        // symlink swap) changes the inode seen here.
        let meta = fs::metadata(path).ok()?;
        Some(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl FilesStamp {
    fn of(source: &TlsConfigSource) -> Option<FilesStamp> {
        source
            .files()
            .into_iter()
            .map(FileStamp::of)
            .collect::<Option<Vec<_>>>()
            .map(FilesStamp)
    }
}

/// The certificates of one version of the source.
#[derive(Debug)]
struct CertSet {
    /// For clients that name no host, or a host no certificate covers.
    default: Arc<CertifiedKey>,
    /// By host name, lower-case; `*.example.com` covers one label.
    named: Vec<(String, Arc<CertifiedKey>)>,
}

impl CertSet {
    /// Whether a certificate is named for `name` (exactly or by a wildcard).
    fn covers(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let wildcard = name.split_once('.').map(|(_, p)| format!("*.{p}"));
        self.named
            .iter()
            .any(|(n, _)| *n == name || Some(n) == wildcard.as_ref())
    }

    fn for_name(&self, name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = name.map(|n| n.trim_end_matches('.').to_ascii_lowercase()) else {
            return Arc::clone(&self.default);
        };
        let exact = self.named.iter().find(|(n, _)| *n == name);
        let wildcard = || {
            let parent = name.split_once('.')?.1;
            let pattern = format!("*.{parent}");
            self.named.iter().find(|(n, _)| *n == pattern)
        };
        exact
            .or_else(wildcard)
            .map_or_else(|| Arc::clone(&self.default), |(_, c)| Arc::clone(c))
    }
}

/// The certificates handed to handshakes.
struct CurrentCert(RwLock<Arc<CertSet>>);

impl fmt::Debug for CurrentCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurrentCert")
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let set = Arc::clone(&self.0.read().unwrap_or_else(|p| p.into_inner()));
        Some(set.for_name(hello.server_name()))
    }
}

impl fmt::Debug for ReloadingTlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingTlsAcceptor")
            .field("source", &self.inner.source)
            .finish()
    }
}

impl ReloadingTlsAcceptor {
    /// Loads `cert` and `key`; fails with a message naming the file and the
    /// problem (`cannot read certificate /x.pem: No such file or directory`,
    /// `no private key in /x.key`, `key /x.key does not match certificate /x.pem`).
    pub fn new(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, NetError> {
        Self::from_source(&TlsConfigSource::PemFiles {
            cert: cert.as_ref().to_owned(),
            key: key.as_ref().to_owned(),
        })
    }

    /// The certificates `[tls]` names (see [`TlsConfigSource::from_config`]).
    pub fn from_config(
        tls: &mailstack_config::TlsConfig,
        hostname: &str,
    ) -> Result<Self, NetError> {
        Self::from_source(&TlsConfigSource::from_config(tls, hostname))
    }

    /// Loads the certificates of `source`; fails with a message naming the file.
    pub fn from_source(source: &TlsConfigSource) -> Result<Self, NetError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let stamp = FilesStamp::of(source);
        let set = source.load(&provider)?;
        let resolver = Arc::new(CurrentCert(RwLock::new(Arc::new(set))));
        let config = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|source_err| NetError::Tls {
                cert: source.main_file().to_owned(),
                key: source
                    .files()
                    .last()
                    .map_or_else(PathBuf::new, |p| p.to_path_buf()),
                source: source_err,
            })?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        let config = Arc::new(config);
        let loaded = stamp
            .or_else(|| FilesStamp::of(source))
            .ok_or_else(|| NetError::Read {
                what: "certificate",
                path: source.main_file().to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "file vanished while loading",
                ),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                source: source.clone(),
                provider,
                resolver,
                acceptor: TlsAcceptor::from(Arc::clone(&config)),
                config,
                check: Mutex::new(CheckState {
                    interval: DEFAULT_CHECK_INTERVAL,
                    last_check: Instant::now(),
                    loaded,
                    failed: None,
                }),
            }),
        })
    }

    /// Sets the minimum time between two file checks done by
    /// [`acceptor`](Self::acceptor) (default 1 s; `Duration::ZERO` checks on
    /// every call).
    pub fn set_check_interval(&self, interval: Duration) {
        self.lock_check().interval = interval;
    }

    /// The acceptor to use for the next handshake, after checking the files
    /// if the check interval has passed.
    pub fn acceptor(&self) -> TlsAcceptor {
        let due = {
            let mut check = self.lock_check();
            let due = check.last_check.elapsed() >= check.interval;
            if due {
                check.last_check = Instant::now();
            }
            due
        };
        if due {
            // Errors are logged inside; the current certificate stays.
            let _ = self.reload();
        }
        self.inner.acceptor.clone()
    }

    /// The shared server configuration (for callers that drive rustls
    /// themselves).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.inner.config)
    }

    /// The leaf certificate currently served to clients that name no host.
    pub fn current_certificate(&self) -> CertificateDer<'static> {
        self.certificate_for(None)
    }

    /// The leaf certificate served to a client asking for `name` (SNI).
    pub fn certificate_for(&self, name: Option<&str>) -> CertificateDer<'static> {
        let set = Arc::clone(
            &self
                .inner
                .resolver
                .0
                .read()
                .unwrap_or_else(|p| p.into_inner()),
        );
        set.for_name(name).cert[0].clone()
    }

    /// Checks the files now and loads them if they changed. Returns whether
    /// a new certificate is now served; on error the old one stays and the
    /// error is also logged (once per file state).
    pub fn reload(&self) -> Result<bool, NetError> {
        let inner = &self.inner;
        let Some(stamp) = FilesStamp::of(&inner.source) else {
            // A file is missing (mid-rename, or deleted): report it through
            // the same path as a failed load.
            return self.reload_failed(None, inner.source.load(&inner.provider).err());
        };
        if self.lock_check().loaded == stamp {
            return Ok(false);
        }
        match inner.source.load(&inner.provider) {
            Ok(set) => {
                *inner.resolver.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
                let mut check = self.lock_check();
                check.loaded = stamp;
                check.failed = None;
                tracing::info!(cert = %inner.source.main_file().display(), "TLS certificate reloaded");
                Ok(true)
            }
            Err(err) => self.reload_failed(Some(stamp), Some(err)),
        }
    }

    fn reload_failed(
        &self,
        stamp: Option<FilesStamp>,
        err: Option<NetError>,
    ) -> Result<bool, NetError> {
        let err = err.unwrap_or_else(|| NetError::Read {
            what: "certificate",
            path: self.inner.source.main_file().to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "file changed while reading"),
        });
        let mut check = self.lock_check();
        if stamp.is_none() || check.failed.as_ref() != stamp.as_ref() {
            tracing::error!(
                "TLS certificate reload failed, keeping the previous certificate: {err}"
            );
        }
        check.failed = stamp;
        Err(err)
    }

    /// Checks the files every [`WATCH_INTERVAL`] until `shutdown`, so a
    /// renewal is picked up (and a broken one reported) even when no client
    /// connects.
    pub fn spawn_watcher(&self, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(WATCH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.triggered() => return,
                    _ = tick.tick() => { let _ = this.reload(); }
                }
            }
        })
    }

    fn lock_check(&self) -> std::sync::MutexGuard<'_, CheckState> {
        self.inner.check.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads and checks a certificate chain and its key (the certificate first, so that its
/// problems are reported before the key's).
fn load(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, NetError> {
    let cert_pem = fs::read(cert_path).map_err(|source| NetError::Read {
        what: "certificate",
        path: cert_path.to_owned(),
        source,
    })?;
    let chain = parse_chain(&cert_pem, cert_path)?;
    let key_pem = fs::read(key_path).map_err(|source| NetError::Read {
        what: "private key",
        path: key_path.to_owned(),
        source,
    })?;
    let key = parse_key(&key_pem, key_path)?;
    combine(chain, key, cert_path, key_path, provider)
}

/// A certificate chain and key from PEM text; errors name `cert_path` and `key_path` (the
/// files the text came from).
pub(crate) fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, NetError> {
    let chain = parse_chain(cert_pem, cert_path)?;
    let key = parse_key(key_pem, key_path)?;
    combine(chain, key, cert_path, key_path, provider)
}

fn parse_chain(pem_text: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let chain = CertificateDer::pem_slice_iter(pem_text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad_pem(path, err))?;
    if chain.is_empty() {
        return Err(NetError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn parse_key(pem_text: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, NetError> {
    match PrivateKeyDer::from_pem_slice(pem_text) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => Err(NetError::NoPrivateKey {
            path: path.to_owned(),
        }),
        Err(err) => Err(bad_pem(path, err)),
    }
}

fn combine(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, NetError> {
    CertifiedKey::from_der(chain, key, provider).map_err(|source| match source {
        rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => NetError::KeyMismatch {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
        },
        source => NetError::Tls {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
            source,
        },
    })
}

fn bad_pem(path: &Path, err: pem::Error) -> NetError {
    NetError::BadPem {
        path: path.to_owned(),
        detail: err.to_string(),
    }
}
