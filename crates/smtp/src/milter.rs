//! smtp-mta's milters as a [`SessionFilter`]: the SMTP session's events go to the
//! [`mailstack_milter`] chain with the macros Postfix would send, and the chain's verdicts come
//! back as SMTP replies (with enhanced status codes).
//!
//! Replies, as Postfix gives them: a refusal at connect is the `554` greeting (`421` when
//! temporary); at HELO, MAIL, RCPT (that recipient only) and DATA the milter's reply or
//! `550 5.7.1 Command rejected` / `451 4.7.1 Service unavailable - try again later`; a milter's
//! own reply without an enhanced status code gets `5.7.1` / `4.7.1`; "shutdown" is
//! `421 4.7.0 <host> Server closing connection`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use mailstack_milter::{MacroValues, Message, MilterSession, Milters, Peer, SmtpReply, Verdict};

use crate::reply::Reply;
use crate::session::{Envelope, Filtered, FilteredMessage, RecipientParams, SessionFilter};

/// What the macros say about us.
#[derive(Debug, Clone)]
pub struct MilterContext {
    /// Our host name (`j`, `{daemon_name}`).
    pub hostname: String,
    /// Which listener (`mx` or `relay`), for logs.
    pub listener: &'static str,
}

/// The milters of one SMTP connection.
pub struct MilterFilter {
    session: MilterSession,
    ctx: Arc<MilterContext>,
    /// Connect-stage macros, repeated in later stages (libmilter keeps them too, but a milter
    /// that asked for them per stage with SETSYMLIST gets them there).
    base: MacroValues,
}

/// Connect to the milters and send the connect event. `Err` is the reply refusing the
/// connection.
pub async fn open(
    milters: &Milters,
    ctx: Arc<MilterContext>,
    env: &Envelope,
) -> Result<MilterFilter, Reply> {
    let peer = match env.peer.parse::<SocketAddr>() {
        Ok(a) => Peer::Inet(a),
        Err(_) if env.peer.starts_with("unix") => Peer::Unix(env.peer.clone()),
        Err(_) => Peer::Unknown,
    };
    let mut base: MacroValues = HashMap::new();
    let mut set = |k: &str, v: String| {
        base.insert(k.to_string(), v);
    };
    set("j", ctx.hostname.clone());
    set("daemon_name", ctx.hostname.clone());
    set("v", format!("mailstack {}", env!("CARGO_PKG_VERSION")));
    // No reverse DNS lookup: the client name is "unknown", as in Postfix without one.
    set("client_name", "unknown".into());
    set("client_ptr", "unknown".into());
    if let Peer::Inet(a) = &peer {
        set("client_addr", a.ip().to_string());
        set("client_port", a.port().to_string());
        set("_", format!("unknown [{}]", a.ip()));
    } else {
        set("_", "unknown".into());
    }
    let (session, verdict) = milters.connect("unknown", &peer, &base).await;
    let filter = MilterFilter { session, ctx, base };
    match verdict {
        Verdict::Continue | Verdict::Discard => Ok(filter),
        Verdict::Reject(r) => {
            tracing::info!(peer = %env.peer, reply = ?r.lines, "milter refused the connection");
            filter.session.quit().await;
            Err(to_reply(554, &r))
        }
        Verdict::Tempfail(r) => {
            tracing::info!(peer = %env.peer, reply = ?r.lines, "milter deferred the connection");
            filter.session.quit().await;
            Err(to_reply(421, &r))
        }
        Verdict::Shutdown => {
            let reply = shutdown(&filter.ctx.hostname);
            filter.session.quit().await;
            Err(reply)
        }
    }
}

fn shutdown(hostname: &str) -> Reply {
    Reply::new(
        421,
        "4.7.0",
        format!("{hostname} Server closing connection"),
    )
}

