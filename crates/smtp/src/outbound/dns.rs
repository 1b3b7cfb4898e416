//! A stub DNS client for outbound delivery that keeps what a resolver library hides: the
//! response code (NXDOMAIN is permanent, SERVFAIL and timeouts are temporary) and the AD bit
//! of the validating resolver's answer (DANE, RFC 7672 §2.1).
//!
//! Why not `hickory_resolver::Resolver`: its lookups return records only; whether the upstream
//! resolver validated them (AD) is lost unless hickory validates DNSSEC itself with its own
//! trust anchors. mailstack does what Postfix does with `smtp_dns_support_level = dnssec`:
//! it asks the configured resolver (`smtp_mta.dns_resolver`, else the first name servers of
//! `/etc/resolv.conf`, read through hickory's `system_conf` like the verifier) with the AD bit
//! set (RFC 6840 §5.7) and trusts the AD bit of the answer. That is only safe when the
//! resolver is a validating one on this host or a trusted network (unbound next to smtp-mta).
//! The wire format is hickory-proto's (mail-auth's re-export: one hickory version).
//!
//! Queries go over UDP (EDNS, 1232-byte payload) and are retried over TCP when truncated;
//! each server is tried once within the timeout.

use std::net::SocketAddr;
use std::time::Duration;

use mail_auth::hickory_resolver::proto::op::{
    Edns, Message, MessageType, OpCode, Query, ResponseCode,
};
use mail_auth::hickory_resolver::proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why a query has no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DnsError {
    /// The name does not exist (NXDOMAIN): permanent.
    #[error("{0}: no such domain (NXDOMAIN)")]
    NxDomain(String),
    /// SERVFAIL, REFUSED, timeout, network error: temporary.
    #[error("{0}")]
    Temporary(String),
}

/// The records of one answer and whether the resolver vouched for them (AD).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// The answer section's data of the asked type (CNAMEs followed by the resolver).
    pub(crate) records: Vec<RData>,
    /// The AD bit: the resolver validated the whole answer with DNSSEC.
    pub(crate) authentic: bool,
}

/// The DNS client: resolver addresses and the time allowed per query.
#[derive(Debug, Clone)]
pub(crate) struct Dns {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

impl Dns {
    /// Query `resolver`, or the system's name servers when `None` (none found: every query
    /// fails temporarily).
    pub(crate) fn new(resolver: Option<SocketAddr>, timeout: Duration) -> Dns {
        let servers = match resolver {
            Some(addr) => vec![addr],
            None => match mail_auth::hickory_resolver::system_conf::read_system_conf() {
                Ok((config, _)) => {
                    let mut servers: Vec<SocketAddr> = config
                        .name_servers()
                        .iter()
                        .map(|ns| SocketAddr::new(ns.ip, 53))
                        .collect();
                    servers.dedup();
                    servers
                }
                Err(e) => {
                    // Not fatal at start: local delivery needs no DNS. Remote mail stays
                    // queued (every query fails temporarily) until the resolver is fixed.
                    tracing::warn!(error = %e, "cannot read /etc/resolv.conf: outbound DNS lookups will fail");
                    Vec::new()
                }
            },
        };
        Dns { servers, timeout }
    }

    /// Ask for `rtype` records of `name`. An existing name without such records is
    /// `Ok` with no records (NODATA).
    pub(crate) async fn query(&self, name: &str, rtype: RecordType) -> Result<Answer, DnsError> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let qname = Name::from_ascii(&fqdn)
            .map_err(|e| DnsError::NxDomain(format!("{name}: invalid name: {e}")))?;
        let mut last = DnsError::Temporary(format!("{name}/{rtype}: no DNS server"));
        for server in &self.servers {
            match tokio::time::timeout(self.timeout, self.ask(*server, &qname, rtype)).await {
                Ok(Ok(reply)) => match reply.metadata.response_code {
                    ResponseCode::NoError => {
                        let records = reply
                            .answers
                            .iter()
                            .filter(|r| r.record_type() == rtype)
                            .map(|r| r.data.clone())
                            .collect();
                        return Ok(Answer {
                            records,
                            authentic: reply.metadata.authentic_data,
                        });
                    }
                    ResponseCode::NXDomain => return Err(DnsError::NxDomain(name.to_string())),
                    code => {
                        last = DnsError::Temporary(format!("{name}/{rtype}: {code} from {server}"))
                    }
                },
                Ok(Err(e)) => last = DnsError::Temporary(format!("{name}/{rtype}: {server}: {e}")),
                Err(_) => {
                    last = DnsError::Temporary(format!("{name}/{rtype}: {server}: timed out"))
                }
            }
        }
        Err(last)
    }

    async fn ask(
        &self,
        server: SocketAddr,
        qname: &Name,
        rtype: RecordType,
    ) -> Result<Message, String> {
        let mut q = Message::new(fastrand::u16(..), MessageType::Query, OpCode::Query);
        q.metadata.recursion_desired = true;
        // RFC 6840 §5.7: AD in a query asks for the AD bit in the answer.
        q.metadata.authentic_data = true;
        q.add_query(Query::query(qname.clone(), rtype));
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        q.set_edns(edns);
        let wire = q.to_vec().map_err(|e| e.to_string())?;
        let id = q.metadata.id;

        let bind: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        let udp = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|e| e.to_string())?;
        udp.connect(server).await.map_err(|e| e.to_string())?;
        udp.send(&wire).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 4096];
        let reply = loop {
            let n = udp.recv(&mut buf).await.map_err(|e| e.to_string())?;
            match Message::from_vec(&buf[..n]) {
                Ok(m)
                    if m.metadata.id == id && m.metadata.message_type == MessageType::Response =>
                {
                    break m;
                }
                _ => continue, // not ours: keep waiting (the caller's timeout bounds this)
            }
        };
        if !reply.metadata.truncation {
            return Ok(reply);
        }
        // Truncated: the same question over TCP (RFC 7766).
        let mut tcp = tokio::net::TcpStream::connect(server)
            .await
            .map_err(|e| e.to_string())?;
        let len = u16::try_from(wire.len()).map_err(|e| e.to_string())?;
        tcp.write_u16(len).await.map_err(|e| e.to_string())?;
        tcp.write_all(&wire).await.map_err(|e| e.to_string())?;
        let len = tcp.read_u16().await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; usize::from(len)];
        tcp.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        let m = Message::from_vec(&buf).map_err(|e| e.to_string())?;
        if m.metadata.id != id {
            return Err("TCP answer with a wrong id".into());
        }
        Ok(m)
    }
}
