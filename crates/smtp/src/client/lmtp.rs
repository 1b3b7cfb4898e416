//! The LMTP client (RFC 2033): smtp-mta's [`Transport`] to lmtp-mda.
//!
//! One transaction per [`DeliveryRequest`], on a connection kept open between deliveries
//! (Postfix's connection cache, `lmtp_connection_cache_*`):
//!
//! ```text
//!  connect (TCP or unix socket) ─ 220 ─ LHLO ─┬─ MAIL FROM [SIZE=] ─ RCPT × n ─ DATA ─ message ─ . ─ n replies ─┬─ idle ─ QUIT
//!                                             │   └──── one write when PIPELINING is advertised ────┘          │
//!                                             └──────────── the next delivery reuses the connection ◀───────────┘
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
//! - **Connection reuse.** A connection whose transaction ended cleanly (every reply read, no
//!   transaction open) waits up to [`LmtpTransport::IDLE_TIME`] for the next delivery (at most
//!   [`LmtpTransport::MAX_IDLE`] connections wait); then it is closed with `QUIT`. One that has
//!   anything to read when it is taken (the server's `421` at its shutdown or idle timeout, or
//!   its end of file) is dropped. A reused connection that breaks before any recipient was
//!   answered and before DATA (the server closed it meanwhile) costs nothing: the delivery is
//!   made again on a new connection. No message is sent twice because of reuse: nothing is
//!   made again once DATA went out.
//!
//! The queue id is sent with Postfix's `XFORWARD IDENT` before each `MAIL` when the server
//! announces it (lmtp-mda does): both services log the same id, and lmtp-mda's `250` reply,
//! logged here next to the queue id, names its own transaction too.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mailstack_net::{Connection, ListenAddr};
use mailstack_queue::{DeliveryOutcome, DeliveryRequest, RecipientOutcome, Transport};

use super::{
    Broken, Conn, Extensions, MessageBody, extensions, mail_command, send_body, send_envelope,
    smtp_path,
};

/// Delivers queued messages to an LMTP server (lmtp-mda). Clones share the idle connections.
#[derive(Debug, Clone)]
pub struct LmtpTransport {
    target: ListenAddr,
    lhlo_name: String,
    timeout: Duration,
    idle: Arc<IdleConnections>,
}

/// A connection between two transactions, with what its server announced.
struct IdleConn {
    conn: Conn<Connection>,
    ext: Extensions,
    since: Instant,
}

/// The connections waiting for the next delivery, newest last, and whether a task closes the
/// expired ones.
#[derive(Default)]
struct IdleConnections {
    state: Mutex<IdleState>,
}

#[derive(Default)]
struct IdleState {
    conns: Vec<IdleConn>,
    reaper_running: bool,
}

impl std::fmt::Debug for IdleConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.lock().conns.len();
        f.debug_struct("IdleConnections").field("idle", &n).finish()
    }
}

impl IdleConnections {
    fn lock(&self) -> std::sync::MutexGuard<'_, IdleState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest idle connection that has not expired and has nothing to read; expired or
    /// spoken-to ones found on the way are closed.
    async fn take(&self) -> Option<IdleConn> {
        loop {
            let mut idle = self.lock().conns.pop()?;
            if idle.since.elapsed() >= LmtpTransport::IDLE_TIME {
                tokio::spawn(idle.conn.quit());
                continue;
            }
            if idle.conn.has_input().await {
                // A 421 at the server's shutdown or idle timeout, or its end of file.
                continue;
            }
            return Some(idle);
        }
    }

    /// Keep `conn` for the next delivery, or close it when enough are kept already.
    fn put(self: &Arc<Self>, conn: Conn<Connection>, ext: Extensions) {
        let start_reaper = {
            let mut state = self.lock();
            if state.conns.len() >= LmtpTransport::MAX_IDLE {
                drop(state);
                tokio::spawn(conn.quit());
                return;
            }
            state.conns.push(IdleConn {
                conn,
                ext,
                since: Instant::now(),
            });
            !std::mem::replace(&mut state.reaper_running, true)
        };
        if start_reaper {
            tokio::spawn(Arc::clone(self).reap());
        }
    }

    /// Close connections as they expire; ends when none is left waiting (the next `put`
    /// starts another).
    async fn reap(self: Arc<Self>) {
        let mut wake = tokio::time::Instant::now() + LmtpTransport::IDLE_TIME;
        loop {
            tokio::time::sleep_until(wake).await;
            let (expired, oldest_left) = {
                let mut state = self.lock();
                let (old, young): (Vec<IdleConn>, Vec<IdleConn>) = std::mem::take(&mut state.conns)
                    .into_iter()
                    .partition(|c| c.since.elapsed() >= LmtpTransport::IDLE_TIME);
                state.conns = young;
                let oldest_left = state.conns.iter().map(|c| c.since).min();
                if oldest_left.is_none() {
                    state.reaper_running = false;
                }
                (old, oldest_left)
            };
            let closed = expired.len();
            for c in expired {
                c.conn.quit().await;
            }
            tracing::trace!(closed, "idle lmtp connections closed");
            match oldest_left {
                Some(since) => {
                    wake = tokio::time::Instant::from_std(since + LmtpTransport::IDLE_TIME)
                }
                None => return,
            }
        }
    }
}

impl LmtpTransport {
    /// How long a connection waits for the next delivery before it is closed (Postfix's
    /// `smtp_connection_cache_time_limit` is 2 s too).
    pub const IDLE_TIME: Duration = Duration::from_secs(2);

