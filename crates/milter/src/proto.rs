//! The wire format of the Sendmail milter protocol (version 2 to 6, as libmilter and Postfix's
//! `milter8.c` speak it): command, reply, action and protocol codes, packet framing, encoding of
//! the MTA's commands and decoding of the filter's replies.
//!
//! A packet is a 32-bit big-endian length (command byte included), one command byte and its data.
//! Strings are NUL-terminated. Nothing here does I/O; [`crate::conn`] reads and writes packets.
//! Every length read from the filter is checked against [`MAX_PACKET`] before anything is
//! allocated.

use crate::MilterError;

/// Largest packet accepted from a filter (command byte and data). libmilter sends body
/// replacement in chunks of at most 64 KiB unless larger chunks are negotiated (we never offer
/// them), so 1 MiB leaves room while bounding memory per milter connection.
pub const MAX_PACKET: usize = 1 << 20;

/// Largest body chunk sent to a filter (`MILTER_CHUNK_SIZE` of libmilter and Postfix).
pub const BODY_CHUNK: usize = 65535;

/// The newest protocol version we speak.
pub const PROTOCOL_VERSION: u32 = 6;

/// Commands from the MTA to the filter (`SMFIC_*`).
pub mod cmd {
    /// Abort the current message.
    pub const ABORT: u8 = b'A';
    /// A body chunk.
    pub const BODY: u8 = b'B';
    /// Connection information.
    pub const CONNECT: u8 = b'C';
    /// Macro definitions for the next command.
    pub const MACRO: u8 = b'D';
    /// End of body.
    pub const BODYEOB: u8 = b'E';
    /// HELO/EHLO.
    pub const HELO: u8 = b'H';
    /// One header field.
    pub const HEADER: u8 = b'L';
    /// MAIL FROM.
    pub const MAIL: u8 = b'M';
    /// End of headers.
    pub const EOH: u8 = b'N';
    /// Option negotiation.
    pub const OPTNEG: u8 = b'O';
    /// Close the connection.
    pub const QUIT: u8 = b'Q';
    /// RCPT TO.
    pub const RCPT: u8 = b'R';
    /// DATA.
    pub const DATA: u8 = b'T';
}

/// Replies from the filter to the MTA (`SMFIR_*`).
pub mod rsp {
    /// Add a recipient.
    pub const ADDRCPT: u8 = b'+';
    /// Delete a recipient.
    pub const DELRCPT: u8 = b'-';
    /// Add a recipient with ESMTP arguments.
    pub const ADDRCPT_PAR: u8 = b'2';
    /// Shut the SMTP connection down (421).
    pub const SHUTDOWN: u8 = b'4';
    /// Accept (the message, or the connection at connect/HELO).
    pub const ACCEPT: u8 = b'a';
    /// Replace the body (one chunk).
    pub const REPLBODY: u8 = b'b';
    /// Continue.
    pub const CONTINUE: u8 = b'c';
    /// Accept and discard the message.
    pub const DISCARD: u8 = b'd';
    /// Change the envelope sender.
    pub const CHGFROM: u8 = b'e';
    /// Cause a connection failure.
    pub const CONN_FAIL: u8 = b'f';
    /// Append a header field.
    pub const ADDHEADER: u8 = b'h';
    /// Insert a header field at an index.
    pub const INSHEADER: u8 = b'i';
    /// Change (or delete) a header field.
    pub const CHGHEADER: u8 = b'm';
    /// Still working: reset the timeout.
    pub const PROGRESS: u8 = b'p';
    /// Quarantine (hold) the message.
    pub const QUARANTINE: u8 = b'q';
    /// Reject.
    pub const REJECT: u8 = b'r';
    /// Skip further events of this kind (body chunks).
    pub const SKIP: u8 = b's';
    /// Temporary failure.
    pub const TEMPFAIL: u8 = b't';
    /// Reject or tempfail with this SMTP reply.
    pub const REPLYCODE: u8 = b'y';
    /// Option negotiation reply (same letter as the command).
    pub const OPTNEG: u8 = b'O';
}

