//! Several milters in order for one SMTP connection, as Postfix's `milter.c` runs them: each
//! event goes to each milter in turn until one decides (reject, tempfail, discard...); at end of
//! message each milter sees the message as modified by the ones before it. A milter that fails
//! (unreachable, timeout, protocol error) is dropped for the rest of the connection and its
//! default action answers for it from then on.
//!
//! Replies follow Postfix: `SMFIR_REJECT` is `550 5.7.1 Command rejected`, `SMFIR_TEMPFAIL`
//! `451 4.7.1 Service unavailable - try again later`, `SMFIR_REPLYCODE` is used as sent when it is
//! a well-formed 4xx/5xx reply whose enhanced code has the same class (otherwise the milter has
//! failed), a failed milter with `default_action = reject` answers `550 5.5.0 Service
//! unavailable`.

use std::sync::Arc;

use crate::conn::{EomLimits, MacroValues, MilterConn};
use crate::message::{EnvelopeEdits, Message};
use crate::proto::{BODY_CHUNK, Response, Stage};
use crate::spec::{DefaultAction, MacroNames, MilterSpec};
use crate::{MilterError, Peer};

/// An SMTP reply decided by a milter: code and text lines (each with its enhanced status
/// code when there is one, e.g. `5.7.1 Spam message rejected`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpReply {
    /// 4xx or 5xx.
    pub code: u16,
    /// Text lines without the code.
    pub lines: Vec<String>,
}

impl SmtpReply {
    fn new(code: u16, text: &str) -> SmtpReply {
        SmtpReply {
            code,
            lines: vec![text.to_string()],
        }
    }

    /// Parse an `SMFIR_REPLYCODE` text like Postfix: `ddd` then space or `-`, first digit 4 or
    /// 5, the enhanced code (when the text has one) of the same class; multi-line replies with
    /// CRLF between lines all carry the same code. `%%` is `%` (Sendmail treats the text as a
    /// format string). `None` when malformed.
    pub fn parse(s: &str) -> Option<SmtpReply> {
        let mut code = None;
        let mut lines = Vec::new();
        for line in s.split("\r\n").filter(|l| !l.is_empty()) {
            let b = line.as_bytes();
            if b.len() < 3
                || !matches!(b[0], b'4' | b'5')
                || !b[1].is_ascii_digit()
                || !b[2].is_ascii_digit()
                || !matches!(b.get(3), None | Some(b' ' | b'-'))
            {
                return None;
            }
            let c: u16 = line[..3].parse().ok()?;
            if *code.get_or_insert(c) != c {
                return None;
            }
            let text = line.get(4..).unwrap_or("");
            // An enhanced code, when present, must be of the same class (Postfix checks the
            // first character after the code).
            if let Some(first) = text.chars().next()
                && first.is_ascii_digit()
                && text.as_bytes().get(1) == Some(&b'.')
                && first as u8 != b[0]
            {
                return None;
            }
            let text: String = text
                .replace("%%", "\u{0}")
                .replace('%', "")
                .replace('\u{0}', "%");
            if text.chars().any(|c| c.is_control()) {
                return None;
            }
            lines.push(text);
        }
        Some(SmtpReply { code: code?, lines })
    }
}

/// What the SMTP server should do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on (the command is accepted as far as milters are concerned).
    Continue,
    /// Refuse permanently with this reply (the connection, the sender, this recipient, the
    /// message, by stage).
    Reject(SmtpReply),
    /// Refuse temporarily with this reply.
    Tempfail(SmtpReply),
    /// Accept the command, then accept the message with `250` and drop it.
    Discard,
    /// Say `421` and close the SMTP connection.
    Shutdown,
}

impl Verdict {
    fn name(&self) -> &'static str {
        match self {
            Verdict::Continue => "continue",
            Verdict::Reject(_) => "reject",
            Verdict::Tempfail(_) => "tempfail",
            Verdict::Discard => "discard",
            Verdict::Shutdown => "shutdown",
        }
    }
}