/// A milter's reply as ours: `code` replaces its code (at connect), lines without an enhanced
/// status code get the default one of its class.
fn to_reply(code: u16, r: &SmtpReply) -> Reply {
    let (class, default) = if code >= 500 {
        ('5', "5.7.1")
    } else {
        ('4', "4.7.1")
    };
    let text = r
        .lines
        .iter()
        .map(|l| {
            let (first, rest) = l.split_once(' ').unwrap_or((l, ""));
            match (is_enhanced(first), first.starts_with(class)) {
                (true, true) => l.clone(),
                // An enhanced code of the other class (a 5xx made 421 at connect): ours.
                (true, false) => format!("{default} {rest}"),
                (false, _) => format!("{default} {l}"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    Reply::new(code, "", text)
}

/// `x.y.z` with 1–3 digits each (RFC 3463).
fn is_enhanced(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

impl MilterFilter {
    fn macros(&self, env: &Envelope) -> MacroValues {
        let mut m = self.base.clone();
        if !env.id.is_empty() {
            m.insert("i".into(), env.id.clone());
        }
        if let Some(tls) = &env.tls {
            // "TLSv1_3 with cipher TLS13_AES_256_GCM_SHA384"
            let mut parts = tls.split(" with cipher ");
            if let Some(v) = parts.next() {
                m.insert("tls_version".into(), v.replace('_', "."));
            }
            if let Some(c) = parts.next() {
                m.insert("cipher".into(), c.to_string());
                let bits = if c.contains("256") || c.contains("CHACHA20") {
                    "256"
                } else {
                    "128"
                };
                m.insert("cipher_bits".into(), bits.into());
            }
        }
        if let Some(user) = &env.auth_user {
            m.insert("auth_authen".into(), user.clone());
            m.insert("auth_type".into(), "PLAIN".into());
        }
        m.insert("mail_addr".into(), env.sender.clone());
        m
    }

    /// The verdict of an envelope stage as the command's reply.
    fn reply(&self, verdict: Verdict) -> Result<(), Reply> {
        match verdict {
            Verdict::Continue | Verdict::Discard => Ok(()),
            Verdict::Reject(r) => Err(to_reply(r.code, &r)),
            Verdict::Tempfail(r) => Err(to_reply(r.code, &r)),
            Verdict::Shutdown => Err(shutdown(&self.ctx.hostname)),
        }
    }
}

/// ESMTP parameters of MAIL as the envelope kept them.
fn mail_args(env: &Envelope) -> Vec<String> {
    let mut args = Vec::new();
    if env.declared_size > 0 {
        args.push(format!("SIZE={}", env.declared_size));
    }
    if env.smtputf8 {
        args.push("SMTPUTF8".into());
    }
    if env.ret_full {
        args.push("RET=FULL".into());
    }
    if let Some(id) = &env.env_id {
        args.push(format!("ENVID={id}"));
    }
    args
}

fn rcpt_args(params: &RecipientParams) -> Vec<String> {
    let mut args = Vec::new();
    if params.notify != 0 {
        let mut n = Vec::new();
        for (bit, name) in [
            (smtp_proto::RCPT_NOTIFY_NEVER, "NEVER"),
            (smtp_proto::RCPT_NOTIFY_SUCCESS, "SUCCESS"),
            (smtp_proto::RCPT_NOTIFY_FAILURE, "FAILURE"),
            (smtp_proto::RCPT_NOTIFY_DELAY, "DELAY"),
        ] {
            if params.notify & bit != 0 {
                n.push(name);
            }
        }
        args.push(format!("NOTIFY={}", n.join(",")));
    }
    if let Some(o) = &params.orcpt {
        args.push(format!("ORCPT=rfc822;{o}"));
    }
    args
}

#[async_trait]
impl SessionFilter for MilterFilter {
    async fn helo(&mut self, env: &Envelope) -> Result<(), Reply> {
        let m = self.macros(env);
        let v = self.session.helo(&env.helo, &m).await;
        log_refusal(&self.ctx, env, "HELO", &v);
        self.reply(v)
    }

    async fn mail(&mut self, env: &Envelope) -> Result<(), Reply> {
        let m = self.macros(env);
        let v = self.session.mail(&env.sender, &mail_args(env), &m).await;
        log_refusal(&self.ctx, env, "MAIL", &v);
        self.reply(v)
    }

    async fn rcpt(
        &mut self,
        env: &Envelope,
        address: &str,
        params: &RecipientParams,
    ) -> Result<(), Reply> {
        let mut m = self.macros(env);
        m.insert("rcpt_addr".into(), address.to_string());
        let v = self.session.rcpt(address, &rcpt_args(params), &m).await;
        log_refusal(&self.ctx, env, "RCPT", &v);
        self.reply(v)
    }

    async fn data(&mut self, env: &Envelope) -> Result<(), Reply> {
        let m = self.macros(env);
        let v = self.session.data(&m).await;
        log_refusal(&self.ctx, env, "DATA", &v);
        self.reply(v)
    }

    async fn message(
        &mut self,
        env: &Envelope,
        _recipients: &[String],
        message: Vec<u8>,
    ) -> Filtered {
        let parsed = Message::parse(&message);
        drop(message);
        let mut m = self.macros(env);
        if let Some(h) = parsed
            .headers
            .iter()
            .find(|h| h.name.trim().eq_ignore_ascii_case("message-id"))
        {
            let id = String::from_utf8_lossy(&h.wire_value(true))
                .trim()
                .to_string();
            m.insert("msg_id".into(), id);
        }
        let out = self.session.message(parsed, &m).await;
        log_refusal(&self.ctx, env, "END-OF-MESSAGE", &out.verdict);
        match out.verdict {
            Verdict::Continue => Filtered::Accept(FilteredMessage {
                message: out.message.to_bytes(),
                sender: out.envelope.sender.map(|(s, _)| s),
                added: out.envelope.added.into_iter().map(|(a, _)| a).collect(),
                deleted: out.envelope.deleted,
                hold: out.quarantine,
            }),
            Verdict::Discard => Filtered::Discard,
            v => Filtered::Refuse(
                self.reply(v)
                    .err()
                    .unwrap_or_else(|| Reply::temporary("Temporary failure")),
            ),
        }
    }

    async fn abort(&mut self) {
        self.session.abort().await;
    }

    async fn close(self: Box<Self>) {
        self.session.quit().await;
    }
}

fn log_refusal(ctx: &MilterContext, env: &Envelope, stage: &str, v: &Verdict) {
    let listener = ctx.listener;
    match v {
        Verdict::Continue => {}
        Verdict::Discard => {
            tracing::info!(id = %env.id, client = %env.peer, listener, stage, "milter-discard");
        }
        Verdict::Reject(r) | Verdict::Tempfail(r) => {
            tracing::info!(id = %env.id, client = %env.peer, listener, from = %env.sender, stage, code = r.code, reply = ?r.lines, "milter-reject");
        }
        Verdict::Shutdown => {
            tracing::info!(id = %env.id, client = %env.peer, listener, stage, "milter asked to close the connection");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milter_replies_get_enhanced_codes() {
        let r = |code, text: &str| SmtpReply {
            code,
            lines: vec![text.to_string()],
        };
        assert_eq!(
            to_reply(550, &r(550, "5.7.1 Spam")).to_wire(),
            "550 5.7.1 Spam\r\n"
        );
        assert_eq!(
            to_reply(550, &r(550, "Spam")).to_wire(),
            "550 5.7.1 Spam\r\n"
        );
        assert_eq!(
            to_reply(451, &r(451, "later")).to_wire(),
            "451 4.7.1 later\r\n"
        );
        // At connect a 5xx becomes 554 and a 4xx 421, keeping the text.
        assert_eq!(
            to_reply(421, &r(451, "4.7.1 Service unavailable - try again later")).to_wire(),
            "421 4.7.1 Service unavailable - try again later\r\n"
        );
        assert_eq!(
            to_reply(554, &r(550, "5.7.1 go away")).to_wire(),
            "554 5.7.1 go away\r\n"
        );
        let multi = SmtpReply {
            code: 550,
            lines: vec!["5.7.1 first".into(), "5.7.1 second".into()],
        };
        assert_eq!(
            to_reply(550, &multi).to_wire(),
            "550-5.7.1 first\r\n550 5.7.1 second\r\n"
        );
        assert_eq!(
            rcpt_args(&RecipientParams {
                orcpt: Some("a@b".into()),
                notify: smtp_proto::RCPT_NOTIFY_SUCCESS | smtp_proto::RCPT_NOTIFY_FAILURE
            }),
            vec!["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;a@b"]
        );
    }
}