/// Actions a filter may take at end of message (`SMFIF_*`).
pub mod action {
    /// Add header fields.
    pub const ADDHDRS: u32 = 0x01;
    /// Replace the body.
    pub const CHGBODY: u32 = 0x02;
    /// Add recipients.
    pub const ADDRCPT: u32 = 0x04;
    /// Delete recipients.
    pub const DELRCPT: u32 = 0x08;
    /// Change or delete header fields (and insert them).
    pub const CHGHDRS: u32 = 0x10;
    /// Quarantine the message.
    pub const QUARANTINE: u32 = 0x20;
    /// Change the envelope sender (v6).
    pub const CHGFROM: u32 = 0x40;
    /// Add recipients with ESMTP arguments (v6).
    pub const ADDRCPT_PAR: u32 = 0x80;
    /// Ask for other macros per stage (v6).
    pub const SETSYMLIST: u32 = 0x100;
    /// Every action of protocol version 2 to 5.
    pub const V2: u32 = ADDHDRS | CHGBODY | ADDRCPT | DELRCPT | CHGHDRS | QUARANTINE;
    /// Every action of protocol version 6.
    pub const V6: u32 = V2 | CHGFROM | ADDRCPT_PAR | SETSYMLIST;
}

/// Protocol flags: events the filter does not want and replies it will not send
/// (`SMFIP_*`).
pub mod flag {
    /// No connect event.
    pub const NOCONNECT: u32 = 1 << 0;
    /// No HELO event.
    pub const NOHELO: u32 = 1 << 1;
    /// No MAIL event.
    pub const NOMAIL: u32 = 1 << 2;
    /// No RCPT event.
    pub const NORCPT: u32 = 1 << 3;
    /// No body chunks.
    pub const NOBODY: u32 = 1 << 4;
    /// No header fields.
    pub const NOHDRS: u32 = 1 << 5;
    /// No end-of-headers event.
    pub const NOEOH: u32 = 1 << 6;
    /// No reply to header fields.
    pub const NR_HDR: u32 = 1 << 7;
    /// No unknown-command events (we never send them).
    pub const NOUNKNOWN: u32 = 1 << 8;
    /// No DATA event.
    pub const NODATA: u32 = 1 << 9;
    /// The MTA understands SMFIR_SKIP.
    pub const SKIP: u32 = 1 << 10;
    /// The filter wants rejected recipients too (not offered).
    pub const RCPT_REJ: u32 = 1 << 11;
    /// No reply to connect.
    pub const NR_CONN: u32 = 1 << 12;
    /// No reply to HELO.
    pub const NR_HELO: u32 = 1 << 13;
    /// No reply to MAIL.
    pub const NR_MAIL: u32 = 1 << 14;
    /// No reply to RCPT.
    pub const NR_RCPT: u32 = 1 << 15;
    /// No reply to DATA.
    pub const NR_DATA: u32 = 1 << 16;
    /// No reply to unknown commands.
    pub const NR_UNKN: u32 = 1 << 17;
    /// No reply to end of headers.
    pub const NR_EOH: u32 = 1 << 18;
    /// No reply to body chunks.
    pub const NR_BODY: u32 = 1 << 19;
    /// Header values are sent and taken with their leading space.
    pub const HDR_LEADSPC: u32 = 1 << 20;

