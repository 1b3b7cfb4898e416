//! Where mail for a domain goes (RFC 5321 §5.1): the MX hosts in preference order, random
//! among equal preferences, the domain itself when it has no MX (implicit MX, its A/AAAA
//! records), nothing when it publishes a null MX (RFC 7505, `0 .`).
//!
//! Errors keep the difference the queue needs: a domain that does not exist is a permanent
//! failure (`5.1.2`), a DNS server failure or timeout is temporary (`4.4.3`).

use std::net::IpAddr;

use mail_auth::hickory_resolver::proto::rr::{RData, RecordType};

use super::dns::{Dns, DnsError};

/// One MX host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MxHost {
    /// Host name without the trailing dot, lower case.
    pub(crate) name: String,
    pub(crate) preference: u16,
}

/// The routing of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// Hosts to try in this order; `secure`: the MX answer (for the implicit MX: the
    /// authenticated denial of MX records) was DNSSEC-authenticated.
    /// `implicit`: the domain has no MX records and is its own MX.
    Hosts {
        hosts: Vec<MxHost>,
        secure: bool,
        implicit: bool,
    },
    /// Null MX: the domain accepts no mail.
    NullMx,
}

/// The MX route of `domain`.
pub(crate) async fn route(dns: &Dns, domain: &str) -> Result<Route, DnsError> {
    let answer = dns.query(domain, RecordType::MX).await?;
    let mut hosts: Vec<MxHost> = Vec::new();
    let mut null = false;
    for rd in &answer.records {
        if let RData::MX(mx) = rd {
            if mx.exchange.is_root() {
                null = true;
                continue;
            }
            hosts.push(MxHost {
                name: mx
                    .exchange
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase(),
                preference: mx.preference,
            });
        }
    }
    if null && hosts.is_empty() {
        return Ok(Route::NullMx);
    }
    if hosts.is_empty() {
        // No MX: the domain is its own implicit MX (RFC 5321 §5.1).
        return Ok(Route::Hosts {
            hosts: vec![MxHost {
                name: domain.trim_end_matches('.').to_ascii_lowercase(),
                preference: 0,
            }],
            secure: answer.authentic,
            implicit: true,
        });
    }
    Ok(Route::Hosts {
        hosts: order(hosts),
        secure: answer.authentic,
        implicit: false,
    })
}

/// Sort by preference, shuffling hosts of equal preference (load spreading, §5.1); a host
/// listed twice keeps its best preference.
fn order(mut hosts: Vec<MxHost>) -> Vec<MxHost> {
    fastrand::shuffle(&mut hosts);
    hosts.sort_by_key(|h| h.preference);
    let mut seen = std::collections::HashSet::new();
    hosts.retain(|h| seen.insert(h.name.clone()));
    hosts
}

/// The addresses of a host (IPv4 first, then IPv6) and whether both answers were
/// DNSSEC-authenticated. NXDOMAIN for both is `Err(NxDomain)`; a temporary error of either
/// lookup with no address from the other is temporary.
pub(crate) async fn addresses(dns: &Dns, host: &str) -> Result<(Vec<IpAddr>, bool), DnsError> {
    let (v4, v6) = tokio::join!(
        dns.query(host, RecordType::A),
        dns.query(host, RecordType::AAAA)
    );
    let mut addrs = Vec::new();
    let mut secure = true;
    let mut temp: Option<DnsError> = None;
    let mut nx = 0;
    for r in [v4, v6] {
        match r {
            Ok(a) => {
                secure &= a.authentic;
                for rd in a.records {
                    match rd {
                        RData::A(a) => addrs.push(IpAddr::V4(a.0)),
                        RData::AAAA(a) => addrs.push(IpAddr::V6(a.0)),
                        _ => {}
                    }
                }
            }
            Err(DnsError::NxDomain(_)) => nx += 1,
            Err(e) => temp = Some(e),
        }
    }
    if addrs.is_empty() {
        if let Some(e) = temp {
            return Err(e);
        }
        if nx == 2 {
            return Err(DnsError::NxDomain(host.to_string()));
        }
    }
    Ok((addrs, secure))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_ordered_by_preference_and_deduplicated() {
        let h = |n: &str, p| MxHost {
            name: n.into(),
            preference: p,
        };
        for _ in 0..20 {
            let hosts = order(vec![
                h("c", 30),
                h("a", 40),
                h("b", 20),
                h("a", 10),
                h("d", 20),
            ]);
            let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
            assert!(
                names == ["a", "b", "d", "c"] || names == ["a", "d", "b", "c"],
                "{names:?}"
            );
        }
    }
}
