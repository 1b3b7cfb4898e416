//! DKIM signing of outgoing mail (RFC 6376; Ed25519 keys per RFC 8463) and the key files behind
//! it, shared by `submission` (signs) and `mailctl dkim` / `mailctl dns` (generate, publish).
//!
//! ```text
//!  <dkim_dir>/<domain>/selector         active selector(s): `s202611` (or `s202611 e202611`)
//!  <dkim_dir>/<domain>/<selector>.key   PKCS#8 PEM private key, RSA-2048 or Ed25519, mode 0600
//! ```
//!
//! [`DkimSigner::sign`] signs a message for its `From:` domain with each active key (usually
//! one; an RSA and an Ed25519 key side by side as RFC 8463 suggests, so that receivers which do
//! not know Ed25519 still find a signature they verify): `a=rsa-sha256` or `a=ed25519-sha256`,
//! `c=relaxed/relaxed`, `t=` set, no `x=` and no `l=`.
//! Signed header fields ([`SIGNED_HEADERS`]) are those of the list that the message carries
//! (all their instances), and `From` once more than present (over-signed, so that a second
//! `From:` cannot be added without breaking the signature).
//!
//! Keys are read on first use and re-read when the selector file's text or the key file
//! (inode, size, modification or change time) changes; a domain's files are looked at no more
//! than once per [`RECHECK_INTERVAL`]. Results, errors included, are cached for that long, so
//! a broken key costs one read per interval, not one per message.
//!
//! Key files may also be PKCS#1 (`BEGIN RSA PRIVATE KEY`, as OpenDKIM's `opendkim-genkey`
//! writes them), so existing keys can be copied in unchanged.
//!
//! Not done here: choosing the domain (the caller passes the `From:` domain), signing for a
//! parent domain, ARC sealing.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use mail_auth::common::crypto::{Algorithm, DkimKey, Ed25519Key, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::{HeaderWriter, Writable};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// Name of the file in a domain's directory that names the active selector(s), separated by
/// white space (at most [`MAX_ACTIVE`]).
pub const SELECTOR_FILE: &str = "selector";
/// Suffix of key files: `<selector>.key`.
pub const KEY_SUFFIX: &str = ".key";
/// A domain's files are looked at no more often than this.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(10);
/// Header fields signed when present (every instance); `From` is also over-signed.
pub const SIGNED_HEADERS: [&str; 12] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];
/// Most keys that sign at once for one domain.
pub const MAX_ACTIVE: usize = 4;
/// Domains remembered at most; the cache starts over beyond (only local domains are signed).
const MAX_CACHED_DOMAINS: usize = 10_000;
/// Longest selector file read (a selector is one DNS name).
const MAX_SELECTOR_FILE: u64 = 1024;
/// Longest key file read (an RSA-8192 PEM is about 6.5 KiB).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Why a domain's key cannot be used. Every case names the file; none contains key material.
///
/// All of them are local configuration problems: the caller should not send the message
/// unsigned but answer with a temporary failure (`451 4.3.5`) until the administrator fixes
/// the file.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DkimError {
    /// A file exists but could not be read (permissions, I/O error, too large).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error of the read.
        #[source]
        source: Arc<io::Error>,
    },
    /// The selector file holds something that is not a selector (one DNS name of letters,
    /// digits and hyphens), or more than [`MAX_ACTIVE`] of them.
    #[error("{}: {selector:?} is not a valid DKIM selector", path.display())]
    BadSelector {
        /// The selector file.
        path: PathBuf,
        /// What it holds (trimmed, cut to 64 characters).
        selector: String,
    },
    /// The selector file names a selector whose key file does not exist.
    #[error(
        "{}: selector {selector:?} is active but its key {} does not exist",
        path.display(),
        key.display()
    )]
    MissingKey {
        /// The selector file.
        path: PathBuf,
        /// The selector it names.
        selector: String,
        /// The key file that is missing.
        key: PathBuf,
    },
    /// The key file holds no PEM private key, or one that is neither RSA nor Ed25519.
    #[error("{}: {reason}", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Signing failed although the key loaded (should not happen; reported, not hidden).
    #[error("DKIM signing with {} failed: {reason}", path.display())]
    Sign {
        /// The key file used.
        path: PathBuf,
        /// The library's message.
        reason: String,
    },
    /// Key generation failed in the crypto library.
    #[error("cannot generate a DKIM key: {0}")]
    Generate(String),
}

