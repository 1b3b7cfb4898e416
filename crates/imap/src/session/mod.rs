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
//! `EXPUNGE` (`VANISHED` under QRESYNC) never after FETCH, STORE, SEARCH, SORT or THREAD by
//! sequence number.
//!
//! # Implemented
//!
//! - Connection: CAPABILITY, NOOP, LOGOUT, ID, STARTTLS (input pipelined behind it is dropped),
//!   COMPRESS=DEFLATE, ENABLE (CONDSTORE, QRESYNC, IMAP4rev2, UTF8=ACCEPT).
//! - Login: LOGIN, AUTHENTICATE PLAIN and LOGIN (SASL-IR); `LOGINDISABLED` before TLS unless
//!   configured; failures throttled per address and login (`auth.rs`).
//! - Mailboxes: SELECT/EXAMINE (CONDSTORE, QRESYNC, `[CLOSED]`), CREATE, DELETE, RENAME
//!   (children, INBOX), SUBSCRIBE/UNSUBSCRIBE/LSUB (Dovecot's `subscriptions` file), NAMESPACE,
//!   LIST with LIST-EXTENDED/LIST-STATUS/SPECIAL-USE/CHILDREN, STATUS (with SIZE, DELETED,
//!   HIGHESTMODSEQ, APPENDLIMIT, MAILBOXID), APPEND (MULTIAPPEND, literal8, APPENDUID),
//!   GETQUOTA/GETQUOTAROOT (SETQUOTA refused: limits come from the directory), IDLE.
//! - Selected: [UID] FETCH (every item: ENVELOPE, BODYSTRUCTURE, sections, BINARY, PREVIEW,
//!   SAVEDATE, EMAILID/THREADID, MODSEQ, CHANGEDSINCE/VANISHED; bodies streamed from disk:
//!   `fetch`), [UID] STORE (UNCHANGEDSINCE), [UID] SEARCH (ESEARCH, SEARCHRES), [UID] SORT,
//!   [UID] THREAD, [UID] COPY / MOVE (COPYUID), EXPUNGE, UID EXPUNGE, CLOSE, UNSELECT, CHECK.
//!
//! # Not implemented (answered `BAD`/`NO`, not advertised)
//!
//! CREATE-SPECIAL-USE (no place to keep a custom attribute), ESORT, SETQUOTA.

mod auth;
mod compress;
mod condstore;
mod convert;
mod copy;
mod fetch;
mod list;
mod mailboxes;
mod misc;
mod names;
mod quota;
mod reply;
mod search;
mod selected;
mod sort;

use std::sync::Arc;
use std::time::Duration;

use mailstack_directory::{AuthThrottle, Directory};
use mailstack_net::{ReloadingTlsAcceptor, SessionStream, TLS_HANDSHAKE_TIMEOUT};
use mailstack_store::{Quota, Store, UserStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    /// The certificate for STARTTLS; `None`: STARTTLS is not offered (implicit-TLS
    /// listeners, tests over pipes).
    pub starttls: Option<ReloadingTlsAcceptor>,
    /// Failed-login counters shared by every session of the process (per IP and per login);
    /// the n-th failure is answered after n times its base delay (default 2 s).
    pub throttle: AuthThrottle,
    /// Reports messages filed into or out of the spam folder to rspamd (`None`: off).
    pub spam_learner: Option<std::sync::Arc<crate::learn::SpamLearner>>,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            allow_plaintext_auth: false,
            limits: Limits::default(),
            max_auth_failures: 3,
            autologout: Duration::from_secs(30 * 60),
            idle_poll: Duration::from_secs(5),
            default_folders: mailstack_store::DEFAULT_FOLDERS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            starttls: None,
            throttle: AuthThrottle::new(Duration::from_secs(2)),
            spam_learner: None,
        }
    }
}

/// A byte stream a session can run over: a [`SessionStream`] (a
/// [`mailstack_net::Connection`] in production, upgradable with STARTTLS; an in-memory
/// `tokio::io::DuplexStream` in tests).
pub trait ImapStream: SessionStream {}

impl<T: SessionStream> ImapStream for T {}