/// Called for each decision: milter name, stage, result (`continue`, `accept`, `reject`,
/// `tempfail`, `discard`, `quarantine`, `shutdown`, `error`). For metrics.
pub type Observer = Arc<dyn Fn(&str, &str, &str) + Send + Sync>;

/// The milters of one listener, shared by its sessions.
#[derive(Clone)]
pub struct Milters {
    specs: Vec<Arc<MilterSpec>>,
    macros: MacroNames,
    limits: EomLimits,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Milters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Milters")
            .field("specs", &self.specs)
            .finish_non_exhaustive()
    }
}

impl Milters {
    /// Milters in the order they are consulted.
    pub fn new(specs: Vec<MilterSpec>, macros: MacroNames, limits: EomLimits) -> Milters {
        Milters {
            specs: specs.into_iter().map(Arc::new).collect(),
            macros,
            limits,
            observer: None,
        }
    }

    /// Report each decision to `observer`.
    pub fn with_observer(mut self, observer: Observer) -> Milters {
        self.observer = Some(observer);
        self
    }

    /// No milter configured.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The configured milters.
    pub fn specs(&self) -> impl Iterator<Item = &MilterSpec> {
        self.specs.iter().map(|s| s.as_ref())
    }

    /// Open one connection to each milter (all at once) and send the connect event.
    /// `hostname` is the client's verified name or `unknown`.
    pub async fn connect(
        &self,
        hostname: &str,
        peer: &Peer,
        macros: &MacroValues,
    ) -> (MilterSession, Verdict) {
        let opens = self.specs.iter().map(|spec| {
            let macros = self.macros.clone();
            let spec = spec.clone();
            let limits = self.limits;
            async move { MilterConn::open(spec, &macros, limits).await }
        });
        let conns = futures_join_all(opens).await;
        let slots = self
            .specs
            .iter()
            .zip(conns)
            .map(|(spec, conn)| {
                let (conn, pending_error) = match conn {
                    Ok(c) => (Some(c), None),
                    Err(e) => (None, Some(e)),
                };
                Slot {
                    spec: spec.clone(),
                    conn,
                    state: State::Active,
                    in_message: false,
                    pending_error,
                }
            })
            .collect();
        let mut session = MilterSession {
            slots,
            observer: self.observer.clone(),
            discard: false,
            quarantine: None,
        };
        let verdict = session.run(Event::Connect(hostname, peer), macros).await;
        (session, verdict)
    }
}

/// Join futures without pulling in a futures crate: they are few (one per milter).
async fn futures_join_all<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(v) => out.push(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Gets events.
    Active,
    /// Accepted the connection (or refused it and we go on refusing): no more events.
    Done,
    /// Accepted the message: no more events until the next transaction.
    AcceptedMessage,
    /// Refused at connect/HELO: every further event gets this verdict.
    RefuseAll(Verdict),
    /// Failed: its default action answers.
    Failed,
}

struct Slot {
    spec: Arc<MilterSpec>,
    conn: Option<MilterConn>,
    state: State,
    /// Got MAIL (and no end of message or abort since).
    in_message: bool,
    /// The connection could not be opened (reported at the connect event).
    pending_error: Option<MilterError>,
}

/// The milters of one SMTP connection.
pub struct MilterSession {
    slots: Vec<Slot>,
    observer: Option<Observer>,
    /// A milter said discard during this transaction.
    discard: bool,
    /// A milter asked to quarantine (or failed with `default_action = quarantine`).
    quarantine: Option<String>,
}

impl std::fmt::Debug for MilterSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MilterSession")
            .field("milters", &self.slots.len())
            .field("discard", &self.discard)
            .finish_non_exhaustive()
    }
}

/// The result of end of message.
#[derive(Debug)]
pub struct Outcome {
    /// Continue (deliver), reject, tempfail, discard or shutdown.
    pub verdict: Verdict,
    /// The message as modified.
    pub message: Message,
    /// Envelope changes.
    pub envelope: EnvelopeEdits,
    /// Put the message on hold with this reason.
    pub quarantine: Option<String>,
}