    /// What we offer with protocol version 2 (and 3, 4, 6 below), as Postfix does.
    pub const V2: u32 = NOCONNECT | NOHELO | NOMAIL | NORCPT | NOBODY | NOHDRS | NOEOH;
    /// Version 3 adds NOUNKNOWN.
    pub const V3: u32 = V2 | NOUNKNOWN;
    /// Version 4 (and 5) add NODATA.
    pub const V4: u32 = V3 | NODATA;
    /// Version 6: skip, no-reply variants and leading space. `RCPT_REJ` is not offered: we
    /// never send refused recipients to filters.
    pub const V6: u32 = V4
        | SKIP
        | NR_CONN
        | NR_HELO
        | NR_MAIL
        | NR_RCPT
        | NR_DATA
        | NR_UNKN
        | NR_EOH
        | NR_BODY
        | NR_HDR
        | HDR_LEADSPC;
}

/// The macro stages of option negotiation (`SMFIM_*`), in their wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Connect (`SMFIM_CONNECT` = 0).
    Connect,
    /// HELO (1).
    Helo,
    /// MAIL FROM (2).
    Mail,
    /// RCPT TO (3).
    Rcpt,
    /// DATA (4).
    Data,
    /// End of message (5).
    Eom,
    /// End of headers (6).
    Eoh,
}

impl Stage {
    /// Every stage.
    pub const ALL: [Stage; 7] = [
        Stage::Connect,
        Stage::Helo,
        Stage::Mail,
        Stage::Rcpt,
        Stage::Data,
        Stage::Eom,
        Stage::Eoh,
    ];

    /// From the `SMFIM_*` number.
    pub fn from_wire(n: u32) -> Option<Stage> {
        Stage::ALL.get(n as usize).copied()
    }

    /// The command the macros of this stage precede.
    pub fn command(self) -> u8 {
        match self {
            Stage::Connect => cmd::CONNECT,
            Stage::Helo => cmd::HELO,
            Stage::Mail => cmd::MAIL,
            Stage::Rcpt => cmd::RCPT,
            Stage::Data => cmd::DATA,
            Stage::Eom => cmd::BODYEOB,
            Stage::Eoh => cmd::EOH,
        }
    }

    /// Name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Helo => "helo",
            Stage::Mail => "mail",
            Stage::Rcpt => "rcpt",
            Stage::Data => "data",
            Stage::Eom => "eom",
            Stage::Eoh => "eoh",
        }
    }
}

/// One packet: a command or reply code and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Command (MTA → filter) or reply (filter → MTA) code.
    pub code: u8,
    /// The data after the code.
    pub data: Vec<u8>,
}

impl Packet {
    /// A packet from its parts.
    pub fn new(code: u8, data: Vec<u8>) -> Packet {
        Packet { code, data }
    }

    /// The wire form: length, code, data.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + self.data.len());
        out.extend_from_slice(&((self.data.len() + 1) as u32).to_be_bytes());
        out.push(self.code);
        out.extend_from_slice(&self.data);
        out
    }
}

/// The length in a packet header, checked: at least the code byte, at most [`MAX_PACKET`].
pub fn check_length(header: [u8; 4]) -> Result<usize, MilterError> {
    let len = u32::from_be_bytes(header) as usize;
    if len == 0 {
        return Err(MilterError::Protocol("empty packet".into()));
    }
    if len > MAX_PACKET {
        return Err(MilterError::Protocol(format!(
            "packet of {len} bytes is over the limit of {MAX_PACKET}"
        )));
    }
    Ok(len)
}

/// Builders of the MTA's commands.
pub mod encode {
    use super::{Packet, cmd};

    fn push_str(out: &mut Vec<u8>, s: &[u8]) {
        // A NUL inside a string would end it early on the other side: cut it there.
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        out.extend_from_slice(&s[..end]);
        out.push(0);
    }

    /// `SMFIC_OPTNEG`: our version, the actions and protocol flags we offer.
    pub fn optneg(version: u32, actions: u32, protocol: u32) -> Packet {
        let mut d = Vec::with_capacity(12);
        d.extend_from_slice(&version.to_be_bytes());
        d.extend_from_slice(&actions.to_be_bytes());
        d.extend_from_slice(&protocol.to_be_bytes());
        Packet::new(cmd::OPTNEG, d)
    }

