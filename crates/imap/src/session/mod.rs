//! One IMAP connection, from greeting to `BYE`: the command loop over the store.
//!
//! ```text
//!  stream ──read──▶ CommandFramer ──▶ parse_command ──▶ dispatch (table below) ──▶ cmd handler
//!     ▲                 │ NeedContinuation ("+ Ready")                              │ untagged data
//!     └──── write ◀──── out buffer ◀── sync + MailboxView::flush ◀── Done (tagged) ◀─┘
//! ```
//!
//! [`run_imap_session`] runs one session over any [`ImapStream`] (a [`mailstack_net::Connection`]
//! in production, a `tokio::io::DuplexStream` in tests). Authentication goes to the
//! [`Directory`]; mailboxes to the [`Store`]; new mail during IDLE comes from the process's one
//! [`MaildirWatcher`].
//!
//! Before every tagged completion of a command issued with a mailbox selected, the session
//! syncs the mailbox and tells the client what other sessions and deliveries changed, through
//! [`MailboxView`](crate::view::MailboxView): `EXISTS` and flag `FETCH`es after any command,
//! `EXPUNGE` never after FETCH, STORE or SEARCH by sequence number.
//!
//! # Implemented
//!
//! CAPABILITY, NOOP, CHECK, LOGOUT, LOGIN, AUTHENTICATE PLAIN (SASL-IR), SELECT, EXAMINE, LIST
//! (`""`/`*`/`%` patterns, no LIST-EXTENDED selection options), STATUS (MESSAGES, UIDNEXT,
//! UIDVALIDITY, UNSEEN, RECENT), CREATE, DELETE, APPEND (one message; APPENDUID is sent),
//! IDLE, [UID] FETCH (every item but MODSEQ: ENVELOPE, BODY, BODYSTRUCTURE, body sections
//! with .PEEK and partials, BINARY / BINARY.SIZE (RFC 3516; APPEND takes literal8), PREVIEW
//! (RFC 8970), SAVEDATE (RFC 8514), EMAILID / THREADID (RFC 8474): see `fetch`), [UID] STORE,
//! [UID] SEARCH, EXPUNGE, CLOSE, UNSELECT.
//!
//! # Not implemented (answered `BAD`/`NO [CANNOT]`, not advertised)
//!
//! STARTTLS (no acceptor is given to the session: use implicit TLS on 993), COPY/MOVE,
//! RENAME, SUBSCRIBE/LSUB, NAMESPACE, ENABLE, ID, SORT/THREAD, CONDSTORE/QRESYNC, ESEARCH,
//! MULTIAPPEND, QUOTA, COMPRESS, OBJECTID (its FETCH items are there; MAILBOXID is not).
//! Hence only `IMAP4rev1` is announced, not `IMAP4rev2`, and not `UIDPLUS` (no COPYUID,
//! no UID EXPUNGE).

mod auth;
mod convert;
mod fetch;
mod mailboxes;
mod reply;
mod selected;

use std::sync::Arc;
use std::time::Duration;

use mailstack_directory::Directory;
use mailstack_store::{Quota, Store, UserStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};

use crate::proto::{
    Code, Command, CommandBody, CommandFramer, Continuation, Data, Frame, Limits, Response,
    StatusKind, StatusResponse, parse_command, parse_idle_done,
};
use crate::watch::{MaildirWatcher, Subscription};
use reply::Done;
use selected::Selected;

/// The session's settings (the `[imap]` section as the session needs it).
#[derive(Debug, Clone)]
pub struct ImapConfig {
    /// Allow LOGIN and AUTHENTICATE PLAIN without TLS (default `false`: `LOGINDISABLED` is
    /// advertised and both answer `NO [PRIVACYREQUIRED]`). For tests and trusted networks.
    pub allow_plaintext_auth: bool,
    /// The command framer's limits (line and literal sizes).
    pub limits: Limits,
    /// Delay before answering a failed login; the n-th failure of a connection waits n times
    /// this (default 2 s).
    pub auth_failure_delay: Duration,
    /// Failed logins after which the connection is closed (default 3).
    pub max_auth_failures: u32,
    /// Inactivity after which the server logs the client out, IDLE included (default 30 min,
    /// the RFC 9051 minimum).
    pub autologout: Duration,
    /// How often an idling session looks at its mailbox when inotify could not watch it
    /// (default 5 s).
    pub idle_poll: Duration,
    /// Folders created with the INBOX at a user's first login (default: Drafts, Sent, Trash,
    /// Junk, Archive).
    pub default_folders: Vec<String>,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            allow_plaintext_auth: false,
            limits: Limits::default(),
            auth_failure_delay: Duration::from_secs(2),
            max_auth_failures: 3,
            autologout: Duration::from_secs(30 * 60),
            idle_poll: Duration::from_secs(5),
            default_folders: mailstack_store::DEFAULT_FOLDERS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// A byte stream a session can run over, and whether it is encrypted.
pub trait ImapStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// `true` when the stream is TLS (implicit TLS on 993).
    fn is_tls(&self) -> bool;
}

