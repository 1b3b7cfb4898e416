//! One connection to one milter: connect, negotiate options, send each event (with its macros)
//! and read the filter's replies within the configured timeouts. The decisions about what a
//! reply means for the SMTP session live in [`crate::chain`]; this module only speaks the
//! protocol and enforces its rules (negotiated events, no-reply flags, negotiated actions,
//! packet size limits).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::proto::{
    self, Modification, Negotiated, Packet, Response, Stage, action, cmd, encode, flag,
};
use crate::spec::{MacroNames, MilterAddress, MilterSpec, split_names};
use crate::{MilterError, Peer};

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Macro values known at a stage, by name without braces (`j`, `i`, `daemon_name`).
pub type MacroValues = HashMap<String, String>;

/// Limits on what a filter may send back at end of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EomLimits {
    /// Largest replacement body (bytes); more is a protocol error.
    pub max_body: usize,
    /// Most modification requests in one reply sequence.
    pub max_modifications: usize,
}

impl Default for EomLimits {
    fn default() -> Self {
        EomLimits {
            max_body: 64 << 20,
            max_modifications: 10_000,
        }
    }
}

/// What a filter answered at end of message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EomReply {
    /// The final decision (continue, accept, reject, tempfail, discard, reply code, shutdown).
    pub decision: Response,
    /// Modifications, in the order sent; body replacement chunks are joined into one.
    pub modifications: Vec<Modification>,
    /// Quarantine reason, when asked for.
    pub quarantine: Option<String>,
}

/// A negotiated connection to one milter.
pub struct MilterConn {
    stream: BufReader<Box<dyn Stream>>,
    spec: Arc<MilterSpec>,
    /// The filter's protocol flags (`SMFIP_*`), masked to what we offered.
    protocol: u32,
    /// The actions it negotiated (`SMFIF_*`), masked to what we offered.
    actions: u32,
    macros: MacroNames,
    limits: EomLimits,
}

impl std::fmt::Debug for MilterConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MilterConn")
            .field("milter", &self.spec.name)
            .field("protocol", &format_args!("{:#x}", self.protocol))
            .field("actions", &format_args!("{:#x}", self.actions))
            .finish_non_exhaustive()
    }
}

fn offered(version: u32) -> (u32, u32) {
    match version {
        6.. => (action::V6, flag::V6),
        4 | 5 => (action::V2, flag::V4),
        3 => (action::V2, flag::V3),
        _ => (action::V2, flag::V2),
    }
}

impl MilterConn {
    /// Connect to `spec` and negotiate options, all within its connect timeout. `macros` are
    /// the configured lists; the filter may replace them per stage.
    pub async fn open(
        spec: Arc<MilterSpec>,
        macros: &MacroNames,
        limits: EomLimits,
    ) -> Result<MilterConn, MilterError> {
        let timeout = spec.connect_timeout;
        let name = spec.name.clone();
        let connect = async {
            let stream: Box<dyn Stream> = match &spec.address {
                MilterAddress::Inet { host, port } => {
                    let s = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                    let _ = s.set_nodelay(true);
                    Box::new(s)
                }
                MilterAddress::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            };
            Ok::<_, std::io::Error>(stream)
        };
        let stream = match tokio::time::timeout(timeout, connect).await {
            Err(_) => return Err(MilterError::Timeout { stage: "connect" }),
            Ok(Err(e)) => return Err(MilterError::Connect(e)),
            Ok(Ok(s)) => s,
        };
        let mut conn = MilterConn {
            stream: BufReader::new(stream),
            spec: spec.clone(),
            protocol: 0,
            actions: 0,
            macros: macros.clone(),
            limits,
        };
        let (our_actions, our_protocol) = offered(spec.protocol);
        conn.write(
            &encode::optneg(spec.protocol, our_actions, our_protocol),
            timeout,
        )
        .await?;
        let neg = match conn.read(timeout, "negotiation").await? {
            Response::OptNeg(n) => n,
            other => {
                return Err(MilterError::Protocol(format!(
                    "expected the option negotiation reply, got {other:?}"
                )));
            }
        };
        conn.apply_negotiation(neg, our_actions, our_protocol)?;
        tracing::debug!(milter = %name, protocol = %format_args!("{:#x}", conn.protocol), actions = %format_args!("{:#x}", conn.actions), "milter negotiated");
        Ok(conn)
    }

    fn apply_negotiation(
        &mut self,
        neg: Negotiated,
        our_actions: u32,
        our_protocol: u32,
    ) -> Result<(), MilterError> {
        if neg.version < 2 {
            return Err(MilterError::Protocol(format!(
                "milter protocol version {} is too old",
                neg.version
            )));
        }
        if neg.actions & !our_actions != 0 {
            tracing::warn!(milter = %self.spec.name, requested = %format_args!("{:#x}", neg.actions), "milter asks for actions we do not offer; ignored");
        }
        if neg.protocol & !our_protocol != 0 {
            tracing::warn!(milter = %self.spec.name, requested = %format_args!("{:#x}", neg.protocol), "milter asks for protocol flags we do not offer; ignored");
        }
        self.actions = neg.actions & our_actions;
        self.protocol = neg.protocol & our_protocol;
        if self.actions & action::SETSYMLIST != 0 {
            for (stage, names) in neg.macros {
                let names = split_names(&names);
                match self.macros.lists.iter_mut().find(|(s, _)| *s == stage) {
                    Some((_, list)) => *list = names,
                    None => self.macros.lists.push((stage, names)),
                }
            }
        }
        Ok(())
    }