    /// Connections kept waiting at most; more are closed at once.
    pub const MAX_IDLE: usize = 32;

    /// A transport to `target` (`127.0.0.1:24` or `unix:/run/mailstack/lmtp.sock`) that greets
    /// with `LHLO <lhlo_name>` and waits at most `timeout` for connecting, each reply and each
    /// write.
    pub fn new(target: ListenAddr, lhlo_name: impl Into<String>, timeout: Duration) -> Self {
        LmtpTransport {
            target,
            lhlo_name: lhlo_name.into(),
            timeout,
            idle: Arc::default(),
        }
    }

    /// A new connection to the target.
    async fn connect(&self) -> Result<Connection, String> {
        match &self.target {
            ListenAddr::Tcp(addr) => {
                match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr)).await
                {
                    Ok(Ok(s)) => Ok(Connection::Tcp(s)),
                    Ok(Err(e)) => Err(format!("connect to {addr}: {e}")),
                    Err(_) => Err(format!("connect to {addr}: timed out")),
                }
            }
            ListenAddr::Unix(path) => {
                match tokio::time::timeout(self.timeout, tokio::net::UnixStream::connect(path))
                    .await
                {
                    Ok(Ok(s)) => Ok(Connection::Unix(s)),
                    Ok(Err(e)) => Err(format!("connect to unix:{}: {e}", path.display())),
                    Err(_) => Err(format!("connect to unix:{}: timed out", path.display())),
                }
            }
        }
    }
}

#[async_trait]
impl Transport for LmtpTransport {
    async fn deliver(&self, req: &DeliveryRequest) -> DeliveryOutcome {
        let qid = req.queue_id.as_str();
        let mut outcome = None;
        if let Some(idle) = self.idle.take().await {
            match self.session(idle.conn, Some(idle.ext), req).await {
                Ok(o) => outcome = Some(o),
                Err(why) => {
                    tracing::debug!(queue_id = qid, reason = %why.0, "idle lmtp connection gone; connecting anew");
                }
            }
        }
        let outcome = match outcome {
            Some(o) => o,
            None => match self.connect().await {
                Ok(stream) => {
                    let conn = Conn::new(stream, self.timeout);
                    match self.session(conn, None, req).await {
                        Ok(o) => o,
                        Err(why) => agent_failed(why.0),
                    }
                }
                Err(reason) => agent_failed(reason),
            },
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
    /// Nothing of the delivery was answered and no data went out.
    fn untouched(&self) -> bool {
        !self.data_sent && self.outcomes.iter().all(Option::is_none)
    }

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
    /// One transaction on `conn` (greeted already when `ext` is given). `Err` only when a
    /// reused connection broke before anything of this delivery was answered: the caller may
    /// make it again on a new connection.
    async fn session(
        &self,
        mut conn: Conn<Connection>,
        ext: Option<Extensions>,
        req: &DeliveryRequest,
    ) -> Result<DeliveryOutcome, Broken> {
        let reused = ext.is_some();
        let mut progress = Progress {
            outcomes: vec![None; req.recipients.len()],
            data_sent: false,
        };
        match self.transaction(&mut conn, ext, req, &mut progress).await {
            Ok(Some(ext)) => {
                self.idle.put(conn, ext);
                Ok(progress.done())
            }
            Ok(None) => {
                conn.quit().await;
                Ok(progress.done())
            }
            Err(why) if reused && progress.untouched() => Err(why),
            Err(why) => Ok(progress.broken(why)),
        }
    }

    /// Greet (unless `ext` says the connection is greeted already) and make the transaction.
    /// `Some(extensions)` when the connection can carry the next one.
    async fn transaction(
        &self,
        conn: &mut Conn<Connection>,
        ext: Option<Extensions>,
        req: &DeliveryRequest,
        progress: &mut Progress,
    ) -> Result<Option<Extensions>, Broken> {
        let ext = match ext {
            Some(ext) => ext,
            None => self.greet(conn).await?,
        };
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
        let accepted = match envelope {
            Some(accepted) if !accepted.is_empty() => accepted,
            // The sender was refused (that answers every recipient), or every recipient was:
            // end the transaction so that the connection can carry the next one.
            _ => {
                return Ok(conn.reset().await.then_some(ext));
            }
        };

        conn.write(b"DATA\r\n").await?;
        conn.flush().await?;
        let data = conn.reply().await?;
        if data.code != 354 {
            let o = data.data_refused_outcome();
            for &i in &accepted {
                progress.outcomes[i] = Some(o.clone());
            }
            return Ok(None);
        }
        progress.data_sent = true;
        send_body(conn, MessageBody::File(&req.message_path)).await?;
        for &i in &accepted {
            let r = conn.reply().await?;
            progress.outcomes[i] = Some(r.outcome());
        }
        Ok(Some(ext))
    }

    /// Read the greeting and say LHLO; what the server announced.
    async fn greet(&self, conn: &mut Conn<Connection>) -> Result<Extensions, Broken> {
        let greeting = conn.reply().await?;
        if greeting.class() != 2 {
            return Err(Broken(format!("greeting: {}", greeting.text)));
        }
        let lhlo = conn.command(&format!("LHLO {}", self.lhlo_name)).await?;
        if lhlo.class() != 2 {
            return Err(Broken(format!("LHLO: {}", lhlo.text)));
        }
        Ok(extensions(&lhlo))
    }
}
