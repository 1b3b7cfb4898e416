//! The LMTP client (RFC 2033): smtp-mta's [`Transport`] to lmtp-mda.
//!
//! One connection per [`DeliveryRequest`]:
//!
//! ```text
//!  connect (TCP or unix socket) ─ 220 ─ LHLO ─ MAIL FROM [SIZE=] ─ RCPT × n ─ DATA ─ message ─ . ─ n replies ─ QUIT
//!                                               └──── one write when PIPELINING is advertised ────┘
//! ```
//!
//! - A `RCPT` answered `4xx` makes that recipient `Deferred`, `5xx` makes it `Failed` (status
//!   from the enhanced code, else `5.0.0`); the others go on to DATA.
//! - After the data, LMTP answers once per accepted recipient, in order: each reply becomes
//!   that recipient's outcome. Replies are kept verbatim (multi-line replies joined with `\n`).
//! - The message file is streamed in 64 KiB chunks: a `.` at the start of a line is doubled,
//!   a bare LF becomes CRLF, a missing final CRLF is added, then `.` ends the data.
//! - Connection refused, timeout, or a broken connection before any recipient got an answer:
//!   [`DeliveryOutcome::AgentFailed`], which backs off the whole transport in the queue. A
//!   connection that breaks after DATA was sent leaves every unanswered recipient `Deferred`
//!   (the message may have been delivered; at-least-once).
//!
//! The queue id is not sent on the wire (LMTP has no field for it and we add no header):
//! every log line of this client carries `queue_id`, and lmtp-mda logs its own transaction id,
//! which its `250` reply contains; that reply is logged here next to the queue id.

use std::time::Duration;

use async_trait::async_trait;
use mailstack_net::ListenAddr;
use mailstack_queue::{DeliveryOutcome, DeliveryRequest, RecipientOutcome, Transport};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    Broken, Conn, MessageBody, extensions, mail_command, send_body, send_envelope, smtp_path,
};

/// Delivers queued messages to an LMTP server (lmtp-mda).
#[derive(Debug, Clone)]
pub struct LmtpTransport {
    target: ListenAddr,
    lhlo_name: String,
    timeout: Duration,
}

impl LmtpTransport {
    /// A transport to `target` (`127.0.0.1:24` or `unix:/run/mailstack/lmtp.sock`) that greets
    /// with `LHLO <lhlo_name>` and waits at most `timeout` for connecting, each reply and each
    /// write.
    pub fn new(target: ListenAddr, lhlo_name: impl Into<String>, timeout: Duration) -> Self {
        LmtpTransport {
            target,
            lhlo_name: lhlo_name.into(),
            timeout,
        }
    }
}

#[async_trait]
impl Transport for LmtpTransport {
    async fn deliver(&self, req: &DeliveryRequest) -> DeliveryOutcome {
        let qid = req.queue_id.as_str();
        let outcome = match &self.target {
            ListenAddr::Tcp(addr) => {
                match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr)).await
                {
                    Ok(Ok(s)) => self.session(s, req).await,
                    Ok(Err(e)) => agent_failed(format!("connect to {addr}: {e}")),
                    Err(_) => agent_failed(format!("connect to {addr}: timed out")),
                }
            }
            ListenAddr::Unix(path) => {
                match tokio::time::timeout(self.timeout, tokio::net::UnixStream::connect(path))
                    .await
                {
                    Ok(Ok(s)) => self.session(s, req).await,
                    Ok(Err(e)) => agent_failed(format!("connect to unix:{}: {e}", path.display())),
                    Err(_) => {
                        agent_failed(format!("connect to unix:{}: timed out", path.display()))
                    }
                }
            }
        };
        match &outcome {
            DeliveryOutcome::AgentFailed { reason } => {
                tracing::warn!(queue_id = qid, target = %self.target, reason = %reason, "lmtp delivery failed");
            }
            DeliveryOutcome::PerRecipient(list) => {
                for (rcpt, o) in req.recipients.iter().zip(list) {
                    let (status, reply) = match o {
                        RecipientOutcome::Delivered { reply } => ("sent", reply),
                        RecipientOutcome::Deferred { reply } => ("deferred", reply),
                        RecipientOutcome::Failed { reply, .. } => ("bounced", reply),
                    };
                    tracing::info!(queue_id = qid, to = %format_args!("<{rcpt}>"), relay = %self.target, status, reply = %reply, "lmtp");
                }
            }
        }
        outcome
    }
}