/// Most inflated input handed to the framer at once (see [`compress::Deflate`]).
const INFLATE_STEP: usize = 64 * 1024;
/// An output buffer larger than this (after a big FETCH) is freed rather than kept.
const OUT_BUFFER_KEEP: usize = 4 * 1024;
/// Pipelined commands: the output is sent once it holds this much, before the next command.
const OUT_FLUSH_AT: usize = 64 * 1024;
/// The read buffer of a quiet connection; it grows to [`READ_BUFFER_BUSY`] while reads fill it
/// (an APPEND upload) and shrinks back after: an idle session holds only the small one.
const READ_BUFFER_IDLE: usize = 1024;
const READ_BUFFER_BUSY: usize = 16 * 1024;

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
    let peer_ip = peer.parse::<std::net::SocketAddr>().map(|a| a.ip()).ok();
    let session = Session {
        stream: Some(stream),
        tls,
        peer,
        peer_ip,
        compression: None,
        framer: CommandFramer::new(config.limits.clone()),
        config,
        directory,
        store,
        watcher,
        shutdown,
        out: Vec::new(),
        user: None,
        selected: None,
        enabled: condstore::Enabled::default(),
        utf8_accept: false,
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
    Sasl {
        tag: String,
        mechanism: auth::Mechanism,
    },
    /// `DONE` ends the IDLE with this tag.
    Idle { tag: String },
}

