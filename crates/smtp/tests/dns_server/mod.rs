//! A tiny authoritative DNS server for tests, running inside the test process.
//!
//! It answers A, AAAA, MX, TXT, TLSA and CNAME queries from an in-memory zone over UDP and TCP
//! on the same port of 127.0.0.1 (port chosen by the OS): NOERROR with the records, NOERROR
//! without answers (NODATA) when the name has records of other types only, NXDOMAIN for names
//! it does not know, NOTIMP for anything but a standard query. A CNAME is followed (like a
//! recursive resolver would) and both records are answered. Names under a zone marked with
//! [`DnsServer::sign`] are answered with the AD bit, as a validating resolver does for
//! DNSSEC-secure data; [`DnsServer::servfail`] makes a name answer SERVFAIL. UDP answers larger than the client's
//! EDNS payload size (512 without EDNS) are sent truncated (TC=1), so resolvers retry over TCP;
//! [`DnsServer::set_force_tcp`] truncates every UDP answer to exercise that path.
//!
//! ```ignore
//! let dns = DnsServer::start().await;
//! dns.add_txt("example.org", "v=spf1 ip4:127.0.0.1 -all");
//! let opts = VerifyOptions { resolver: Some(dns.addr()), ..VerifyOptions::new("mx.test") };
//! // ... dns.stop() (or drop) ends both listeners.
//! ```
//!
//! Messages are decoded and encoded with hickory-proto, reached through mail-auth's re-export
//! so that it is always the version mail-auth resolves with.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mail_auth::hickory_resolver::proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use mail_auth::hickory_resolver::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use mail_auth::hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, MX, TLSA, TXT};
use mail_auth::hickory_resolver::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// TTL of every answer.
const TTL: u32 = 60;
/// Largest UDP answer without EDNS (RFC 1035 section 4.2.1).
const CLASSIC_UDP_LIMIT: usize = 512;
/// Longest character-string inside a TXT record (RFC 1035 section 3.3).
const TXT_CHUNK: usize = 255;

/// One record's data as the tests write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rr {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A mail exchanger: preference and host name.
    Mx(u16, String),
    /// One TXT record; split into 255-octet strings on the wire.
    Txt(String),
    /// A TLSA record: usage, selector, matching type, data.
    Tlsa(u8, u8, u8, Vec<u8>),
    /// An alias to another name.
    Cname(String),
}

impl Rr {
    fn record_type(&self) -> RecordType {
        match self {
            Rr::A(_) => RecordType::A,
            Rr::Aaaa(_) => RecordType::AAAA,
            Rr::Mx(..) => RecordType::MX,
            Rr::Txt(_) => RecordType::TXT,
            Rr::Tlsa(..) => RecordType::TLSA,
            Rr::Cname(_) => RecordType::CNAME,
        }
    }

    fn to_rdata(&self) -> Option<RData> {
        Some(match self {
            Rr::A(ip) => RData::A(A(*ip)),
            Rr::Aaaa(ip) => RData::AAAA(AAAA(*ip)),
            Rr::Mx(preference, host) => {
                RData::MX(MX::new(*preference, Name::from_ascii(fqdn(host)).ok()?))
            }
            Rr::Txt(text) => {
                RData::TXT(TXT::from_bytes(text.as_bytes().chunks(TXT_CHUNK).collect()))
            }
            Rr::Tlsa(usage, selector, matching, data) => RData::TLSA(TLSA::new(
                CertUsage::from(*usage),
                Selector::from(*selector),
                Matching::from(*matching),
                data.clone(),
            )),
            Rr::Cname(target) => RData::CNAME(CNAME(Name::from_ascii(fqdn(target)).ok()?)),
        })
    }
}

#[derive(Default)]
struct Shared {
    /// Lower-case name without the trailing dot → records.
    zone: Mutex<HashMap<String, Vec<Rr>>>,
    /// Zones (lower case, no trailing dot) answered with AD=1.
    signed: Mutex<HashSet<String>>,
    /// Names answered with SERVFAIL.
    servfail: Mutex<HashSet<String>>,
    force_tcp: AtomicBool,
    udp_queries: AtomicUsize,
    tcp_queries: AtomicUsize,
}