fn agent_failed(reason: String) -> DeliveryOutcome {
    DeliveryOutcome::AgentFailed { reason }
}

/// Per-recipient state during a session.
struct Progress {
    outcomes: Vec<Option<RecipientOutcome>>,
    data_sent: bool,
}

impl Progress {
    /// The result when the session broke: before DATA with nobody answered it is the agent's
    /// failure; otherwise every unanswered recipient is deferred.
    fn broken(self, why: Broken) -> DeliveryOutcome {
        let answered = self.outcomes.iter().any(Option::is_some);
        if !self.data_sent && !answered {
            return agent_failed(why.0);
        }
        let reply = format!("451 4.4.2 LMTP connection broken: {}", why.0);
        DeliveryOutcome::PerRecipient(
            self.outcomes
                .into_iter()
                .map(|o| {
                    o.unwrap_or_else(|| RecipientOutcome::Deferred {
                        reply: reply.clone(),
                    })
                })
                .collect(),
        )
    }

    fn done(self) -> DeliveryOutcome {
        DeliveryOutcome::PerRecipient(
            self.outcomes
                .into_iter()
                .map(|o| {
                    o.unwrap_or_else(|| RecipientOutcome::Deferred {
                        reply: "451 4.4.2 no reply from the LMTP server".to_string(),
                    })
                })
                .collect(),
        )
    }
}

impl LmtpTransport {
    async fn session<S>(&self, stream: S, req: &DeliveryRequest) -> DeliveryOutcome
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut conn = Conn::new(stream, self.timeout);
        let mut progress = Progress {
            outcomes: vec![None; req.recipients.len()],
            data_sent: false,
        };
        match self.transaction(&mut conn, req, &mut progress).await {
            Ok(()) => {
                // Best effort: the outcome is decided; do not wait long for 221.
                if conn.write(b"QUIT\r\n").await.is_ok() && conn.flush().await.is_ok() {
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn.reply()).await;
                }
                progress.done()
            }
            Err(why) => progress.broken(why),
        }
    }

    async fn transaction<S>(
        &self,
        conn: &mut Conn<S>,
        req: &DeliveryRequest,
        progress: &mut Progress,
    ) -> Result<(), Broken>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let greeting = conn.reply().await?;
        if greeting.class() != 2 {
            return Err(Broken(format!("greeting: {}", greeting.text)));
        }
        conn.write(format!("LHLO {}\r\n", self.lhlo_name).as_bytes())
            .await?;
        conn.flush().await?;
        let lhlo = conn.reply().await?;
        if lhlo.class() != 2 {
            return Err(Broken(format!("LHLO: {}", lhlo.text)));
        }
        let ext = extensions(&lhlo);
        if ext.xforward_ident {
            // The delivery agent logs and records our queue id (Postfix's XFORWARD IDENT), so
            // one id follows the message across both services.
            conn.write(format!("XFORWARD IDENT={}\r\n", req.queue_id).as_bytes())
                .await?;
            conn.flush().await?;
            let reply = conn.reply().await?;
            if reply.class() != 2 {
                return Err(Broken(format!("XFORWARD: {}", reply.text)));
            }
        }

        let mut mail = mail_command(req, &ext);
        mail.push_str("\r\n");
        let rcpts: Vec<String> = req
            .recipients
            .iter()
            .map(|r| format!("RCPT TO:<{}>\r\n", smtp_path(r)))
            .collect();

        // MAIL and RCPTs: one write with PIPELINING, else one command per round trip.
        let envelope =
            send_envelope(conn, &mail, &rcpts, ext.pipelining, &mut progress.outcomes).await?;
        let Some(accepted) = envelope else {
            // The sender was refused: that answers every recipient.
            let _ = conn.write(b"RSET\r\n").await;
            let _ = conn.flush().await;
            let _ = conn.reply().await;
            return Ok(());
        };
        if accepted.is_empty() {
            return Ok(());
        }

        conn.write(b"DATA\r\n").await?;
        conn.flush().await?;
        let data = conn.reply().await?;
        if data.code != 354 {
            let o = data.data_refused_outcome();
            for &i in &accepted {
                progress.outcomes[i] = Some(o.clone());
            }
            return Ok(());
        }
        progress.data_sent = true;
        send_body(conn, MessageBody::File(&req.message_path)).await?;
        for &i in &accepted {
            let r = conn.reply().await?;
            progress.outcomes[i] = Some(r.outcome());
        }
        Ok(())
    }
}