/// The two key types DKIM defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA with SHA-256 (`k=rsa`, `a=rsa-sha256`); generated with 2048 bits.
    Rsa,
    /// Ed25519 with SHA-256 (`k=ed25519`, `a=ed25519-sha256`, RFC 8463).
    Ed25519,
}

impl KeyAlgorithm {
    /// The `k=` tag value of the DNS record.
    pub fn tag(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa => "rsa",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// A private key read from a key file, with what DNS needs to publish it.
pub struct KeyFile {
    algorithm: KeyAlgorithm,
    /// `p=`: SubjectPublicKeyInfo DER for RSA, the raw 32-byte key for Ed25519 (RFC 8463).
    public: Vec<u8>,
    /// RSA modulus size in bits (0 for Ed25519).
    bits: usize,
    key: DkimKey,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("algorithm", &self.algorithm)
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

impl KeyFile {
    /// Reads and parses a key file (PKCS#8 or PKCS#1 PEM).
    pub fn read(path: &Path) -> Result<KeyFile, DkimError> {
        let pem = read_limited(path, MAX_KEY_FILE)?;
        KeyFile::from_pem(&pem).map_err(|reason| DkimError::BadKey {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses a PEM private key; the error says what is wrong (without key material).
    pub fn from_pem(pem: &[u8]) -> Result<KeyFile, String> {
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|_| "no PEM private key (PKCS#8 or PKCS#1) in the file".to_string())?;
        match der {
            PrivateKeyDer::Pkcs1(pkcs1) => rsa_key(PrivateKeyDer::Pkcs1(pkcs1)),
            PrivateKeyDer::Pkcs8(pkcs8) => {
                let bytes = pkcs8.secret_pkcs8_der();
                if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes) {
                    let key = Ed25519Key::from_pkcs8_maybe_unchecked_der(bytes)
                        .map_err(|e| format!("Ed25519 key rejected: {e}"))?;
                    return Ok(KeyFile {
                        algorithm: KeyAlgorithm::Ed25519,
                        public: pair.public_key().as_ref().to_vec(),
                        bits: 0,
                        key: DkimKey::Ed25519(key),
                    });
                }
                rsa_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                    bytes.to_vec(),
                )))
            }
            _ => Err("an EC (SEC1) key: DKIM uses RSA or Ed25519".to_string()),
        }
    }

    /// RSA or Ed25519.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The RSA modulus size in bits; 256 for Ed25519.
    pub fn bits(&self) -> usize {
        match self.algorithm {
            KeyAlgorithm::Rsa => self.bits,
            KeyAlgorithm::Ed25519 => 256,
        }
    }

    /// Whether a published TXT record (its strings joined) carries this key: same `p=` (white
    /// space ignored) and `k=` (`rsa` when absent), and not revoked (empty `p=`).
    pub fn matches_record(&self, record: &str) -> bool {
        let mut k = "rsa".to_string();
        let mut p = None;
        for tag in record.split(';') {
            let Some((name, value)) = tag.split_once('=') else {
                continue;
            };
            let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            match name.trim() {
                "k" => k = value.to_ascii_lowercase(),
                "p" => p = Some(value),
                _ => {}
            }
        }
        k == self.algorithm.tag() && p.is_some_and(|p| p == BASE64.encode(&self.public))
    }

    /// The TXT record text to publish at `<selector>._domainkey.<domain>`:
    /// `v=DKIM1; k=rsa; p=<base64>`.
    pub fn dns_record(&self) -> String {
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm.tag(),
            BASE64.encode(&self.public)
        )
    }
}

fn rsa_key(der: PrivateKeyDer<'_>) -> Result<KeyFile, String> {
    let pair = match &der {
        PrivateKeyDer::Pkcs1(k) => aws_lc_rs::rsa::KeyPair::from_der(k.secret_pkcs1_der()),
        PrivateKeyDer::Pkcs8(k) => aws_lc_rs::rsa::KeyPair::from_pkcs8(k.secret_pkcs8_der()),
        _ => return Err("unsupported key format".to_string()),
    }
    .map_err(|e| format!("neither an Ed25519 nor a usable RSA key: {e}"))?;
    let bits = pair.public_modulus_len() * 8;
    if bits < 1024 {
        return Err(format!(
            "RSA key of {bits} bits: receivers ignore DKIM keys below 1024 bits"
        ));
    }
    let public = pair
        .public_key()
        .as_der()
        .map_err(|_| "cannot encode the RSA public key".to_string())?
        .as_ref()
        .to_vec();
    let key = RsaKey::<Sha256>::from_key_der(der).map_err(|e| format!("RSA key rejected: {e}"))?;
    Ok(KeyFile {
        algorithm: KeyAlgorithm::Rsa,
        public,
        bits,
        key: DkimKey::Rsa(key),
    })
}