/// A running test DNS server. Dropping it (or [`DnsServer::stop`]) stops both listeners.
pub struct DnsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Binds UDP and TCP on the same free port of 127.0.0.1 and starts serving an empty zone.
    pub async fn start() -> DnsServer {
        let (udp, tcp) = bind_pair().await;
        let addr = udp.local_addr().expect("udp local addr");
        let shared = Arc::new(Shared::default());
        let tasks = vec![
            tokio::spawn(serve_udp(udp, Arc::clone(&shared))),
            tokio::spawn(serve_tcp(tcp, Arc::clone(&shared))),
        ];
        DnsServer {
            addr,
            shared,
            tasks,
        }
    }

    /// The address to give to the resolver (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds a record to `name` (case-insensitive, trailing dot optional).
    pub fn add(&self, name: &str, rr: Rr) {
        self.shared
            .zone
            .lock()
            .unwrap()
            .entry(key(name))
            .or_default()
            .push(rr);
    }

    /// Adds a TXT record (any length; split into 255-octet strings on the wire).
    pub fn add_txt(&self, name: &str, text: &str) {
        self.add(name, Rr::Txt(text.to_string()));
    }

    /// Adds an A record.
    pub fn add_a(&self, name: &str, ip: Ipv4Addr) {
        self.add(name, Rr::A(ip));
    }

    /// Adds an AAAA record.
    pub fn add_aaaa(&self, name: &str, ip: Ipv6Addr) {
        self.add(name, Rr::Aaaa(ip));
    }

    /// Adds an MX record.
    pub fn add_mx(&self, name: &str, preference: u16, host: &str) {
        self.add(name, Rr::Mx(preference, host.to_string()));
    }

    /// Adds a TLSA record (`usage selector matching data`).
    pub fn add_tlsa(&self, name: &str, usage: u8, selector: u8, matching: u8, data: &[u8]) {
        self.add(name, Rr::Tlsa(usage, selector, matching, data.to_vec()));
    }

    /// Adds a CNAME record.
    pub fn add_cname(&self, name: &str, target: &str) {
        self.add(name, Rr::Cname(target.to_string()));
    }

    /// Answers for `zone` and every name below it carry AD=1 ("DNSSEC-validated").
    pub fn sign(&self, zone: &str) {
        self.shared.signed.lock().unwrap().insert(key(zone));
    }

    /// `name` answers SERVFAIL (`false`: normal again).
    pub fn servfail(&self, name: &str, on: bool) {
        let mut set = self.shared.servfail.lock().unwrap();
        if on {
            set.insert(key(name));
        } else {
            set.remove(&key(name));
        }
    }

    /// Removes every record of `name` (it answers NXDOMAIN afterwards).
    pub fn remove(&self, name: &str) {
        self.shared.zone.lock().unwrap().remove(&key(name));
    }

    /// When on, every UDP answer is sent empty with TC=1, so the answer must come over TCP.
    pub fn set_force_tcp(&self, on: bool) {
        self.shared.force_tcp.store(on, Ordering::SeqCst);
    }

    /// Number of queries answered over UDP so far.
    pub fn udp_queries(&self) -> usize {
        self.shared.udp_queries.load(Ordering::SeqCst)
    }

    /// Number of queries answered over TCP so far.
    pub fn tcp_queries(&self) -> usize {
        self.shared.tcp_queries.load(Ordering::SeqCst)
    }

    /// Stops both listeners and waits until their sockets are closed.
    pub async fn stop(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let addr = udp.local_addr().expect("udp local addr");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no port of 127.0.0.1 was free for both UDP and TCP");
}