    /// `SMFIC_MACRO`: name/value pairs for the command `before`.
    pub fn macros(before: u8, pairs: &[(String, String)]) -> Packet {
        let mut d = vec![before];
        for (k, v) in pairs {
            push_str(&mut d, k.as_bytes());
            push_str(&mut d, v.as_bytes());
        }
        Packet::new(cmd::MACRO, d)
    }

    /// `SMFIC_CONNECT`: client host name, family (`4`, `6`, `L`, `U`), port and address.
    pub fn connect(hostname: &str, peer: &crate::Peer) -> Packet {
        let mut d = Vec::new();
        push_str(&mut d, hostname.as_bytes());
        match peer {
            crate::Peer::Inet(addr) => {
                d.push(if addr.is_ipv4() { b'4' } else { b'6' });
                d.extend_from_slice(&addr.port().to_be_bytes());
                push_str(&mut d, addr.ip().to_string().as_bytes());
            }
            crate::Peer::Unix(path) => {
                d.push(b'L');
                d.extend_from_slice(&0u16.to_be_bytes());
                push_str(&mut d, path.as_bytes());
            }
            crate::Peer::Unknown => d.push(b'U'),
        }
        Packet::new(cmd::CONNECT, d)
    }

    /// `SMFIC_HELO`.
    pub fn helo(name: &str) -> Packet {
        let mut d = Vec::new();
        push_str(&mut d, name.as_bytes());
        Packet::new(cmd::HELO, d)
    }

    /// `SMFIC_MAIL` / `SMFIC_RCPT`: `<address>` then the ESMTP arguments.
    pub fn address(code: u8, address: &str, args: &[String]) -> Packet {
        let mut d = Vec::new();
        push_str(&mut d, format!("<{address}>").as_bytes());
        for a in args {
            push_str(&mut d, a.as_bytes());
        }
        Packet::new(code, d)
    }

    /// `SMFIC_HEADER`: name and value.
    pub fn header(name: &str, value: &[u8]) -> Packet {
        let mut d = Vec::with_capacity(name.len() + value.len() + 2);
        push_str(&mut d, name.as_bytes());
        push_str(&mut d, value);
        Packet::new(cmd::HEADER, d)
    }

    /// A command without data (`SMFIC_DATA`, `SMFIC_EOH`, `SMFIC_BODYEOB`, `SMFIC_ABORT`,
    /// `SMFIC_QUIT`).
    pub fn bare(code: u8) -> Packet {
        Packet::new(code, Vec::new())
    }

    /// `SMFIC_BODY`: one chunk.
    pub fn body(chunk: &[u8]) -> Packet {
        Packet::new(cmd::BODY, chunk.to_vec())
    }
}

/// A filter's reply, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `SMFIR_CONTINUE`.
    Continue,
    /// `SMFIR_ACCEPT`.
    Accept,
    /// `SMFIR_REJECT`.
    Reject,
    /// `SMFIR_TEMPFAIL`.
    Tempfail,
    /// `SMFIR_DISCARD`.
    Discard,
    /// `SMFIR_SKIP`.
    Skip,
    /// `SMFIR_PROGRESS`.
    Progress,
    /// `SMFIR_SHUTDOWN` or `SMFIR_CONN_FAIL`: close the SMTP connection with 421.
    Shutdown,
    /// `SMFIR_REPLYCODE`: the SMTP reply, as sent (may be multi-line with CRLF).
    ReplyCode(String),
    /// `SMFIR_QUARANTINE` with its reason.
    Quarantine(String),
    /// A modification request at end of message.
    Modify(Modification),
    /// The option negotiation reply.
    OptNeg(Negotiated),
}