/// What a command handler leaves behind.
enum Step {
    /// Completed: send the tagged response (after the mailbox updates).
    Done(Done),
    /// Waiting for more client input (AUTHENTICATE, IDLE).
    Pending,
    /// Completed with OK; after sending it, upgrade the connection to TLS.
    StartTls,
    /// Completed with OK; after sending it, compress both directions.
    Compress,
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
/// (not after FETCH, STORE, SEARCH, SORT, THREAD or COPY by sequence number). Every command
/// the parser knows is implemented.
fn command_spec(body: &CommandBody) -> (Needs, bool) {
    use CommandBody as C;
    match body {
        C::Capability | C::Noop | C::Logout | C::Id(_) => (Needs::Any, true),
        C::Enable(_) => (Needs::Authenticated, true),
        C::Login { .. } | C::Authenticate { .. } | C::StartTls => (Needs::NotAuthenticated, true),
        C::Compress(_) => (Needs::Authenticated, true),
        C::Select { .. }
        | C::Examine { .. }
        | C::Create { .. }
        | C::Delete(_)
        | C::List { .. }
        | C::Status { .. }
        | C::Append { .. }
        | C::Idle => (Needs::Authenticated, true),
        C::Rename { .. }
        | C::Subscribe(_)
        | C::Unsubscribe(_)
        | C::Lsub { .. }
        | C::Namespace
        | C::GetQuota(_)
        | C::GetQuotaRoot(_)
        | C::SetQuota { .. } => (Needs::Authenticated, true),
        C::Check | C::Close | C::Unselect | C::Expunge => (Needs::Selected, true),
        C::UidExpunge(_) | C::Move { .. } => (Needs::Selected, true),
        C::Copy { uid, .. } => (Needs::Selected, *uid),
        C::Fetch { uid, .. }
        | C::Store { uid, .. }
        | C::Search { uid, .. }
        | C::Sort { uid, .. }
        | C::Thread { uid, .. } => (Needs::Selected, *uid),
    }
}

struct Session<S> {
    /// The connection; `None` only while STARTTLS swaps it for its TLS form.
    stream: Option<S>,
    tls: bool,
    peer: String,
    /// The client's address, for the login throttle (`None` on unix sockets and pipes).
    peer_ip: Option<std::net::IpAddr>,
    /// COMPRESS=DEFLATE state once active.
    compression: Option<compress::Deflate>,
    config: Arc<ImapConfig>,
    directory: Arc<dyn Directory>,
    store: Store,
    watcher: MaildirWatcher,
    shutdown: mailstack_net::Shutdown,
    framer: CommandFramer,
    out: Vec<u8>,
    user: Option<Authed>,
    selected: Option<Selected>,
    /// What ENABLE (or an implicitly enabling command) turned on.
    enabled: condstore::Enabled,
    /// RFC 6855 UTF8=ACCEPT was enabled: mailbox names are sent and taken as UTF-8, not
    /// modified UTF-7 (see `names`).
    utf8_accept: bool,
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
        let mut buf = vec![0u8; READ_BUFFER_IDLE];
        loop {
            while let Some(item) = self.framer.next() {
                match item {
                    Ok(Frame::NeedContinuation) => self.send(Response::literal_ready()),
                    Ok(frame) => {
                        // Boxed: the command futures are large (FETCH, SEARCH, APPEND, ...);
                        // inline they would make every session's future, idle or not, as large
                        // as the largest of them.
                        if let Some(ending) = Box::pin(self.on_frame(frame)).await {
                            let _ = self.flush().await;
                            return ending;
                        }
                        // Pipelined commands: send what is ready before running the next, so
                        // a client that does not read stalls its session instead of growing
                        // the output buffer.
                        if self.out.len() >= OUT_FLUSH_AT && self.flush().await.is_err() {
                            return Ending::IoError;
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
            // Compressed input already read but not yet inflated comes before new reads.
            if let Some(c) = self.compression.as_mut().filter(|c| c.has_pending()) {
                match c.inflate_some(INFLATE_STEP) {
                    Ok(data) => {
                        self.framer.push(&data);
                        continue;
                    }
                    Err(e) => {
                        tracing::info!(peer = %self.peer, error = %e, "bad compressed input");
                        return Ending::IoError;
                    }
                }
            }
            if self.flush().await.is_err() {
                return Ending::IoError;
            }
            self.framer.release_idle_buffer();
            let idling = matches!(self.mode, Mode::Idle { .. });
            let poll = self.config.idle_poll;
            let Some(stream) = self.stream.as_mut() else {
                return Ending::IoError;
            };
            tokio::select! {
                r = stream.read(&mut buf) => match r {
                    Ok(0) => return Ending::ClientClosed,
                    Ok(n) => {
                        match self.compression.as_mut() {
                            Some(c) => c.feed(&buf[..n]),
                            None => self.framer.push(&buf[..n]),
                        }
                        if n == buf.len() && buf.len() < READ_BUFFER_BUSY {
                            buf = vec![0u8; READ_BUFFER_BUSY];
                        } else if n < READ_BUFFER_IDLE && buf.len() > READ_BUFFER_IDLE {
                            buf = vec![0u8; READ_BUFFER_IDLE];
                        }
                    }
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
                    Box::pin(self.update(true)).await;
                }
            }
        }
    }

    /// Handle one framed line; `Some` ends the session.
    async fn on_frame(&mut self, frame: Frame) -> Option<Ending> {
        match std::mem::replace(&mut self.mode, Mode::Command) {
            Mode::Sasl { tag, mechanism } => {
                match self.sasl_continue(&tag, mechanism, &frame).await {
                    Some(done) => self.after_login_attempt(&tag, done).await,
                    None => None,
                }
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
        let (needs, expunges_ok) = command_spec(&body);
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
            Step::StartTls => self.start_tls(&tag).await,
            Step::Compress => {
                self.send_tagged(&tag, Done::ok("DEFLATE active"));
                if self.flush().await.is_err() {
                    return Some(Ending::IoError);
                }
                self.compression = Some(compress::Deflate::new());
                None
            }
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
            C::Enable(caps) => self.enable(&caps),
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
            C::StartTls => {
                if self.tls {
                    Done::bad("TLS is already active")
                } else if self.config.starttls.is_none() {
                    Done::bad("STARTTLS not available on this port")
                } else {
                    return Step::StartTls;
                }
            }
            C::Compress(mechanism) => {
                if self.compression.is_some() {
                    Done::no(Some(Code::CompressionActive), "Compression already active")
                } else if mechanism != "DEFLATE" {
                    Done::bad("Unknown compression mechanism")
                } else {
                    return Step::Compress;
                }
            }
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
            C::Rename { from, to } => self.rename(from, to).await,
            C::Subscribe(mailbox) => self.subscribe(mailbox, true).await,
            C::Unsubscribe(mailbox) => self.subscribe(mailbox, false).await,
            C::Lsub { reference, pattern } => self.lsub(&reference, &pattern).await,
            C::Namespace => self.namespace(),
            C::Id(params) => self.id(params),
            C::GetQuota(root) => self.get_quota(&root).await,
            C::GetQuotaRoot(mailbox) => self.get_quota_root(mailbox).await,
            C::SetQuota { .. } => Done::no(
                Some(Code::NoPerm),
                "Quotas are set by the administrator (the user directory)",
            ),
            C::Copy { uid, set, mailbox } => self.copy(uid, &set, mailbox, false).await,
            C::Move { uid, set, mailbox } => self.copy(uid, &set, mailbox, true).await,
            C::UidExpunge(set) => self.uid_expunge(&set).await,
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
            } => self.search(tag, uid, returns, criteria).await,
            C::Sort {
                uid,
                criteria,
                charset: _,
                keys,
            } => self.sort(uid, criteria, keys).await,
            C::Thread {
                uid,
                algorithm,
                charset: _,
                keys,
            } => self.thread(uid, algorithm, keys).await,
        };
        if self.too_many_failures() {
            self.send_tagged(tag, done);
            self.send_too_many_failures();
            return Step::End(Ending::TooManyErrors);
        }
        Step::Done(done)
    }

    fn too_many_failures(&self) -> bool {
        self.auth_failures >= self.config.max_auth_failures && self.user.is_none()
    }

    fn send_too_many_failures(&mut self) {
        self.send(Response::status(
            None,
            StatusKind::Bye,
            "Too many authentication failures",
        ));
    }

    /// The end of a multi-step AUTHENTICATE: the completion, or the end of the connection
    /// after too many failures.
    async fn after_login_attempt(&mut self, tag: &str, done: Done) -> Option<Ending> {
        if self.too_many_failures() {
            self.send_tagged(tag, done);
            self.send_too_many_failures();
            return Some(Ending::TooManyErrors);
        }
        self.complete(tag, done, true).await
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
        let mut out = std::mem::take(&mut self.out);
        if let Some(c) = self.compression.as_mut() {
            out = c.deflate(&out)?;
        }
        let stream = self
            .stream
            .as_mut()
            .ok_or(std::io::ErrorKind::NotConnected)?;
        // A client that stops reading is given up after the autologout time.
        let write = async {
            stream.write_all(&out).await?;
            stream.flush().await
        };
        tokio::time::timeout(self.config.autologout, write)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        // Keep a small buffer, not the largest response ever sent.
        out.clear();
        if out.capacity() <= OUT_BUFFER_KEEP {
            self.out = out;
        }
        Ok(())
    }

    /// STARTTLS (RFC 9051 §6.2.1): send the OK in clear, then the handshake. Whatever the
    /// client pipelined after the command was sent in clear and is dropped (the same attack as
    /// CVE-2011-0411 in SMTP): the framer starts afresh.
    async fn start_tls(&mut self, tag: &str) -> Option<Ending> {
        let Some(acceptor) = self.config.starttls.clone() else {
            return Some(Ending::IoError);
        };
        self.send_tagged(tag, Done::ok("Begin TLS negotiation now"));
        if self.flush().await.is_err() {
            return Some(Ending::IoError);
        }
        self.framer = CommandFramer::new(self.config.limits.clone());
        let stream = self.stream.take()?;
        let handshake = stream.start_tls(acceptor.acceptor());
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(stream)) => {
                tracing::debug!(peer = %self.peer, tls = ?stream.tls_description(), "starttls");
                self.stream = Some(stream);
                self.tls = true;
                None
            }
            Ok(Err(e)) => {
                tracing::info!(peer = %self.peer, error = %e, "TLS handshake failed");
                Some(Ending::IoError)
            }
            Err(_) => {
                tracing::info!(peer = %self.peer, "TLS handshake timed out");
                Some(Ending::Timeout)
            }
        }
    }

    /// Sync the selected mailbox and queue what the client may be told now.
    async fn update(&mut self, expunges_ok: bool) {
        let enabled = self.enabled;
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        for response in sel.updates(expunges_ok, enabled).await {
            self.send(response);
        }
    }
}