impl ImapStream for mailstack_net::Connection {
    fn is_tls(&self) -> bool {
        self.tls_info().is_some()
    }
}

impl ImapStream for DuplexStream {
    fn is_tls(&self) -> bool {
        false
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ending {
    /// LOGOUT.
    Logout,
    /// The client closed the connection.
    ClientClosed,
    /// Inactive for [`ImapConfig::autologout`].
    Timeout,
    /// Too many failed logins, or a literal too large to discard.
    TooManyErrors,
    /// The server is shutting down.
    Shutdown,
    /// An I/O error on the connection.
    IoError,
}

/// Run one IMAP session until LOGOUT, disconnect, timeout or shutdown.
pub async fn run_imap_session<S: ImapStream>(
    stream: S,
    peer: String,
    config: Arc<ImapConfig>,
    directory: Arc<dyn Directory>,
    store: Store,
    watcher: MaildirWatcher,
    shutdown: mailstack_net::Shutdown,
) -> Ending {
    let tls = stream.is_tls();
    let session = Session {
        stream,
        tls,
        peer,
        framer: CommandFramer::new(config.limits.clone()),
        config,
        directory,
        store,
        watcher,
        shutdown,
        out: Vec::new(),
        user: None,
        selected: None,
        mode: Mode::Command,
        auth_failures: 0,
        idle_sub: None,
    };
    session.run().await
}

/// The logged-in user.
struct Authed {
    store: UserStore,
    quota: Quota,
}

/// What the next frame is.
enum Mode {
    /// A command.
    Command,
    /// A SASL response line for the AUTHENTICATE with this tag.
    Sasl { tag: String },
    /// `DONE` ends the IDLE with this tag.
    Idle { tag: String },
}

/// What a command handler leaves behind.
enum Step {
    /// Completed: send the tagged response (after the mailbox updates).
    Done(Done),
    /// Waiting for more client input (AUTHENTICATE, IDLE).
    Pending,
    /// Close the connection (responses already queued).
    End(Ending),
}

/// Which sessions a command is valid in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    Any,
    NotAuthenticated,
    Authenticated,
    Selected,
}

/// The command table: the state a command needs, and whether EXPUNGE responses may follow it
/// (not after FETCH, STORE, SEARCH by sequence number). `None`: not implemented.
fn command_spec(body: &CommandBody) -> Option<(Needs, bool)> {
    use CommandBody as C;
    Some(match body {
        C::Capability | C::Noop | C::Logout => (Needs::Any, true),
        C::Login { .. } | C::Authenticate { .. } => (Needs::NotAuthenticated, true),
        C::Select { .. }
        | C::Examine { .. }
        | C::Create { .. }
        | C::Delete(_)
        | C::List { .. }
        | C::Status { .. }
        | C::Append { .. }
        | C::Idle => (Needs::Authenticated, true),
        C::Check | C::Close | C::Unselect | C::Expunge => (Needs::Selected, true),
        C::Fetch { uid, .. } | C::Store { uid, .. } | C::Search { uid, .. } => {
            (Needs::Selected, *uid)
        }
        _ => return None,
    })
}

struct Session<S> {
    stream: S,
    tls: bool,
    peer: String,
    config: Arc<ImapConfig>,
    directory: Arc<dyn Directory>,
    store: Store,
    watcher: MaildirWatcher,
    shutdown: mailstack_net::Shutdown,
    framer: CommandFramer,
    out: Vec<u8>,
    user: Option<Authed>,
    selected: Option<Selected>,
    mode: Mode,
    auth_failures: u32,
    /// The watch on the selected folder, held only while idling.
    idle_sub: Option<Subscription>,
}

impl<S> Drop for Session<S> {
    fn drop(&mut self) {
        if let Some(sub) = self.idle_sub.take() {
            unsubscribe(sub);
        }
    }
}

/// Wait for a change of the idling mailbox (or a poll tick without inotify); never otherwise.
async fn idle_wake(sub: Option<&mut Subscription>, selected: bool, idling: bool, poll: Duration) {
    match sub {
        Some(sub) if idling => sub.changed().await,
        None if idling && selected => tokio::time::sleep(poll).await,
        _ => std::future::pending().await,
    }
}

/// Subscribe to a folder without blocking the runtime: `MaildirWatcher::subscribe` and the
/// drop of a [`Subscription`] make synchronous round trips to the inotify thread. In the current
/// `watch` module they also hold the folder map's lock during that round trip while the inotify
/// thread's `dispatch` waits for the same lock, which can deadlock both threads; doing it on a
/// plain thread keeps the runtime alive if that happens. After a second without an answer IDLE
/// falls back to polling every [`ImapConfig::idle_poll`].
async fn subscribe(watcher: MaildirWatcher, dir: std::path::PathBuf) -> Option<Subscription> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(watcher.subscribe(&dir));
    });
    match tokio::time::timeout(Duration::from_secs(1), rx).await {
        Ok(Ok(Ok(sub))) => Some(sub),
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "no inotify watch; IDLE polls");
            None
        }
        _ => None,
    }
}