/// One SMTP-level event.
enum Event<'a> {
    Connect(&'a str, &'a Peer),
    Helo(&'a str),
    Mail(&'a str, &'a [String]),
    Rcpt(&'a str, &'a [String]),
    Data,
    /// The message phase (headers to end of message); only for decisions.
    Eom,
}

impl Event<'_> {
    fn stage(&self) -> Stage {
        match self {
            Event::Connect(..) => Stage::Connect,
            Event::Helo(_) => Stage::Helo,
            Event::Mail(..) => Stage::Mail,
            Event::Rcpt(..) => Stage::Rcpt,
            Event::Data => Stage::Data,
            Event::Eom => Stage::Eom,
        }
    }
    fn connection_level(&self) -> bool {
        matches!(self, Event::Connect(..) | Event::Helo(_))
    }
}

const REJECT: &str = "5.7.1 Command rejected";
const TEMPFAIL: &str = "4.7.1 Service unavailable - try again later";

fn default_verdict(action: DefaultAction) -> Option<Verdict> {
    match action {
        DefaultAction::Accept | DefaultAction::Quarantine => None,
        DefaultAction::Reject => Some(Verdict::Reject(SmtpReply::new(
            550,
            "5.5.0 Service unavailable",
        ))),
        DefaultAction::Tempfail => Some(Verdict::Tempfail(SmtpReply::new(451, TEMPFAIL))),
    }
}

impl MilterSession {
    fn observe(&self, milter: &str, stage: &str, result: &str) {
        if let Some(o) = &self.observer {
            o(milter, stage, result);
        }
    }

    /// A milter failed: log, drop it, and answer with its default action.
    fn fail(&mut self, i: usize, stage: &str, e: &MilterError) -> Option<Verdict> {
        let slot = &mut self.slots[i];
        tracing::warn!(milter = %slot.spec.name, stage, error = %e, default_action = %slot.spec.default_action, "milter failed");
        slot.conn = None;
        slot.state = State::Failed;
        let name = slot.spec.name.clone();
        self.observe(&name, stage, "error");
        self.failed_answer(i)
    }

    /// The answer of a failed milter for one more event.
    fn failed_answer(&mut self, i: usize) -> Option<Verdict> {
        let spec = &self.slots[i].spec;
        if spec.default_action == DefaultAction::Quarantine && self.quarantine.is_none() {
            self.quarantine = Some(format!("milter {} unavailable", spec.name));
        }
        default_verdict(spec.default_action)
    }

    /// Turn a decision into a verdict (`None`: ask the next milter).
    fn decide(&mut self, i: usize, ev: &Event<'_>, r: Response) -> Option<Verdict> {
        let stage = ev.stage().name();
        let connection_level = ev.connection_level();
        let name = self.slots[i].spec.name.clone();
        let verdict = match r {
            Response::Continue | Response::Skip | Response::Progress => {
                self.observe(&name, stage, "continue");
                return None;
            }
            Response::Accept => {
                self.observe(&name, stage, "accept");
                let slot = &mut self.slots[i];
                if connection_level {
                    slot.state = State::Done;
                    if let Some(c) = slot.conn.take() {
                        tokio::spawn(c.quit());
                    }
                } else {
                    slot.state = State::AcceptedMessage;
                }
                return None;
            }
            Response::Discard if connection_level => {
                tracing::warn!(milter = %name, stage, "DISCARD is not allowed at connect or HELO; ignored");
                return None;
            }
            Response::Discard => Verdict::Discard,
            Response::Reject => Verdict::Reject(SmtpReply::new(550, REJECT)),
            Response::Tempfail => Verdict::Tempfail(SmtpReply::new(451, TEMPFAIL)),
            Response::ReplyCode(text) => match SmtpReply::parse(&text) {
                Some(r) if r.code >= 500 => Verdict::Reject(r),
                Some(r) => Verdict::Tempfail(r),
                None => {
                    let e = MilterError::Protocol(format!("malformed reply code {text:?}"));
                    return self.fail(i, stage, &e);
                }
            },
            Response::Shutdown => {
                let slot = &mut self.slots[i];
                slot.state = State::Done;
                slot.conn = None;
                Verdict::Shutdown
            }
            other => {
                let e = MilterError::Protocol(format!("unexpected reply {other:?}"));
                return self.fail(i, stage, &e);
            }
        };
        self.observe(&name, stage, verdict.name());
        if connection_level && matches!(verdict, Verdict::Reject(_) | Verdict::Tempfail(_)) {
            let slot = &mut self.slots[i];
            slot.state = State::RefuseAll(verdict.clone());
            if let Some(c) = slot.conn.take() {
                tokio::spawn(c.quit());
            }
        }
        if verdict == Verdict::Discard {
            self.discard = true;
            self.slots[i].state = State::AcceptedMessage;
        }
        Some(verdict)
    }