/// What the filter answered to option negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Its protocol version.
    pub version: u32,
    /// The actions it wants (`SMFIF_*`).
    pub actions: u32,
    /// Its protocol flags (`SMFIP_*`).
    pub protocol: u32,
    /// Macro names it asks for per stage (`SMFIR_SETSYMLIST` data), space-separated.
    pub macros: Vec<(Stage, String)>,
}

/// A message modification requested at end of message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modification {
    /// Append a header field.
    AddHeader {
        /// Field name.
        name: String,
        /// Field value as sent.
        value: Vec<u8>,
    },
    /// Insert a header field; `index` 0 is the top.
    InsertHeader {
        /// Position among all header fields.
        index: u32,
        /// Field name.
        name: String,
        /// Field value as sent.
        value: Vec<u8>,
    },
    /// Change the `index`th (1-based; 0 counts as 1) field named `name`; an empty value
    /// deletes it.
    ChangeHeader {
        /// Occurrence of the name, 1-based.
        index: u32,
        /// Field name.
        name: String,
        /// New value; empty: delete.
        value: Vec<u8>,
    },
    /// Change the envelope sender.
    ChangeFrom {
        /// The new reverse path (with or without angle brackets).
        sender: String,
        /// ESMTP arguments, if any.
        args: Option<String>,
    },
    /// Add a recipient.
    AddRcpt {
        /// The address (with or without angle brackets).
        rcpt: String,
        /// ESMTP arguments (`SMFIR_ADDRCPT_PAR`), if any.
        args: Option<String>,
    },
    /// Delete a recipient.
    DeleteRcpt {
        /// The address as given in RCPT (with or without angle brackets).
        rcpt: String,
    },
    /// A chunk of the replacement body.
    ReplaceBody(Vec<u8>),
}

impl Modification {
    /// The action flag a filter must have negotiated to send this.
    pub fn required_action(&self) -> u32 {
        match self {
            Modification::AddHeader { .. } => action::ADDHDRS,
            Modification::InsertHeader { .. } | Modification::ChangeHeader { .. } => {
                action::CHGHDRS
            }
            Modification::ChangeFrom { .. } => action::CHGFROM,
            Modification::AddRcpt { args: None, .. } => action::ADDRCPT,
            Modification::AddRcpt { args: Some(_), .. } => action::ADDRCPT_PAR,
            Modification::DeleteRcpt { .. } => action::DELRCPT,
            Modification::ReplaceBody(_) => action::CHGBODY,
        }
    }
}

/// Reads NUL-terminated strings and numbers from a reply's data.
struct Reader<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn err(&self, why: &str) -> MilterError {
        MilterError::Protocol(format!("malformed {}: {why}", self.what))
    }
    fn u32(&mut self) -> Result<u32, MilterError> {
        if self.data.len() < 4 {
            return Err(self.err("short number"));
        }
        let (n, rest) = self.data.split_at(4);
        self.data = rest;
        Ok(u32::from_be_bytes([n[0], n[1], n[2], n[3]]))
    }
    fn bytes(&mut self) -> Result<&'a [u8], MilterError> {
        let Some(end) = self.data.iter().position(|&b| b == 0) else {
            return Err(self.err("string without NUL"));
        };
        let (s, rest) = self.data.split_at(end);
        self.data = &rest[1..];
        Ok(s)
    }
    fn string(&mut self) -> Result<String, MilterError> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }
    fn optional_string(&mut self) -> Result<Option<String>, MilterError> {
        if self.data.is_empty() {
            return Ok(None);
        }
        self.string().map(Some)
    }
    fn end(&self) -> Result<(), MilterError> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(self.err("trailing data"))
        }
    }
}