/// A freshly generated key: the PEM to store and its parsed form.
pub struct GeneratedKey {
    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), the content of the key file. Secret.
    pub pem: String,
    /// The same key, parsed (for its DNS record).
    pub key: KeyFile,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Generates a key: RSA-2048 or Ed25519, with aws-lc-rs.
pub fn generate_key(algorithm: KeyAlgorithm) -> Result<GeneratedKey, DkimError> {
    let generate = |e: &dyn fmt::Display| DkimError::Generate(e.to_string());
    let der: Vec<u8> = match algorithm {
        KeyAlgorithm::Rsa => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|e| generate(&e))?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> =
                pair.as_der().map_err(|e| generate(&e))?;
            der.as_ref().to_vec()
        }
        KeyAlgorithm::Ed25519 => {
            let pair = Ed25519KeyPair::generate().map_err(|e| generate(&e))?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> =
                pair.as_der().map_err(|e| generate(&e))?;
            der.as_ref().to_vec()
        }
    };
    let pem = pem_encode("PRIVATE KEY", &der);
    let key = KeyFile::from_pem(pem.as_bytes()).map_err(DkimError::Generate)?;
    Ok(GeneratedKey { pem, key })
}

/// RFC 7468 textual encoding: base64 in lines of 64 characters.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Whether `domain` may name a key directory: a DNS name of ASCII letters, digits, `-` and
/// `_`, labels of 1–63 characters, at most 253 in all (so no `/`, `..`, or leading dot).
/// Internationalized domains are given in their A-label form (`xn--…`).
pub fn is_valid_domain(domain: &str) -> bool {
    domain.len() <= 253
        && !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Whether `selector` is a valid DKIM selector (RFC 6376 section 3.1: dot-separated labels of
/// letters, digits and inner hyphens) that can name a key file.
pub fn is_valid_selector(selector: &str) -> bool {
    selector.len() <= 63
        && !selector.is_empty()
        && selector.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `<dir>/<domain>/<selector>.key`.
pub fn key_path(dir: &Path, domain: &str, selector: &str) -> PathBuf {
    dir.join(domain).join(format!("{selector}{KEY_SUFFIX}"))
}

/// `<dir>/<domain>/selector`.
pub fn selector_path(dir: &Path, domain: &str) -> PathBuf {
    dir.join(domain).join(SELECTOR_FILE)
}

/// The active selectors of `domain`, in the order of the selector file; empty when the file
/// does not exist or is empty.
pub fn active_selectors(dir: &Path, domain: &str) -> Result<Vec<String>, DkimError> {
    let path = selector_path(dir, domain);
    let text = match read_limited(&path, MAX_SELECTOR_FILE) {
        Ok(text) => text,
        Err(DkimError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let text = String::from_utf8_lossy(&text);
    let mut selectors: Vec<String> = Vec::new();
    for selector in text.split_whitespace() {
        if !is_valid_selector(selector) || selectors.len() == MAX_ACTIVE {
            return Err(DkimError::BadSelector {
                path,
                selector: selector.chars().take(64).collect(),
            });
        }
        if !selectors.iter().any(|s| s == selector) {
            selectors.push(selector.to_string());
        }
    }
    Ok(selectors)
}

/// The selectors that have a key file under `<dir>/<domain>/`, sorted; empty when the
/// directory does not exist.
pub fn list_selectors(dir: &Path, domain: &str) -> Result<Vec<String>, DkimError> {
    let domain_dir = dir.join(domain);
    let entries = match std::fs::read_dir(&domain_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_error(&domain_dir, e)),
    };
    let mut selectors = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| read_error(&domain_dir, e))?;
        let name = entry.file_name();
        let Some(selector) = name.to_str().and_then(|n| n.strip_suffix(KEY_SUFFIX)) else {
            continue;
        };
        if is_valid_selector(selector) {
            selectors.push(selector.to_string());
        }
    }
    selectors.sort();
    Ok(selectors)
}

fn read_error(path: &Path, e: io::Error) -> DkimError {
    DkimError::Read {
        path: path.to_path_buf(),
        source: Arc::new(e),
    }
}

/// Reads a whole file of at most `limit` bytes.
fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, DkimError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    let mut data = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut data)
        .map_err(|e| read_error(path, e))?;
    if data.len() as u64 > limit {
        return Err(read_error(
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("larger than {limit} bytes"),
            ),
        ));
    }
    Ok(data)
}

