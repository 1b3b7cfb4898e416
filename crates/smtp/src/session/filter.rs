//! Per-connection content filters (smtp-mta's milters) as the session sees them: a
//! [`SessionFilter`] opened by the handler at connect and told about HELO, MAIL, each accepted
//! RCPT, DATA, RSET and the end of the connection. The message itself goes to the filter from
//! the handler's [`MailHandler::deliver_filtered`](super::MailHandler::deliver_filtered), after
//! the handler's own checks and trace headers, so filters see the message as it will be queued.
//!
//! Order per command: the session's own checks and the handler's (`check_sender`,
//! `check_recipient`) first, then the filter; a command refused by either is not shown to the
//! other (Postfix does the same with `smtpd_*_restrictions` before milters).

use async_trait::async_trait;

use super::{Ending, Envelope, Io, RecipientParams, SessionConfig, SessionStream};
use crate::lines::{Line, read_line};
use crate::reply::Reply;

/// What the filters made of a message at its end.
#[derive(Debug)]
pub enum Filtered {
    /// Deliver it, with the filters' changes.
    Accept(FilteredMessage),
    /// Refuse it with this reply (4xx or 5xx).
    Refuse(Reply),
    /// Answer `250` and drop it.
    Discard,
}

/// A message as the filters left it.
#[derive(Debug, Default)]
pub struct FilteredMessage {
    /// The message bytes (headers and body edited).
    pub message: Vec<u8>,
    /// A new envelope sender (without angle brackets; empty for `<>`), if changed.
    pub sender: Option<String>,
    /// Recipients added (without angle brackets).
    pub added: Vec<String>,
    /// Recipients deleted (as they were given, without angle brackets).
    pub deleted: Vec<String>,
    /// Put the message on hold in the queue with this reason (quarantine).
    pub hold: Option<String>,
}

/// The filters of one SMTP connection. `Err` replies are sent instead of the usual reply;
/// a `421` reply also ends the session.
#[async_trait]
pub trait SessionFilter: Send {
    /// After EHLO/HELO (the envelope has the HELO name).
    async fn helo(&mut self, envelope: &Envelope) -> Result<(), Reply>;
    /// After the handler accepted MAIL (the envelope has the sender and transaction id).
    async fn mail(&mut self, envelope: &Envelope) -> Result<(), Reply>;
    /// After the handler accepted the recipient `address`; `Err` refuses this recipient only.
    async fn rcpt(
        &mut self,
        envelope: &Envelope,
        address: &str,
        params: &RecipientParams,
    ) -> Result<(), Reply>;
    /// At DATA (before `354`) or the first BDAT chunk.
    async fn data(&mut self, envelope: &Envelope) -> Result<(), Reply>;
    /// The whole message with the recipients accepted so far.
    async fn message(
        &mut self,
        envelope: &Envelope,
        recipients: &[String],
        message: Vec<u8>,
    ) -> Filtered;
    /// The transaction ended without a message (RSET, a refused message).
    async fn abort(&mut self);
    /// The connection ends.
    async fn close(self: Box<Self>);
}

/// The session's optional filter, so the state machine calls it unconditionally.
#[derive(Default)]
pub(super) struct Filters(pub(super) Option<Box<dyn SessionFilter>>);

impl Filters {
    pub(super) async fn helo(&mut self, env: &Envelope) -> Result<(), Reply> {
        match &mut self.0 {
            Some(f) => f.helo(env).await,
            None => Ok(()),
        }
    }
    pub(super) async fn mail(&mut self, env: &Envelope) -> Result<(), Reply> {
        match &mut self.0 {
            Some(f) => f.mail(env).await,
            None => Ok(()),
        }
    }
    pub(super) async fn rcpt(
        &mut self,
        env: &Envelope,
        address: &str,
        params: &RecipientParams,
    ) -> Result<(), Reply> {
        match &mut self.0 {
            Some(f) => f.rcpt(env, address, params).await,
            None => Ok(()),
        }
    }
    pub(super) async fn data(&mut self, env: &Envelope) -> Result<(), Reply> {
        match &mut self.0 {
            Some(f) => f.data(env).await,
            None => Ok(()),
        }
    }
    pub(super) async fn abort(&mut self) {
        if let Some(f) = &mut self.0 {
            f.abort().await;
        }
    }
    pub(super) async fn close(self) {
        if let Some(f) = self.0 {
            f.close().await;
        }
    }
    pub(super) fn as_dyn(&mut self) -> Option<&mut (dyn SessionFilter + 'static)> {
        self.0.as_deref_mut()
    }
}

/// A filter refused the connection at connect: a permanent refusal is the greeting (`554`),
/// after which every command but QUIT gets `503 5.5.1` (RFC 5321 §3.1) until the client quits
/// or makes too many errors; a temporary one is `421` and the end.
pub(super) async fn refuse_connection<S: SessionStream>(
    io: &mut Io<S>,
    cfg: &SessionConfig,
    reply: Reply,
) -> Ending {
    let mut out = reply.to_wire();
    if reply.code < 500 {
        let _ = io.send(&mut out, cfg.timeout).await;
        return Ending::Refused;
    }
    if io.send(&mut out, cfg.timeout).await.is_err() {
        return Ending::IoError;
    }
    for _ in 0..cfg.max_errors {
        let line = match tokio::time::timeout(
            cfg.timeout,
            read_line(&mut io.rd, cfg.max_line_length, false),
        )
        .await
        {
            Ok(Ok(Line::Complete(l) | Line::Partial(l))) => l,
            Ok(Ok(Line::TooLong)) => Vec::new(),
            _ => return Ending::Refused,
        };
        let mut out = if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"QUIT") {
            let mut bye = Reply::bye().to_wire();
            let _ = io.send(&mut bye, cfg.timeout).await;
            return Ending::Refused;
        } else {
            Reply::new(503, "5.5.1", "Error: access denied").to_wire()
        };
        if io.send(&mut out, cfg.timeout).await.is_err() {
            return Ending::IoError;
        }
    }
    let mut out = Reply::too_many_errors(&cfg.hostname).to_wire();
    let _ = io.send(&mut out, cfg.timeout).await;
    Ending::Refused
}