    async fn run(&mut self, ev: Event<'_>, macros: &MacroValues) -> Verdict {
        if self.discard && !ev.connection_level() {
            // The message is discarded already: nobody else needs to see it.
            return Verdict::Continue;
        }
        for i in 0..self.slots.len() {
            if let Some(e) = self.slots[i].pending_error.take() {
                if let Some(v) = self.fail(i, ev.stage().name(), &e) {
                    return v;
                }
                continue;
            }
            match &self.slots[i].state {
                State::Active => {}
                State::Done => continue,
                State::AcceptedMessage if !ev.connection_level() => continue,
                State::AcceptedMessage => {}
                State::RefuseAll(v) => return v.clone(),
                State::Failed => match self.failed_answer(i) {
                    Some(v) => return v,
                    None => continue,
                },
            }
            let Some(conn) = self.slots[i].conn.as_mut() else {
                continue;
            };
            let r = match &ev {
                Event::Connect(host, peer) => conn.connect(host, peer, macros).await,
                Event::Helo(name) => conn.helo(name, macros).await,
                Event::Mail(sender, args) => conn.mail(sender, args, macros).await,
                Event::Rcpt(rcpt, args) => conn.rcpt(rcpt, args, macros).await,
                Event::Data => conn.data(macros).await,
                Event::Eom => Ok(Response::Continue),
            };
            if matches!(ev, Event::Mail(..)) {
                self.slots[i].in_message = true;
            }
            let verdict = match r {
                Ok(r) => self.decide(i, &ev, r),
                Err(e) => self.fail(i, ev.stage().name(), &e),
            };
            if let Some(v) = verdict {
                return v;
            }
        }
        Verdict::Continue
    }

    /// HELO/EHLO.
    pub async fn helo(&mut self, name: &str, macros: &MacroValues) -> Verdict {
        self.run(Event::Helo(name), macros).await
    }

    /// MAIL FROM (`sender` without angle brackets, `args` the ESMTP parameters). A transaction
    /// still open at the milters is aborted first.
    pub async fn mail(&mut self, sender: &str, args: &[String], macros: &MacroValues) -> Verdict {
        self.abort().await;
        self.run(Event::Mail(sender, args), macros).await
    }

    /// RCPT TO: a reject or tempfail is for this recipient only; `Discard` means the command is
    /// accepted and the message will be discarded.
    pub async fn rcpt(&mut self, rcpt: &str, args: &[String], macros: &MacroValues) -> Verdict {
        self.run(Event::Rcpt(rcpt, args), macros).await
    }

    /// DATA (or the first BDAT).
    pub async fn data(&mut self, macros: &MacroValues) -> Verdict {
        self.run(Event::Data, macros).await
    }

