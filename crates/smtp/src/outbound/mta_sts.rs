//! MTA-STS (RFC 8461): a domain's promise that its MX hosts speak TLS with valid certificates.
//!
//! ```text
//!  TXT _mta-sts.DOMAIN  "v=STSv1; id=..."   ── id unchanged and cached policy valid ──▶ cached policy
//!        │ new id (or nothing cached)
//!        ▼
//!  GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt   (certificate verified, 64 KiB max, no redirects)
//!        ▼
//!  version: STSv1 / mode: enforce|testing|none / mx: pattern... / max_age: seconds
//! ```
//!
//! - The policy is cached by domain with its id until `max_age` runs out (at most one year,
//!   §3.2), in memory and, when `smtp_mta.mta_sts_cache_file` is set, in a JSON file re-read at
//!   start (the cache is what protects against a downgrade by DNS spoofing).
//! - Without the TXT record the cached policy still applies; a failed fetch keeps the cached
//!   policy, and with none cached delivery goes on as if the domain had no policy (§5.1).
//! - `enforce`: only MX hosts matching an `mx:` pattern are used, over TLS with a certificate
//!   valid (WebPKI) for the MX host name; otherwise the message stays queued. `testing`: a
//!   mismatch is logged and delivery goes on. `none`: nothing.
//!
//! The HTTPS client is a small HTTP/1.1 GET over tokio-rustls (`Connection: close`, status
//! 200 only, Content-Length, chunked or read-to-close bodies) rather than reqwest/hyper: one
//! request shape, strict size and redirect rules, no new dependency tree next to our single
//! rustls, and the host is resolved through the same DNS client as the MX hosts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mail_auth::hickory_resolver::proto::rr::{RData, RecordType};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::dns::Dns;
use super::mx;

/// Largest policy body accepted (RFC 8461 §3.3 suggests 64 KiB).
const MAX_POLICY: usize = 64 * 1024;
/// Longest `max_age` honoured (§3.2: 31557600 seconds).
const MAX_AGE: u64 = 31_557_600;

/// The policy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Mode {
    Enforce,
    Testing,
    None,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Policy {
    pub(crate) mode: Mode,
    /// `mx:` patterns, lower case (`mail.example.com`, `*.example.net`).
    pub(crate) mx: Vec<String>,
    pub(crate) max_age: u64,
}

impl Policy {
    /// Does MX host `host` match one of the patterns (§4.1: a wildcard covers one label)?
    pub(crate) fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => *p == host,
        })
    }
}

/// Parse a policy body (§3.2). Unknown keys are ignored; `version`, `mode`, `max_age` and (for
/// a mode other than `none`) at least one `mx` are required.
pub(crate) fn parse(body: &str) -> Result<Policy, String> {
    let mut version = None;
    let mut mode = None;
    let mut max_age = None;
    let mut mx = Vec::new();
    for line in body.lines() {
        let line = line.trim_end_matches('\r');
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "version" => version = Some(v.to_string()),
            "mode" => {
                mode = Some(match v {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => return Err(format!("unknown mode {other:?}")),
                })
            }
            "max_age" => {
                max_age = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("bad max_age {v:?}"))?
                        .min(MAX_AGE),
                )
            }
            "mx" => mx.push(v.trim_end_matches('.').to_ascii_lowercase()),
            _ => {}
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("version is not STSv1".into());
    }
    let mode = mode.ok_or("no mode")?;
    let max_age = max_age.ok_or("no max_age")?;
    if mode != Mode::None && mx.is_empty() {
        return Err("no mx pattern".into());
    }
    Ok(Policy { mode, mx, max_age })
}

