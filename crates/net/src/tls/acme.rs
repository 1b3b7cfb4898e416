//! Certificates from Traefik's `acme.json` (Traefik v2 and v3): dcape's Traefik obtains the
//! certificates, mailstack serves the same ones on its mail ports and follows Traefik's renewals.
//!
//! ```json
//! { "<resolver>": { "Account": {..},
//!                   "Certificates": [ { "domain": { "main": "mail.example.com", "sans": ["*.example.com"] },
//!                                       "certificate": "<base64 of the PEM chain>",
//!                                       "key": "<base64 of the PEM key>", "Store": "default" } ] } }
//! ```
//!
//! Every usable certificate is kept under each of its names. One that cannot be used (bad PEM,
//! key mismatch) is skipped with a warning, so one broken entry does not take the others down;
//! a file without any usable certificate is an error (the previous certificates stay).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::crypto::CryptoProvider;
use serde::Deserialize;

use super::{CertSet, certified_key};
use crate::NetError;

#[derive(Deserialize)]
struct Resolver {
    #[serde(rename = "Certificates", default)]
    certificates: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    domain: Domain,
    certificate: String,
    key: String,
}

#[derive(Deserialize)]
struct Domain {
    main: String,
    #[serde(default)]
    sans: Option<Vec<String>>,
}

fn bad(path: &Path, detail: impl Into<String>) -> NetError {
    NetError::BadPem {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

/// Every certificate of `path` (of `resolver` only, when given); the default is the one for
/// `default_name` (exact name, else a wildcard), else the first.
pub(super) fn load(
    path: &Path,
    resolver: Option<&str>,
    default_name: &str,
    provider: &CryptoProvider,
) -> Result<CertSet, NetError> {
    let text = std::fs::read(path).map_err(|source| NetError::Read {
        what: "certificate",
        path: path.to_owned(),
        source,
    })?;
    let resolvers: BTreeMap<String, Option<Resolver>> = serde_json::from_slice(&text)
        .map_err(|e| bad(path, format!("not a Traefik acme.json: {e}")))?;
    if let Some(name) = resolver
        && !resolvers.contains_key(name)
    {
        return Err(bad(
            path,
            format!(
                "no resolver {name:?} (found: {})",
                resolvers.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let mut named = Vec::new();
    let mut first = None;
    for (resolver_name, entries) in &resolvers {
        if resolver.is_some_and(|r| r != resolver_name) {
            continue;
        }
        let entries = entries.as_ref().and_then(|r| r.certificates.as_ref());
        for entry in entries.into_iter().flatten() {
            let names: Vec<String> = std::iter::once(&entry.domain.main)
                .chain(entry.domain.sans.iter().flatten())
                .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
                .collect();
            let decoded = BASE64
                .decode(entry.certificate.trim())
                .and_then(|c| Ok((c, BASE64.decode(entry.key.trim())?)));
            let certified = match decoded {
                Ok((cert, key)) => certified_key(&cert, &key, path, path, provider),
                Err(e) => Err(bad(path, format!("base64: {e}"))),
            };
            match certified {
                Ok(c) => {
                    let c = Arc::new(c);
                    first.get_or_insert_with(|| Arc::clone(&c));
                    for n in names {
                        named.push((n, Arc::clone(&c)));
                    }
                }
                Err(e) => tracing::warn!(
                    resolver = %resolver_name, domain = %entry.domain.main, error = %e,
                    "skipping an unusable certificate of acme.json"
                ),
            }
        }
    }
    let Some(first) = first else {
        return Err(NetError::NoCertificate {
            path: path.to_owned(),
        });
    };
    let mut set = CertSet {
        default: first,
        named,
    };
    let covered = set.covers(default_name);
    if covered {
        set.default = set.for_name(Some(default_name));
    } else {
        tracing::warn!(
            host = %default_name, file = %path.display(),
            "no certificate in acme.json covers the host name; clients without SNI get the first one"
        );
    }
    Ok(set)
}