    /// End the transaction at the milters (RSET, a refused message, a new MAIL) and forget its
    /// discard/quarantine decisions.
    pub async fn abort(&mut self) {
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            if slot.state == State::AcceptedMessage {
                slot.state = State::Active;
            }
            if !std::mem::take(&mut slot.in_message) {
                continue;
            }
            if let Some(c) = slot.conn.as_mut()
                && let Err(e) = c.abort().await
            {
                self.fail(i, "abort", &e);
            }
        }
        self.discard = false;
        self.quarantine = None;
    }

    /// End of message: headers, end of headers, body and end of body to each milter in turn,
    /// each seeing the message as the milters before it left it. `macros` serves the EOH and
    /// EOM stages. The transaction is over afterwards.
    pub async fn message(&mut self, message: Message, macros: &MacroValues) -> Outcome {
        let mut out = Outcome {
            verdict: Verdict::Continue,
            message,
            envelope: EnvelopeEdits::default(),
            quarantine: None,
        };
        if self.discard {
            out.verdict = Verdict::Discard;
        } else {
            for i in 0..self.slots.len() {
                match &self.slots[i].state {
                    State::Active => {}
                    State::Done | State::AcceptedMessage => continue,
                    State::RefuseAll(v) => {
                        out.verdict = v.clone();
                        break;
                    }
                    State::Failed => match self.failed_answer(i) {
                        Some(v) => {
                            out.verdict = v;
                            break;
                        }
                        None => continue,
                    },
                }
                match self.message_to(i, &mut out, macros).await {
                    Ok(None) => {}
                    Ok(Some(v)) => {
                        out.verdict = v;
                        break;
                    }
                    Err(e) => {
                        if let Some(v) = self.fail(i, "eom", &e) {
                            out.verdict = v;
                            break;
                        }
                    }
                }
            }
        }
        out.quarantine = self.quarantine.take();
        if out.verdict != Verdict::Continue {
            // Milters that did not see the end of the message are told it is gone.
            self.abort().await;
        } else {
            for slot in &mut self.slots {
                slot.in_message = false;
                if slot.state == State::AcceptedMessage {
                    slot.state = State::Active;
                }
            }
            self.discard = false;
        }
        out
    }

    /// The message phase with one milter; `Some` when it decided for everyone.
    async fn message_to(
        &mut self,
        i: usize,
        out: &mut Outcome,
        macros: &MacroValues,
    ) -> Result<Option<Verdict>, MilterError> {
        let Some(conn) = self.slots[i].conn.as_mut() else {
            return Ok(None);
        };
        let strip = conn.strips_leading_space();
        let name = conn.name().to_string();
        let mut decided: Option<Response> = None;
        for h in &out.message.headers {
            let r = conn.header(h.name.trim_end(), &h.wire_value(strip)).await?;
            if r != Response::Continue {
                decided = Some(r);
                break;
            }
        }
        if decided.is_none() {
            let r = conn.end_of_headers(macros).await?;
            if r != Response::Continue {
                decided = Some(r);
            }
        }
        if decided.is_none() {
            for chunk in out.message.body().chunks(BODY_CHUNK) {
                match conn.body(chunk).await? {
                    Response::Continue => {}
                    Response::Skip => break,
                    r => {
                        decided = Some(r);
                        break;
                    }
                }
            }
        }
        let decision = match decided {
            Some(r) => r,
            None => {
                let eom = conn.end_of_message(macros).await?;
                let leading_space = !strip;
                for m in &eom.modifications {
                    out.message.apply(m, leading_space);
                    out.envelope.apply(m);
                }
                if !eom.modifications.is_empty() {
                    self.observe(&name, "eom", "modify");
                }
                if let Some(reason) = eom.quarantine {
                    tracing::info!(milter = %name, reason = %reason, "milter quarantined the message");
                    self.observe(&name, "eom", "quarantine");
                    self.quarantine = Some(reason);
                }
                self.slots[i].in_message = false;
                eom.decision
            }
        };
        Ok(self.decide(i, &Event::Eom, decision))
    }

    /// Close every milter connection (QUIT).
    pub async fn quit(self) {
        for slot in self.slots {
            if let Some(c) = slot.conn {
                c.quit().await;
            }
        }
    }
}