    /// The milter's name (its address as configured).
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The actions the filter negotiated (`SMFIF_*`).
    pub fn actions(&self) -> u32 {
        self.actions
    }

    /// The protocol flags the filter negotiated (`SMFIP_*`).
    pub fn protocol(&self) -> u32 {
        self.protocol
    }

    /// Whether header values go without their leading space (no `SMFIP_HDR_LEADSPC`).
    pub fn strips_leading_space(&self) -> bool {
        self.protocol & flag::HDR_LEADSPC == 0
    }

    async fn write(&mut self, p: &Packet, timeout: Duration) -> Result<(), MilterError> {
        let bytes = p.encode();
        let w = self.stream.get_mut();
        match tokio::time::timeout(timeout, async {
            w.write_all(&bytes).await?;
            w.flush().await
        })
        .await
        {
            Err(_) => Err(MilterError::Timeout { stage: "write" }),
            Ok(Err(e)) => Err(MilterError::Io(e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    async fn read(
        &mut self,
        timeout: Duration,
        stage: &'static str,
    ) -> Result<Response, MilterError> {
        let read = async {
            let mut header = [0u8; 4];
            self.stream.read_exact(&mut header).await?;
            let len = proto::check_length(header)?;
            let mut buf = vec![0u8; len];
            self.stream.read_exact(&mut buf).await?;
            let code = buf[0];
            buf.remove(0);
            Ok::<_, MilterError>(Packet::new(code, buf))
        };
        match tokio::time::timeout(timeout, read).await {
            Err(_) => Err(MilterError::Timeout { stage }),
            Ok(Err(MilterError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(MilterError::Closed)
            }
            Ok(Err(e)) => Err(e),
            Ok(Ok(p)) => proto::decode(&p),
        }
    }

    /// Send the macros of `stage` that have a value.
    async fn send_macros(&mut self, stage: Stage, values: &MacroValues) -> Result<(), MilterError> {
        let pairs: Vec<(String, String)> = self
            .macros
            .of(stage)
            .iter()
            .filter_map(|name| {
                let key = name.trim_start_matches('{').trim_end_matches('}');
                values.get(key).map(|v| (name.clone(), v.clone()))
            })
            .collect();
        if pairs.is_empty() {
            return Ok(());
        }
        let t = self.spec.command_timeout;
        self.write(&encode::macros(stage.command(), &pairs), t)
            .await
    }

    /// Send one event and wait for its decision. `skip` / `no_reply` are the protocol flags
    /// that say the filter does not want the event / will not answer it.
    async fn event(
        &mut self,
        packet: Packet,
        skip: u32,
        no_reply: u32,
        timeout: Duration,
        stage: &'static str,
    ) -> Result<Response, MilterError> {
        if self.protocol & skip != 0 {
            return Ok(Response::Continue);
        }
        self.write(&packet, timeout).await?;
        if self.protocol & no_reply != 0 {
            return Ok(Response::Continue);
        }
        loop {
            match self.read(timeout, stage).await? {
                Response::Progress => continue,
                r @ (Response::Continue
                | Response::Accept
                | Response::Reject
                | Response::Tempfail
                | Response::Discard
                | Response::Shutdown
                | Response::ReplyCode(_)) => return Ok(r),
                Response::Skip if packet.code == cmd::BODY => return Ok(Response::Skip),
                other => {
                    return Err(MilterError::Protocol(format!(
                        "reply {other:?} is not allowed at {stage}"
                    )));
                }
            }
        }
    }

    /// The connect event: the client's host name (`unknown` without reverse DNS, as Postfix
    /// sends it) and address.
    pub async fn connect(
        &mut self,
        hostname: &str,
        peer: &Peer,
        macros: &MacroValues,
    ) -> Result<Response, MilterError> {
        self.send_macros(Stage::Connect, macros).await?;
        let t = self.spec.command_timeout;
        self.event(
            encode::connect(hostname, peer),
            flag::NOCONNECT,
            flag::NR_CONN,
            t,
            "connect",
        )
        .await
    }

    /// HELO/EHLO.
    pub async fn helo(
        &mut self,
        name: &str,
        macros: &MacroValues,
    ) -> Result<Response, MilterError> {
        self.send_macros(Stage::Helo, macros).await?;
        let t = self.spec.command_timeout;
        self.event(encode::helo(name), flag::NOHELO, flag::NR_HELO, t, "helo")
            .await
    }

    /// MAIL FROM with its ESMTP arguments.
    pub async fn mail(
        &mut self,
        sender: &str,
        args: &[String],
        macros: &MacroValues,
    ) -> Result<Response, MilterError> {
        self.send_macros(Stage::Mail, macros).await?;
        let t = self.spec.command_timeout;
        let p = encode::address(cmd::MAIL, sender, args);
        self.event(p, flag::NOMAIL, flag::NR_MAIL, t, "mail").await
    }

    /// RCPT TO with its ESMTP arguments.
    pub async fn rcpt(
        &mut self,
        rcpt: &str,
        args: &[String],
        macros: &MacroValues,
    ) -> Result<Response, MilterError> {
        self.send_macros(Stage::Rcpt, macros).await?;
        let t = self.spec.command_timeout;
        let p = encode::address(cmd::RCPT, rcpt, args);
        self.event(p, flag::NORCPT, flag::NR_RCPT, t, "rcpt").await
    }

    /// DATA (protocol 4 and later; sent as nothing to older filters).
    pub async fn data(&mut self, macros: &MacroValues) -> Result<Response, MilterError> {
        if self.spec.protocol < 4 {
            return Ok(Response::Continue);
        }
        self.send_macros(Stage::Data, macros).await?;
        let t = self.spec.command_timeout;
        self.event(
            encode::bare(cmd::DATA),
            flag::NODATA,
            flag::NR_DATA,
            t,
            "data",
        )
        .await
    }

    /// One header field; `value` as it should be sent (see [`crate::message`]).
    pub async fn header(&mut self, name: &str, value: &[u8]) -> Result<Response, MilterError> {
        let t = self.spec.content_timeout;
        self.event(
            encode::header(name, value),
            flag::NOHDRS,
            flag::NR_HDR,
            t,
            "header",
        )
        .await
    }

    /// End of headers.
    pub async fn end_of_headers(&mut self, macros: &MacroValues) -> Result<Response, MilterError> {
        self.send_macros(Stage::Eoh, macros).await?;
        let t = self.spec.content_timeout;
        self.event(encode::bare(cmd::EOH), flag::NOEOH, flag::NR_EOH, t, "eoh")
            .await
    }

    /// One body chunk (at most [`proto::BODY_CHUNK`] bytes). `Skip` means: send no more.
    pub async fn body(&mut self, chunk: &[u8]) -> Result<Response, MilterError> {
        let t = self.spec.content_timeout;
        self.event(encode::body(chunk), flag::NOBODY, flag::NR_BODY, t, "body")
            .await
    }

    /// End of message: read modification requests until the final decision.
    pub async fn end_of_message(&mut self, macros: &MacroValues) -> Result<EomReply, MilterError> {
        self.send_macros(Stage::Eom, macros).await?;
        let t = self.spec.content_timeout;
        self.write(&encode::bare(cmd::BODYEOB), t).await?;
        let mut modifications: Vec<Modification> = Vec::new();
        let mut quarantine = None;
        let mut body: Option<Vec<u8>> = None;
        loop {
            match self.read(t, "end of message").await? {
                Response::Progress => continue,
                Response::Quarantine(reason) => {
                    self.require(action::QUARANTINE, "SMFIR_QUARANTINE")?;
                    quarantine = Some(reason);
                }
                Response::Modify(Modification::ReplaceBody(chunk)) => {
                    self.require(action::CHGBODY, "SMFIR_REPLBODY")?;
                    let b = body.get_or_insert_with(Vec::new);
                    if b.len() + chunk.len() > self.limits.max_body {
                        return Err(MilterError::Protocol(format!(
                            "replacement body over {} bytes",
                            self.limits.max_body
                        )));
                    }
                    b.extend_from_slice(&chunk);
                }
                Response::Modify(m) => {
                    self.require(m.required_action(), "modification")?;
                    if modifications.len() >= self.limits.max_modifications {
                        return Err(MilterError::Protocol(format!(
                            "more than {} modifications",
                            self.limits.max_modifications
                        )));
                    }
                    modifications.push(m);
                }
                Response::OptNeg(_) => {
                    return Err(MilterError::Protocol(
                        "option negotiation reply at end of message".into(),
                    ));
                }
                decision => {
                    let decision = if decision == Response::Skip {
                        Response::Continue
                    } else {
                        decision
                    };
                    if let Some(b) = body {
                        modifications.push(Modification::ReplaceBody(b));
                    }
                    return Ok(EomReply {
                        decision,
                        modifications,
                        quarantine,
                    });
                }
            }
        }
    }

    fn require(&self, flag: u32, what: &str) -> Result<(), MilterError> {
        if self.actions & flag == 0 {
            return Err(MilterError::Protocol(format!(
                "{what} without negotiating the action"
            )));
        }
        Ok(())
    }

    /// Abort the current message (the filter keeps the connection for the next one).
    pub async fn abort(&mut self) -> Result<(), MilterError> {
        let t = self.spec.command_timeout;
        self.write(&encode::bare(cmd::ABORT), t).await
    }

    /// Say goodbye and close.
    pub async fn quit(mut self) {
        let t = self.spec.command_timeout;
        let _ = self.write(&encode::bare(cmd::QUIT), t).await;
        let _ = tokio::time::timeout(t, self.stream.get_mut().shutdown()).await;
    }
}
