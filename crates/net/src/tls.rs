//! A rustls acceptor whose certificate follows the files on disk.

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
    cert_path: PathBuf,
    key_path: PathBuf,
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

/// What identifies a version of the two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FilesStamp {
    cert: FileStamp,
    key: FileStamp,
}

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
    fn of(cert: &Path, key: &Path) -> Option<FilesStamp> {
        Some(FilesStamp {
            cert: FileStamp::of(cert)?,
            key: FileStamp::of(key)?,
        })
    }
}

/// The certificate handed to every handshake.
struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl fmt::Debug for CurrentCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurrentCert")
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.0.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

impl fmt::Debug for ReloadingTlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingTlsAcceptor")
            .field("cert", &self.inner.cert_path)
            .field("key", &self.inner.key_path)
            .finish()
    }
}

impl ReloadingTlsAcceptor {
    /// Loads `cert` and `key`; fails with a message naming the file and the
    /// problem (`cannot read certificate /x.pem: No such file or directory`,
    /// `no private key in /x.key`, `key /x.key does not match certificate /x.pem`).
    pub fn new(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, NetError> {
        let (cert_path, key_path) = (cert.as_ref().to_owned(), key.as_ref().to_owned());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let stamp = FilesStamp::of(&cert_path, &key_path);
        let certified = load(&cert_path, &key_path, &provider)?;
        let resolver = Arc::new(CurrentCert(RwLock::new(Arc::new(certified))));
        let config = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|source| NetError::Tls {
                cert: cert_path.clone(),
                key: key_path.clone(),
                source,
            })?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        let config = Arc::new(config);
        let loaded = stamp
            .or_else(|| FilesStamp::of(&cert_path, &key_path))
            .ok_or_else(|| NetError::Read {
                what: "certificate",
                path: cert_path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "file vanished while loading",
                ),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                cert_path,
                key_path,
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

    /// Same as [`new`](Self::new), from a configuration value.
    pub fn from_source(source: &TlsConfigSource) -> Result<Self, NetError> {
        match source {
            TlsConfigSource::PemFiles { cert, key } => Self::new(cert, key),
        }
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

    /// The leaf certificate currently served.
    pub fn current_certificate(&self) -> CertificateDer<'static> {
        let current = self
            .inner
            .resolver
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner());
        current.cert[0].clone()
    }

    /// Checks the files now and loads them if they changed. Returns whether
    /// a new certificate is now served; on error the old one stays and the
    /// error is also logged (once per file state).
    pub fn reload(&self) -> Result<bool, NetError> {
        let inner = &self.inner;
        let Some(stamp) = FilesStamp::of(&inner.cert_path, &inner.key_path) else {
            // A file is missing (mid-rename, or deleted): report it through
            // the same path as a failed load.
            return self.reload_failed(
                None,
                load(&inner.cert_path, &inner.key_path, &inner.provider).err(),
            );
        };
        if self.lock_check().loaded == stamp {
            return Ok(false);
        }
        match load(&inner.cert_path, &inner.key_path, &inner.provider) {
            Ok(certified) => {
                *inner.resolver.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(certified);
                let mut check = self.lock_check();
                check.loaded = stamp;
                check.failed = None;
                tracing::info!(cert = %inner.cert_path.display(), "TLS certificate reloaded");
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
            path: self.inner.cert_path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "file changed while reading"),
        });
        let mut check = self.lock_check();
        if stamp.is_none() || check.failed != stamp {
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

/// Reads and checks a certificate chain and its key.
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
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad_pem(cert_path, err))?;
    if chain.is_empty() {
        return Err(NetError::NoCertificate {
            path: cert_path.to_owned(),
        });
    }
    let key_pem = fs::read(key_path).map_err(|source| NetError::Read {
        what: "private key",
        path: key_path.to_owned(),
        source,
    })?;
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => {
            return Err(NetError::NoPrivateKey {
                path: key_path.to_owned(),
            });
        }
        Err(err) => return Err(bad_pem(key_path, err)),
    };
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