/// Signs outgoing messages with each domain's active key (see the module docs for the files).
///
/// Cheap to clone (an `Arc` inside); share one between all sessions. [`DkimSigner::sign`] is
/// synchronous: it reads files at most once per [`RECHECK_INTERVAL`] per domain and signs in
/// about a millisecond (RSA-2048), so calling it from an async task is acceptable.
#[derive(Clone)]
pub struct DkimSigner {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    recheck: Duration,
    domains: Mutex<HashMap<String, Cached>>,
}

/// What was found for one domain, and when it was last looked at.
#[derive(Clone)]
struct Cached {
    checked: Instant,
    stamp: Stamp,
    state: Result<Active, DkimError>,
}

/// The keys that sign for a domain, in order; empty: none.
type Active = Arc<Vec<ActiveKey>>;

/// What identifies a version of a domain's files: the active selectors and their key files'
/// identities. A change of either means reloading. `selectors: None` matches nothing (the
/// selector file could not be read).
#[derive(Clone, PartialEq, Eq)]
struct Stamp {
    selectors: Option<Vec<String>>,
    keys: Vec<Option<FileId>>,
}

#[derive(Clone, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
    /// Inode change time: a `chmod`/`chown` that makes an unreadable key readable counts.
    changed: (i64, i64),
}

struct ActiveKey {
    selector: String,
    path: PathBuf,
    key: Arc<KeyFile>,
}

impl fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimSigner")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