async fn serve_udp(socket: UdpSocket, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Some((reply, limit)) = answer(&buf[..len], &shared) else {
            continue;
        };
        shared.udp_queries.fetch_add(1, Ordering::SeqCst);
        let wire = match reply.to_vec() {
            Ok(wire) if wire.len() <= limit && !shared.force_tcp.load(Ordering::SeqCst) => wire,
            _ => match truncated(&reply).to_vec() {
                Ok(wire) => wire,
                Err(_) => continue,
            },
        };
        let _ = socket.send_to(&wire, peer).await;
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_tcp_connection(stream, Arc::clone(&shared)));
    }
}

/// Answers length-prefixed queries (RFC 1035 section 4.2.2) until the client closes.
async fn serve_tcp_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let mut query = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut query).await.is_err() {
            return;
        }
        let Some((reply, _)) = answer(&query, &shared) else {
            return;
        };
        shared.tcp_queries.fetch_add(1, Ordering::SeqCst);
        let Ok(wire) = reply.to_vec() else {
            return;
        };
        let Ok(len) = u16::try_from(wire.len()) else {
            return;
        };
        if stream.write_u16(len).await.is_err() || stream.write_all(&wire).await.is_err() {
            return;
        }
    }
}

/// The reply to one query and the largest UDP size the client accepts; `None` for garbage.
fn answer(query: &[u8], shared: &Shared) -> Option<(Message, usize)> {
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.authoritative = true;
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    let limit = match &request.edns {
        Some(edns) => {
            let mut ours = Edns::new();
            ours.set_max_payload(4096);
            reply.set_edns(ours);
            usize::from(edns.max_payload()).max(CLASSIC_UDP_LIMIT)
        }
        None => CLASSIC_UDP_LIMIT,
    };
    reply.add_queries(request.queries.iter().cloned());
    let question = match (request.metadata.op_code, request.queries.as_slice()) {
        (OpCode::Query, [question]) if question.query_class() == DNSClass::IN => question,
        _ => {
            reply.metadata.response_code = ResponseCode::NotImp;
            return Some((reply, limit));
        }
    };

    let zone = shared.zone.lock().unwrap();
    let signed = shared.signed.lock().unwrap();
    let servfail = shared.servfail.lock().unwrap();
    let wanted = question.query_type();
    let mut name = question.name().clone();
    let mut authentic = true;
    // Follow CNAMEs like a recursive resolver (at most 8).
    for _ in 0..8 {
        let k = key(&name.to_ascii());
        if servfail.contains(&k) {
            reply.metadata.response_code = ResponseCode::ServFail;
            return Some((reply, limit));
        }
        authentic &= is_signed(&signed, &k);
        let Some(records) = zone.get(&k) else {
            reply.metadata.response_code = ResponseCode::NXDomain;
            break;
        };
        let alias = records.iter().find_map(|rr| match rr {
            Rr::Cname(target) if wanted != RecordType::CNAME => Some(target.clone()),
            _ => None,
        });
        if let Some(target) = alias {
            if let Some(rdata) = Rr::Cname(target.clone()).to_rdata() {
                reply.add_answer(Record::from_rdata(name.clone(), TTL, rdata));
            }
            match Name::from_ascii(fqdn(&target)) {
                Ok(n) => name = n,
                Err(_) => break,
            }
            continue;
        }
        for rr in records.iter().filter(|rr| rr.record_type() == wanted) {
            if let Some(rdata) = rr.to_rdata() {
                reply.add_answer(Record::from_rdata(name.clone(), TTL, rdata));
            }
        }
        break;
    }
    reply.metadata.authentic_data = authentic;
    Some((reply, limit))
}

/// Whether `name` is at or below a signed zone.
fn is_signed(signed: &HashSet<String>, name: &str) -> bool {
    signed
        .iter()
        .any(|z| name == z || name.ends_with(&format!(".{z}")))
}

/// The header and question of `reply` with TC=1 and no records.
fn truncated(reply: &Message) -> Message {
    let mut short = Message::response(reply.metadata.id, reply.metadata.op_code);
    short.metadata = reply.metadata;
    short.metadata.truncation = true;
    short.add_queries(reply.queries.iter().cloned());
    if let Some(edns) = &reply.edns {
        short.set_edns(edns.clone());
    }
    short
}