/// Decode a reply packet from a filter. Unknown codes and malformed data are protocol errors.
pub fn decode(p: &Packet) -> Result<Response, MilterError> {
    let bare = |r: Response| {
        if p.data.is_empty() {
            Ok(r)
        } else {
            Err(MilterError::Protocol(format!(
                "reply {:?} carries {} unexpected bytes",
                p.code as char,
                p.data.len()
            )))
        }
    };
    let mut r = Reader {
        data: &p.data,
        what: "reply",
    };
    match p.code {
        rsp::CONTINUE => bare(Response::Continue),
        rsp::ACCEPT => bare(Response::Accept),
        rsp::REJECT => bare(Response::Reject),
        rsp::TEMPFAIL => bare(Response::Tempfail),
        rsp::DISCARD => bare(Response::Discard),
        rsp::SKIP => bare(Response::Skip),
        rsp::PROGRESS => bare(Response::Progress),
        rsp::SHUTDOWN | rsp::CONN_FAIL => bare(Response::Shutdown),
        rsp::REPLYCODE => {
            r.what = "SMFIR_REPLYCODE";
            let s = r.string()?;
            r.end()?;
            Ok(Response::ReplyCode(s))
        }
        rsp::QUARANTINE => {
            r.what = "SMFIR_QUARANTINE";
            // The reason is NUL-terminated; tolerate a missing NUL on an otherwise sane reason.
            let reason = match r.string() {
                Ok(s) => s,
                Err(_) => String::from_utf8_lossy(&p.data).into_owned(),
            };
            Ok(Response::Quarantine(reason))
        }
        rsp::ADDHEADER => {
            r.what = "SMFIR_ADDHEADER";
            let name = r.string()?;
            let value = r.bytes()?.to_vec();
            r.end()?;
            Ok(Response::Modify(Modification::AddHeader { name, value }))
        }
        rsp::INSHEADER | rsp::CHGHEADER => {
            r.what = if p.code == rsp::INSHEADER {
                "SMFIR_INSHEADER"
            } else {
                "SMFIR_CHGHEADER"
            };
            let index = r.u32()?;
            let name = r.string()?;
            let value = r.bytes()?.to_vec();
            r.end()?;
            Ok(Response::Modify(if p.code == rsp::INSHEADER {
                Modification::InsertHeader { index, name, value }
            } else {
                Modification::ChangeHeader { index, name, value }
            }))
        }
        rsp::CHGFROM => {
            r.what = "SMFIR_CHGFROM";
            let sender = r.string()?;
            let args = r.optional_string()?;
            r.end()?;
            Ok(Response::Modify(Modification::ChangeFrom { sender, args }))
        }
        rsp::ADDRCPT => {
            r.what = "SMFIR_ADDRCPT";
            let rcpt = r.string()?;
            r.end()?;
            Ok(Response::Modify(Modification::AddRcpt { rcpt, args: None }))
        }
        rsp::ADDRCPT_PAR => {
            r.what = "SMFIR_ADDRCPT_PAR";
            let rcpt = r.string()?;
            let args = r.optional_string()?;
            r.end()?;
            Ok(Response::Modify(Modification::AddRcpt { rcpt, args }))
        }
        rsp::DELRCPT => {
            r.what = "SMFIR_DELRCPT";
            let rcpt = r.string()?;
            r.end()?;
            Ok(Response::Modify(Modification::DeleteRcpt { rcpt }))
        }
        rsp::REPLBODY => Ok(Response::Modify(Modification::ReplaceBody(p.data.clone()))),
        rsp::OPTNEG => {
            r.what = "option negotiation reply";
            let version = r.u32()?;
            let actions = r.u32()?;
            let protocol = r.u32()?;
            let mut macros = Vec::new();
            while !r.data.is_empty() {
                let stage = r.u32()?;
                let names = r.string()?;
                let stage = Stage::from_wire(stage)
                    .ok_or_else(|| r.err(&format!("unknown macro stage {stage}")))?;
                macros.push((stage, names));
            }
            Ok(Response::OptNeg(Negotiated {
                version,
                actions,
                protocol,
                macros,
            }))
        }
        other => Err(MilterError::Protocol(format!(
            "unknown reply code {:?} (0x{other:02x})",
            other as char
        ))),
    }
}