/// Drop a subscription off the runtime (see [`subscribe`]).
fn unsubscribe(sub: Subscription) {
    std::thread::spawn(move || drop(sub));
}

impl<S: ImapStream> Session<S> {
    async fn run(mut self) -> Ending {
        tracing::debug!(peer = %self.peer, tls = self.tls, "imap session start");
        let caps = self.capabilities();
        self.send(Response::Status(StatusResponse {
            tag: None,
            kind: StatusKind::Ok,
            code: Some(Code::Capability(caps)),
            text: "mailstack ready".into(),
        }));
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            while let Some(item) = self.framer.next() {
                match item {
                    Ok(Frame::NeedContinuation) => self.send(Response::literal_ready()),
                    Ok(frame) => {
                        if let Some(ending) = self.on_frame(frame).await {
                            let _ = self.flush().await;
                            return ending;
                        }
                    }
                    Err(e) => {
                        self.send(e.response());
                        if e.is_fatal() {
                            let _ = self.flush().await;
                            return Ending::TooManyErrors;
                        }
                    }
                }
            }
            if self.flush().await.is_err() {
                return Ending::IoError;
            }
            let idling = matches!(self.mode, Mode::Idle { .. });
            let poll = self.config.idle_poll;
            tokio::select! {
                r = self.stream.read(&mut buf) => match r {
                    Ok(0) => return Ending::ClientClosed,
                    Ok(n) => self.framer.push(&buf[..n]),
                    Err(_) => return Ending::IoError,
                },
                _ = self.shutdown.triggered() => {
                    self.send(Response::status(None, StatusKind::Bye, "Server shutting down"));
                    let _ = self.flush().await;
                    return Ending::Shutdown;
                }
                _ = tokio::time::sleep(self.config.autologout) => {
                    self.send(Response::status(None, StatusKind::Bye, "Autologout; idle too long"));
                    let _ = self.flush().await;
                    return Ending::Timeout;
                }
                _ = idle_wake(self.idle_sub.as_mut(), self.selected.is_some(), idling, poll) => {
                    self.update(true).await;
                }
            }
        }
    }

    /// Handle one framed line; `Some` ends the session.
    async fn on_frame(&mut self, frame: Frame) -> Option<Ending> {
        match std::mem::replace(&mut self.mode, Mode::Command) {
            Mode::Sasl { tag } => {
                let done = self.sasl_continue(&frame).await;
                self.complete(&tag, done, true).await
            }
            Mode::Idle { tag } => {
                if let Some(sub) = self.idle_sub.take() {
                    unsubscribe(sub);
                }
                let done = match parse_idle_done(&frame) {
                    Ok(()) => Done::ok("IDLE terminated"),
                    Err(_) => Done::bad("Expected DONE"),
                };
                self.complete(&tag, done, true).await
            }
            Mode::Command => match parse_command(&frame) {
                Ok(cmd) => self.dispatch(cmd).await,
                Err(e) => {
                    self.send(e.response());
                    None
                }
            },
        }
    }

    async fn dispatch(&mut self, cmd: Command) -> Option<Ending> {
        let Command { tag, body } = cmd;
        let Some((needs, expunges_ok)) = command_spec(&body) else {
            return self
                .complete(&tag, Done::bad("Command not supported"), true)
                .await;
        };
        let refused = match needs {
            Needs::Any => None,
            Needs::NotAuthenticated if self.user.is_some() => Some("Already authenticated"),
            Needs::NotAuthenticated => None,
            Needs::Authenticated | Needs::Selected if self.user.is_none() => {
                Some("Not authenticated")
            }
            Needs::Selected if self.selected.is_none() => Some("No mailbox selected"),
            _ => None,
        };
        if let Some(text) = refused {
            return self.complete(&tag, Done::bad(text), true).await;
        }
        match self.execute(&tag, body).await {
            Step::Done(done) => self.complete(&tag, done, expunges_ok).await,
            Step::Pending => None,
            Step::End(ending) => Some(ending),
        }
    }

    async fn execute(&mut self, tag: &str, body: CommandBody) -> Step {
        use CommandBody as C;
        let done = match body {
            C::Capability => {
                let caps = self.capabilities();
                self.send(Response::Data(Data::Capability(caps)));
                Done::ok("CAPABILITY completed")
            }
            C::Noop => Done::ok("NOOP completed"),
            C::Check => Done::ok("CHECK completed"),
            C::Logout => {
                self.send(Response::status(None, StatusKind::Bye, "Logging out"));
                self.send(Response::status(
                    Some(tag),
                    StatusKind::Ok,
                    "LOGOUT completed",
                ));
                return Step::End(Ending::Logout);
            }
            C::Login { username, password } => self.login(&username, password.expose()).await,
            C::Authenticate {
                mechanism,
                initial_response,
            } => return self.authenticate(tag, &mechanism, initial_response).await,
            C::Select { mailbox, params } => self.select(mailbox, params, false).await,
            C::Examine { mailbox, params } => self.select(mailbox, params, true).await,
            C::Create {
                mailbox,
                special_use,
            } => self.create(mailbox, special_use).await,
            C::Delete(mailbox) => self.delete(mailbox).await,
            C::List {
                select,
                reference,
                patterns,
                returns,
            } => self.list(select, &reference, &patterns, returns).await,
            C::Status { mailbox, items } => self.status(mailbox, &items).await,
            C::Append { mailbox, messages } => self.append(mailbox, messages).await,
            C::Idle => {
                if let Some(sel) = &self.selected {
                    self.idle_sub = subscribe(self.watcher.clone(), sel.folder.clone()).await;
                }
                self.send(Response::Continuation(Continuation::Text {
                    code: None,
                    text: "idling".into(),
                }));
                self.update(true).await;
                self.mode = Mode::Idle {
                    tag: tag.to_string(),
                };
                return Step::Pending;
            }
            C::Close => self.close(true).await,
            C::Unselect => self.close(false).await,
            C::Expunge => self.expunge().await,
            C::Fetch {
                uid,
                set,
                items,
                modifiers,
            } => self.fetch(uid, &set, &items, modifiers).await,
            C::Store {
                uid,
                set,
                unchanged_since,
                action,
                silent,
                flags,
            } => {
                self.store_flags(uid, &set, unchanged_since, action, silent, &flags)
                    .await
            }
            C::Search {
                uid,
                returns,
                charset: _,
                criteria,
            } => self.search(uid, returns, criteria).await,
            _ => Done::bad("Command not supported"),
        };
        if self.auth_failures >= self.config.max_auth_failures && self.user.is_none() {
            self.send_tagged(tag, done);
            self.send(Response::status(
                None,
                StatusKind::Bye,
                "Too many authentication failures",
            ));
            return Step::End(Ending::TooManyErrors);
        }
        Step::Done(done)
    }

    /// Send the mailbox updates, then the tagged completion.
    async fn complete(&mut self, tag: &str, done: Done, expunges_ok: bool) -> Option<Ending> {
        self.update(expunges_ok).await;
        self.send_tagged(tag, done);
        None
    }

    fn send_tagged(&mut self, tag: &str, done: Done) {
        self.send(done.into_response(tag));
    }

    fn send(&mut self, response: Response) {
        response.write_to(&mut self.out);
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        self.stream.write_all(&out).await?;
        self.stream.flush().await
    }

    /// Sync the selected mailbox and queue what the client may be told now.
    async fn update(&mut self, expunges_ok: bool) {
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        for response in sel.updates(expunges_ok).await {
            self.send(response);
        }
    }
}