/// The `id` of the domain's `v=STSv1` TXT record; `None` unless there is exactly one (§3.1).
fn txt_id(records: &[RData]) -> Option<String> {
    let texts: Vec<String> = records
        .iter()
        .filter_map(|r| match r {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).to_string())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .filter(|t| t.starts_with("v=STSv1"))
        .collect();
    let [text] = texts.as_slice() else {
        return None;
    };
    text.split(';')
        .filter_map(|f| f.trim().split_once('='))
        .find(|(k, _)| *k == "id")
        .map(|(_, v)| v.trim().to_string())
        .filter(|id| {
            !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    id: String,
    policy: Policy,
    /// Seconds since the epoch after which the policy is no longer valid.
    expires: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Policy lookups with their cache.
#[derive(Debug)]
pub(crate) struct MtaSts {
    dns: Dns,
    port: u16,
    tls: Arc<ClientConfig>,
    timeout: Duration,
    cache: Mutex<HashMap<String, Cached>>,
    cache_file: Option<PathBuf>,
}

impl MtaSts {
    /// `tls` verifies the policy host's certificate; `cache_file` persists the cache.
    pub(crate) fn new(
        dns: Dns,
        port: u16,
        tls: Arc<ClientConfig>,
        timeout: Duration,
        cache_file: Option<PathBuf>,
    ) -> MtaSts {
        let cache = cache_file
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<HashMap<String, Cached>>(&b).ok())
            .unwrap_or_default();
        MtaSts {
            dns,
            port,
            tls,
            timeout,
            cache: Mutex::new(cache),
            cache_file,
        }
    }

    /// The policy that applies to `domain` now, if any.
    pub(crate) async fn policy(&self, domain: &str) -> Option<Policy> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.get(&domain).filter(|c| c.expires > now()).cloned()
        };
        let id = match self
            .dns
            .query(&format!("_mta-sts.{domain}"), RecordType::TXT)
            .await
        {
            Ok(a) => txt_id(&a.records),
            Err(e) => {
                tracing::debug!(domain, error = %e, "MTA-STS TXT lookup failed");
                None
            }
        };
        let Some(id) = id else {
            return cached.map(|c| c.policy);
        };
        if let Some(c) = &cached
            && c.id == id
        {
            return Some(c.policy.clone());
        }
        match tokio::time::timeout(self.timeout, self.fetch(&domain)).await {
            Ok(Ok(policy)) => {
                tracing::info!(domain, id, mode = ?policy.mode, max_age = policy.max_age, "MTA-STS policy fetched");
                self.store(&domain, &id, &policy);
                Some(policy)
            }
            Ok(Err(e)) => {
                tracing::warn!(domain, error = %e, "MTA-STS policy fetch failed");
                cached.map(|c| c.policy)
            }
            Err(_) => {
                tracing::warn!(domain, "MTA-STS policy fetch timed out");
                cached.map(|c| c.policy)
            }
        }
    }

    fn store(&self, domain: &str, id: &str, policy: &Policy) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let t = now();
        cache.retain(|_, c| c.expires > t);
        cache.insert(
            domain.to_string(),
            Cached {
                id: id.to_string(),
                policy: policy.clone(),
                expires: now() + policy.max_age,
            },
        );
        if let Some(path) = &self.cache_file
            && let Ok(json) = serde_json::to_vec_pretty(&*cache)
        {
            let tmp = path.with_extension("tmp");
            if std::fs::write(&tmp, json)
                .and_then(|()| std::fs::rename(&tmp, path))
                .is_err()
            {
                tracing::warn!(path = %path.display(), "cannot write the MTA-STS cache file");
            }
        }
    }

    /// GET the policy over HTTPS.
    async fn fetch(&self, domain: &str) -> Result<Policy, String> {
        let host = format!("mta-sts.{domain}");
        let (addrs, _) = mx::addresses(&self.dns, &host)
            .await
            .map_err(|e| e.to_string())?;
        let mut last = format!("{host}: no address");
        for ip in addrs {
            match self.get(&host, SocketAddr::new(ip, self.port)).await {
                Ok(body) => return parse(&body),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn get(&self, host: &str, addr: SocketAddr) -> Result<String, String> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
        let mut tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS to {host} ({addr}): {e}"))?;
        let request = format!(
            "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mailstack\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
        );
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = match tls.read(&mut buf).await {
                Ok(n) => n,
                // Servers that close without close_notify: what arrived is complete or not,
                // the length checks below decide.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(e.to_string()),
            };
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if raw.len() > MAX_POLICY + 16 * 1024 {
                return Err(format!("{host}: policy larger than {MAX_POLICY} bytes"));
            }
        }
        parse_http(&raw).map_err(|e| format!("{host}: {e}"))
    }
}

/// The body of an HTTP/1.1 `200` response (no redirects: any other status is an error).
fn parse_http(raw: &[u8]) -> Result<String, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("incomplete HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code != "200" {
        return Err(format!(
            "HTTP status {status:?} (redirects are not followed)"
        ));
    }
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = v.parse().ok(),
            "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
            "content-type" if !v.to_ascii_lowercase().starts_with("text/plain") => {
                return Err(format!("Content-Type {v:?} is not text/plain"));
            }
            _ => {}
        }
    }
    let body = if chunked {
        dechunk(body)?
    } else if let Some(n) = length {
        body.get(..n)
            .ok_or("body shorter than Content-Length")?
            .to_vec()
    } else {
        body.to_vec()
    };
    if body.len() > MAX_POLICY {
        return Err(format!("policy larger than {MAX_POLICY} bytes"));
    }
    String::from_utf8(body).map_err(|_| "policy is not UTF-8".to_string())
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunked body")?;
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size")?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(b.get(..size).ok_or("truncated chunk")?);
        b = b.get(size + 2..).ok_or("truncated chunk")?;
        if out.len() > MAX_POLICY {
            return Err(format!("policy larger than {MAX_POLICY} bytes"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_match() {
        let p = parse("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n").unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert!(p.matches("mail.example.com"));
        assert!(p.matches("MX1.example.net."));
        assert!(!p.matches("a.b.example.net"));
        assert!(!p.matches("example.net"));
        assert!(!p.matches("other.example.com"));
        assert!(parse("version: STSv1\nmode: enforce\nmax_age: 1\n").is_err());
        assert!(parse("version: STSv2\nmode: none\nmax_age: 1\n").is_err());
        assert_eq!(
            parse("version: STSv1\nmode: testing\nmx: a\nmax_age: 99999999999\n")
                .unwrap()
                .max_age,
            MAX_AGE
        );
    }

    #[test]
    fn http_bodies_are_read_strictly() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloXX";
        assert_eq!(parse_http(ok).unwrap(), "hello");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_http(chunked).unwrap(), "abcde");
        assert!(parse_http(b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n\r\n").is_err());
        assert!(parse_http(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nx").is_err());
    }

    #[test]
    fn the_txt_record_must_be_unique() {
        use mail_auth::hickory_resolver::proto::rr::rdata::TXT;
        let txt = |s: &str| RData::TXT(TXT::new(vec![s.to_string()]));
        assert_eq!(
            txt_id(&[txt("v=STSv1; id=abc123;")]).as_deref(),
            Some("abc123")
        );
        assert_eq!(
            txt_id(&[txt("v=STSv1; id=a;"), txt("v=STSv1; id=b;")]),
            None
        );
        assert_eq!(txt_id(&[txt("v=spf1 -all")]), None);
    }
}