impl DkimSigner {
    /// Keys under `dir`; nothing is read yet. Keys are loaded on first use and reloaded when
    /// a domain's key or selector file changes (stat at most once per 10 s per domain).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DkimSigner::with_recheck_interval(dir, RECHECK_INTERVAL)
    }

    /// Like [`DkimSigner::new`] with another interval between looks at a domain's files
    /// (`Duration::ZERO`: every message).
    pub fn with_recheck_interval(dir: impl Into<PathBuf>, recheck: Duration) -> Self {
        DkimSigner {
            inner: Arc::new(Inner {
                dir: dir.into(),
                recheck,
                domains: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The key directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Sign `message` (whole message, CRLF line ends) for `domain` (the From: domain,
    /// lower-case): Ok(Some(header)) = the `DKIM-Signature: ...\r\n` field (folded, CRLF
    /// terminated) to prepend; Ok(None) = no key for this domain; Err = key present but
    /// unusable (bad PEM, unreadable, selector file names a missing key).
    ///
    /// A domain that cannot name a directory (see [`is_valid_domain`]) has no key: `Ok(None)`.
    /// With several active selectors, the string holds one field per key, in the order of the
    /// selector file.
    pub fn sign(&self, domain: &str, message: &[u8]) -> Result<Option<String>, DkimError> {
        let domain = domain.to_ascii_lowercase();
        if !is_valid_domain(&domain) {
            return Ok(None);
        }
        let active = self.active(&domain)?;
        if active.is_empty() {
            return Ok(None);
        }
        let headers = headers_to_sign(message);
        let mut fields = String::new();
        for key in active.iter() {
            let signer = mail_auth::dkim::DkimSigner::from_key(SharedKey(Arc::clone(&key.key)))
                .domain(domain.as_str())
                .selector(key.selector.as_str())
                .headers(headers.iter().copied());
            let signature = signer.sign(message).map_err(|e| DkimError::Sign {
                path: key.path.clone(),
                reason: e.to_string(),
            })?;
            fields.push_str(&signature.to_header());
        }
        Ok(Some(fields))
    }

    /// The active keys of `domain`, from the cache or the files.
    fn active(&self, domain: &str) -> Result<Active, DkimError> {
        let now = Instant::now();
        let previous = self.inner.domains.lock().unwrap().get(domain).cloned();
        if let Some(cached) = &previous
            && now.duration_since(cached.checked) < self.inner.recheck
        {
            return cached.state.clone();
        }
        // The files are looked at without the lock held; two racing lookups both reload.
        let (stamp, selectors) = match self.stamp(domain) {
            Ok(found) => found,
            Err(e) => {
                self.remember(domain, now, None, Err(e.clone()));
                return Err(e);
            }
        };
        let state = match previous {
            Some(cached) if cached.stamp == stamp => cached.state,
            _ => self.load(domain, selectors),
        };
        self.remember(domain, now, Some(stamp), state.clone());
        state
    }

    /// The stamp of the domain's files and the active selectors.
    fn stamp(&self, domain: &str) -> Result<(Stamp, Vec<String>), DkimError> {
        let dir = &self.inner.dir;
        let selectors = active_selectors(dir, domain)?;
        let mut keys = Vec::with_capacity(selectors.len());
        for selector in &selectors {
            let path = key_path(dir, domain, selector);
            keys.push(match std::fs::metadata(&path) {
                Ok(meta) => {
                    use std::os::unix::fs::MetadataExt;
                    Some(FileId {
                        dev: meta.dev(),
                        ino: meta.ino(),
                        len: meta.len(),
                        modified: meta.modified().ok(),
                        changed: (meta.ctime(), meta.ctime_nsec()),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(read_error(&path, e)),
            });
        }
        let stamp = Stamp {
            selectors: Some(selectors.clone()),
            keys,
        };
        Ok((stamp, selectors))
    }

    fn load(&self, domain: &str, selectors: Vec<String>) -> Result<Active, DkimError> {
        let dir = &self.inner.dir;
        let mut active = Vec::with_capacity(selectors.len());
        for selector in selectors {
            let path = key_path(dir, domain, &selector);
            let key = match KeyFile::read(&path) {
                Ok(key) => key,
                Err(DkimError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    return Err(DkimError::MissingKey {
                        path: selector_path(dir, domain),
                        selector,
                        key: path,
                    });
                }
                Err(e) => return Err(e),
            };
            tracing::info!(
                domain,
                selector,
                algorithm = %key.algorithm(),
                bits = key.bits(),
                "DKIM key loaded"
            );
            active.push(ActiveKey {
                selector,
                path,
                key: Arc::new(key),
            });
        }
        Ok(Arc::new(active))
    }

    fn remember(
        &self,
        domain: &str,
        checked: Instant,
        stamp: Option<Stamp>,
        state: Result<Active, DkimError>,
    ) {
        let mut domains = self.inner.domains.lock().unwrap();
        if domains.len() >= MAX_CACHED_DOMAINS && !domains.contains_key(domain) {
            domains.clear();
        }
        // An unreadable selector file leaves no stamp: compare against nothing next time.
        let stamp = stamp.unwrap_or(Stamp {
            selectors: None,
            keys: Vec::new(),
        });
        domains.insert(
            domain.to_string(),
            Cached {
                checked,
                stamp,
                state,
            },
        );
    }
}

/// The names of [`SIGNED_HEADERS`] the message carries, plus `From` once more.
fn headers_to_sign(message: &[u8]) -> Vec<&'static str> {
    let mut present = [false; SIGNED_HEADERS.len()];
    for name in header_names(message) {
        if let Some(i) = SIGNED_HEADERS
            .iter()
            .position(|h| h.as_bytes().eq_ignore_ascii_case(name))
        {
            present[i] = true;
        }
    }
    let mut names = vec!["From"];
    names.extend(
        SIGNED_HEADERS
            .iter()
            .zip(present)
            .filter(|(_, present)| *present)
            .map(|(name, _)| *name),
    );
    names
}

/// The field names of the header section (up to the first empty line), trimmed.
fn header_names(message: &[u8]) -> impl Iterator<Item = &[u8]> {
    message
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty())
        .filter(|line| !matches!(line.first(), Some(b' ' | b'\t')))
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            Some(line[..colon].trim_ascii())
        })
}

/// A key shared between the cache and the signatures being made.
struct SharedKey(Arc<KeyFile>);

impl SigningKey for SharedKey {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        self.0.key.sign(input)
    }

    fn algorithm(&self) -> Algorithm {
        self.0.key.algorithm()
    }
}

#[cfg(test)]
mod tests;
