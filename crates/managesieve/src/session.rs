//! One ManageSieve connection (RFC 5804), from the capability greeting to LOGOUT: the
//! command loop over a user's [`SieveScripts`].
//!
//! ```text
//!  stream ──read──▶ Framer ──tokens──▶ Command::from_tokens ──▶ execute (by name and state)
//!     ▲                                   (SASL responses go to the exchange in progress)
//!     └──── write ◀──── out buffer ◀── responses (OK / NO (CODE) "text" / BYE)
//! ```
//!
//! Commands: CAPABILITY, STARTTLS (input pipelined behind it is dropped), AUTHENTICATE PLAIN
//! and LOGIN (with or without an initial response), LOGOUT, NOOP, UNAUTHENTICATE (any state);
//! HAVESPACE, PUTSCRIPT, CHECKSCRIPT, LISTSCRIPTS, SETACTIVE, GETSCRIPT, DELETESCRIPT,
//! RENAMESCRIPT (authenticated). Passwords only over TLS unless `allow_plaintext_auth`
//! (`NO (ENCRYPT-NEEDED)`; the SASL capability is empty before TLS). Failed logins are slowed
//! through the process's shared [`AuthThrottle`] and end the connection after
//! `max_auth_failures`; a directory outage is `NO (TRYLATER)`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use mailstack_directory::sasl::{self, LOGIN_PASSWORD_PROMPT, LOGIN_USERNAME_PROMPT, SaslError};
use mailstack_directory::{AuthOutcome, AuthThrottle, Directory};
use mailstack_net::{ReloadingTlsAcceptor, SessionStream, Shutdown, TLS_HANDSHAKE_TIMEOUT};
use mailstack_store::Store;
use mailstack_store::sieve::{QuotaKind, SieveError, SieveQuota, SieveScripts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::proto::{
    Code, Command, FrameError, Framer, Limits, Status, Token, write_status, write_string,
};

/// The session's settings (`[managesieve]`).
#[derive(Debug, Clone)]
pub struct SieveConfig {
    /// Allow AUTHENTICATE without TLS (tests and trusted networks only).
    pub allow_plaintext_auth: bool,
    /// Framing limits (line length, literal size).
    pub limits: Limits,
    /// Per-user limits on scripts.
    pub quota: SieveQuota,
    /// The interpreter's limits, used when checking scripts.
    pub sieve_limits: mailstack_sieve::Limits,
    /// Failed logins after which the connection is closed.
    pub max_auth_failures: u32,
    /// Failed commands (NO) in a row after which the connection is closed.
    pub max_errors: u32,
    /// Inactivity after which the connection is closed.
    pub timeout: Duration,
    /// The certificate for STARTTLS; `None`: not offered.
    pub starttls: Option<ReloadingTlsAcceptor>,
    /// Failed-login counters shared with the other logins of the process (IMAP).
    pub throttle: AuthThrottle,
}

impl Default for SieveConfig {
    fn default() -> Self {
        SieveConfig {
            allow_plaintext_auth: false,
            limits: Limits::default(),
            quota: SieveQuota {
                max_scripts: 0,
                max_script_size: 1 << 20,
                max_storage: 0,
            },
            sieve_limits: mailstack_sieve::Limits::default(),
            max_auth_failures: 3,
            max_errors: 20,
            timeout: Duration::from_secs(600),
            starttls: None,
            throttle: AuthThrottle::new(Duration::from_secs(2)),
        }
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
    /// Inactive too long.
    Timeout,
    /// Too many failed logins or errors, or input over the limits.
    TooManyErrors,
    /// The server is shutting down.
    Shutdown,
    /// An I/O error or a failed TLS handshake.
    IoError,
}

/// Run one ManageSieve session until LOGOUT, disconnect, timeout or shutdown.
pub async fn run_managesieve_session<S: SessionStream>(
    stream: S,
    peer: String,
    config: Arc<SieveConfig>,
    directory: Arc<dyn Directory>,
    store: Store,
    shutdown: Shutdown,
) -> Ending {
    let tls = stream.is_tls();
    let peer_ip = peer.parse::<std::net::SocketAddr>().map(|a| a.ip()).ok();
    let mut session = Session {
        stream: Some(stream),
        tls,
        peer,
        peer_ip,
        framer: Framer::new(config.limits.clone()),
        config,
        directory,
        store,
        out: Vec::new(),
        user: None,
        sasl: None,
        auth_failures: 0,
        errors: 0,
    };
    session.run(shutdown).await
}

struct User {
    address: String,
    scripts: SieveScripts,
}

/// A SASL exchange waiting for the client's next response.
enum Sasl {
    Plain,
    LoginUser,
    LoginPassword(String),
}

struct Session<S> {
    stream: Option<S>,
    tls: bool,
    peer: String,
    peer_ip: Option<std::net::IpAddr>,
    framer: Framer,
    config: Arc<SieveConfig>,
    directory: Arc<dyn Directory>,
    store: Store,
    out: Vec<u8>,
    user: Option<User>,
    sasl: Option<Sasl>,
    auth_failures: u32,
    errors: u32,
}

/// The end of one command.
enum Step {
    /// Go on reading commands.
    Next,
    /// Close the connection (what to say is queued).
    End(Ending),
    /// Send what is queued, then the TLS handshake.
    StartTls,
}

/// A command's failure: a `NO` with an optional code.
struct No(Option<Code>, String);

impl No {
    fn new(text: impl Into<String>) -> No {
        No(None, text.into())
    }
    fn code(code: Code, text: impl Into<String>) -> No {
        No(Some(code), text.into())
    }
}

impl From<SieveError> for No {
    fn from(e: SieveError) -> No {
        match e {
            SieveError::InvalidName { reason, .. } => {
                No::new(format!("Invalid script name: {reason}"))
            }
            SieveError::NotFound(_) => {
                No::code(Code::Nonexistent, "There is no script by that name")
            }
            SieveError::AlreadyExists(_) => {
                No::code(Code::AlreadyExists, "A script by that name exists already")
            }
            SieveError::Active(_) => No::code(Code::Active, "You may not delete the active script"),
            SieveError::Quota { kind, message } => No::code(
                match kind {
                    QuotaKind::MaxScripts => Code::QuotaMaxScripts,
                    QuotaKind::MaxSize | QuotaKind::MaxStorage => Code::QuotaMaxSize,
                },
                message,
            ),
            e => {
                tracing::warn!(error = %e, "sieve script storage failed");
                No::code(Code::TryLater, "Script storage temporarily unavailable")
            }
        }
    }
}

/// A command's success: `OK`, with an optional code.
struct Okay {
    code: Option<Code>,
    text: String,
}

impl From<&str> for Okay {
    fn from(text: &str) -> Okay {
        Okay {
            code: None,
            text: text.to_string(),
        }
    }
}

type Done = Result<Okay, No>;

/// A string argument as UTF-8.
fn text_arg(args: &[Token], i: usize) -> Result<String, No> {
    let Some(t) = args.get(i) else {
        return Err(No::new("Missing argument"));
    };
    String::from_utf8(t.bytes().to_vec()).map_err(|_| No::new("Argument is not valid UTF-8"))
}

/// A string argument that must be a string (quoted or literal), not an atom.
fn string_arg(args: &[Token], i: usize) -> Result<String, No> {
    match args.get(i) {
        Some(Token::Str(_)) => text_arg(args, i),
        Some(Token::Atom(_)) => Err(No::new("Expected a quoted string or a literal")),
        None => Err(No::new("Missing argument")),
    }
}

fn arg_count(args: &[Token], min: usize, max: usize) -> Result<(), No> {
    if args.len() < min || args.len() > max {
        return Err(No::new("Wrong number of arguments"));
    }
    Ok(())
}

impl<S: SessionStream> Session<S> {
    async fn run(&mut self, shutdown: Shutdown) -> Ending {
        tracing::debug!(peer = %self.peer, tls = self.tls, "managesieve session start");
        self.capabilities();
        write_status(
            &mut self.out,
            Status::Ok,
            None,
            "mailstack ManageSieve ready.",
        );
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            while let Some(item) = self.framer.next_line() {
                let step = match item {
                    Ok(tokens) => self.on_line(tokens).await,
                    Err(e) => self.on_frame_error(&e),
                };
                match step {
                    Step::Next => {}
                    Step::End(ending) => {
                        let _ = self.flush().await;
                        return ending;
                    }
                    Step::StartTls => {
                        if let Some(ending) = self.start_tls().await {
                            return ending;
                        }
                    }
                }
            }
            if self.flush().await.is_err() {
                return Ending::IoError;
            }
            let Some(stream) = self.stream.as_mut() else {
                return Ending::IoError;
            };
            tokio::select! {
                r = stream.read(&mut buf) => match r {
                    Ok(0) | Err(_) => return Ending::ClientClosed,
                    Ok(n) => self.framer.push(&buf[..n]),
                },
                _ = shutdown.triggered() => {
                    write_status(&mut self.out, Status::Bye, Some(&Code::TryLater), "Server shutting down.");
                    let _ = self.flush().await;
                    return Ending::Shutdown;
                }
                _ = tokio::time::sleep(self.config.timeout) => {
                    write_status(&mut self.out, Status::Bye, None, "Disconnected for inactivity.");
                    let _ = self.flush().await;
                    return Ending::Timeout;
                }
            }
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let stream = self
            .stream
            .as_mut()
            .ok_or(std::io::ErrorKind::NotConnected)?;
        let write = async {
            stream.write_all(&out).await?;
            stream.flush().await
        };
        tokio::time::timeout(self.config.timeout, write)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
    }

    fn on_frame_error(&mut self, e: &FrameError) -> Step {
        self.sasl = None;
        if e.is_fatal() {
            write_status(&mut self.out, Status::Bye, None, &e.to_string());
            return Step::End(Ending::TooManyErrors);
        }
        let code = matches!(e, FrameError::LiteralTooLarge { .. }).then_some(Code::QuotaMaxSize);
        self.finish(Err(No(code, e.to_string())))
    }

    /// Queue the completion of a command; too many failures in a row end the connection.
    fn finish(&mut self, done: Done) -> Step {
        match done {
            Ok(Okay { code, text }) => {
                self.errors = 0;
                write_status(&mut self.out, Status::Ok, code.as_ref(), &text);
            }
            Err(No(code, text)) => {
                self.errors += 1;
                write_status(&mut self.out, Status::No, code.as_ref(), &text);
                if self.errors >= self.config.max_errors {
                    write_status(&mut self.out, Status::Bye, None, "Too many errors.");
                    return Step::End(Ending::TooManyErrors);
                }
            }
        }
        Step::Next
    }

    fn auth_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_auth
    }

    /// The capability lines (RFC 5804 §1.7), without the final OK.
    fn capabilities(&mut self) {
        let mut lines: Vec<(&str, Option<String>)> = vec![
            ("IMPLEMENTATION", Some("mailstack".into())),
            ("SIEVE", Some(mailstack_sieve::CAPABILITIES.join(" "))),
        ];
        if self.user.is_none() {
            let sasl = if self.auth_allowed() {
                "PLAIN LOGIN"
            } else {
                ""
            };
            lines.push(("SASL", Some(sasl.into())));
            if !self.tls && self.config.starttls.is_some() {
                lines.push(("STARTTLS", None));
            }
        } else {
            lines.push(("OWNER", self.user.as_ref().map(|u| u.address.clone())));
        }
        lines.push((
            "MAXREDIRECTS",
            Some(self.config.sieve_limits.max_redirects.to_string()),
        ));
        lines.push(("UNAUTHENTICATE", None));
        lines.push(("VERSION", Some("1.0".into())));
        for (name, value) in lines {
            write_string(&mut self.out, name.as_bytes());
            if let Some(v) = value {
                self.out.push(b' ');
                write_string(&mut self.out, v.as_bytes());
            }
            self.out.extend_from_slice(b"\r\n");
        }
    }

    async fn on_line(&mut self, tokens: Vec<Token>) -> Step {
        if let Some(sasl) = self.sasl.take() {
            return self.sasl_response(sasl, tokens).await;
        }
        let cmd = match Command::from_tokens(tokens) {
            Ok(c) => c,
            Err(e) => return self.finish(Err(No::new(e.to_string()))),
        };
        let authed = self.user.is_some();
        let args = &cmd.args;
        let done: Done = match cmd.name.as_str() {
            "CAPABILITY" => match arg_count(args, 0, 0) {
                Ok(()) => {
                    self.capabilities();
                    Ok("Capability completed.".into())
                }
                Err(e) => Err(e),
            },
            "LOGOUT" => {
                write_status(&mut self.out, Status::Ok, None, "Logout completed.");
                return Step::End(Ending::Logout);
            }
            "NOOP" => match arg_count(args, 0, 1) {
                Ok(()) if args.is_empty() => Ok("Done".into()),
                Ok(()) => Ok(Okay {
                    code: Some(Code::Tag(args[0].bytes().to_vec())),
                    text: "Done".into(),
                }),
                Err(e) => Err(e),
            },
            "STARTTLS" if !authed => {
                if let Err(e) = arg_count(args, 0, 0) {
                    Err(e)
                } else if self.tls {
                    Err(No::new("TLS is already active"))
                } else if self.config.starttls.is_none() {
                    Err(No::new("STARTTLS is not available"))
                } else {
                    write_status(
                        &mut self.out,
                        Status::Ok,
                        None,
                        "Begin TLS negotiation now.",
                    );
                    return Step::StartTls;
                }
            }
            "AUTHENTICATE" if !authed => return self.authenticate(args).await,
            "UNAUTHENTICATE" if authed => match arg_count(args, 0, 0) {
                Ok(()) => {
                    tracing::info!(peer = %self.peer, "managesieve unauthenticate");
                    self.user = None;
                    Ok("Unauthenticate completed.".into())
                }
                Err(e) => Err(e),
            },
            "HAVESPACE" | "PUTSCRIPT" | "CHECKSCRIPT" | "LISTSCRIPTS" | "SETACTIVE"
            | "GETSCRIPT" | "DELETESCRIPT" | "RENAMESCRIPT"
                if authed =>
            {
                self.scripts_command(&cmd.name, args).await
            }
            "STARTTLS" | "AUTHENTICATE" => Err(No::new("Already authenticated")),
            "UNAUTHENTICATE" | "HAVESPACE" | "PUTSCRIPT" | "CHECKSCRIPT" | "LISTSCRIPTS"
            | "SETACTIVE" | "GETSCRIPT" | "DELETESCRIPT" | "RENAMESCRIPT" => {
                Err(No::new("Not authenticated"))
            }
            _ => Err(No::new("Unknown command")),
        };
        self.finish(done)
    }

    async fn scripts_command(&mut self, name: &str, args: &[Token]) -> Done {
        let Some(user) = self.user.as_ref() else {
            return Err(No::new("Not authenticated"));
        };
        let scripts = user.scripts.clone();
        let quota = self.config.quota;
        match name {
            "HAVESPACE" => {
                arg_count(args, 2, 2)?;
                let name = string_arg(args, 0)?;
                let size: u64 = match &args[1] {
                    Token::Atom(n) if n.bytes().all(|b| b.is_ascii_digit()) => {
                        n.parse().map_err(|_| No::new("Invalid size"))?
                    }
                    _ => return Err(No::new("Invalid size")),
                };
                scripts.check_space(&name, size, &quota).await?;
                Ok("Putscript would succeed.".into())
            }
            "PUTSCRIPT" => {
                arg_count(args, 2, 2)?;
                let name = string_arg(args, 0)?;
                mailstack_store::sieve::validate_script_name(&name)?;
                let source = script_arg(args, 1)?;
                scripts
                    .check_space(&name, source.len() as u64, &quota)
                    .await?;
                let warnings = self.check_script(&source)?;
                scripts.put(&name, source.into_bytes(), &quota).await?;
                tracing::info!(peer = %self.peer, script = %name, "managesieve putscript");
                self.with_warnings(warnings, "Putscript completed.")
            }
            "CHECKSCRIPT" => {
                arg_count(args, 1, 1)?;
                let source = script_arg(args, 0)?;
                let warnings = self.check_script(&source)?;
                self.with_warnings(warnings, "Script is valid.")
            }
            "LISTSCRIPTS" => {
                arg_count(args, 0, 0)?;
                for s in scripts.list().await? {
                    write_string(&mut self.out, s.name.as_bytes());
                    if s.active {
                        self.out.extend_from_slice(b" ACTIVE");
                    }
                    self.out.extend_from_slice(b"\r\n");
                }
                Ok("Listscripts completed.".into())
            }
            "SETACTIVE" => {
                arg_count(args, 1, 1)?;
                let name = string_arg(args, 0)?;
                if name.is_empty() {
                    scripts.set_active(None).await?;
                    tracing::info!(peer = %self.peer, "managesieve deactivate");
                    return Ok("Active script is now deactivated.".into());
                }
                // A script stored by other means may be broken: do not activate it.
                let source = scripts.get(&name).await?;
                let source =
                    String::from_utf8(source).map_err(|_| No::new("Script is not valid UTF-8"))?;
                self.check_script(&source)?;
                scripts.set_active(Some(&name)).await?;
                tracing::info!(peer = %self.peer, script = %name, "managesieve setactive");
                Ok("Setactive completed.".into())
            }
            "GETSCRIPT" => {
                arg_count(args, 1, 1)?;
                let name = string_arg(args, 0)?;
                let source = scripts.get(&name).await?;
                self.out
                    .extend_from_slice(format!("{{{}}}\r\n", source.len()).as_bytes());
                self.out.extend_from_slice(&source);
                self.out.extend_from_slice(b"\r\n");
                Ok("Getscript completed.".into())
            }
            "DELETESCRIPT" => {
                arg_count(args, 1, 1)?;
                let name = string_arg(args, 0)?;
                scripts.delete(&name).await?;
                tracing::info!(peer = %self.peer, script = %name, "managesieve deletescript");
                Ok("Deletescript completed.".into())
            }
            "RENAMESCRIPT" => {
                arg_count(args, 2, 2)?;
                let from = string_arg(args, 0)?;
                let to = string_arg(args, 1)?;
                scripts.rename(&from, &to).await?;
                tracing::info!(peer = %self.peer, %from, %to, "managesieve renamescript");
                Ok("Renamescript completed.".into())
            }
            _ => Err(No::new("Unknown command")),
        }
    }

    /// Compile `source`: `Ok(warnings)`, or `NO "line 3, column 7: ..."`.
    fn check_script(&self, source: &str) -> Result<Vec<String>, No> {
        crate::script::check(source, &self.config.sieve_limits).map_err(No::new)
    }

    fn with_warnings(&mut self, warnings: Vec<String>, text: &str) -> Done {
        if warnings.is_empty() {
            return Ok(text.into());
        }
        Ok(Okay {
            code: Some(Code::Warnings),
            text: warnings.join("\r\n"),
        })
    }

    async fn authenticate(&mut self, args: &[Token]) -> Step {
        if let Err(e) = arg_count(args, 1, 2) {
            return self.finish(Err(e));
        }
        let mech = match string_arg(args, 0) {
            Ok(m) => m.to_ascii_uppercase(),
            Err(e) => return self.finish(Err(e)),
        };
        let sasl = match mech.as_str() {
            "PLAIN" => Sasl::Plain,
            "LOGIN" => Sasl::LoginUser,
            _ => {
                return self.finish(Err(No::new("Unsupported authentication mechanism")));
            }
        };
        if !self.auth_allowed() {
            return self.finish(Err(No::code(
                Code::EncryptNeeded,
                "Plaintext authentication disallowed without TLS; use STARTTLS",
            )));
        }
        match args.get(1) {
            Some(initial) => {
                let tokens = vec![Token::Str(initial.bytes().to_vec())];
                self.sasl_response(sasl, tokens).await
            }
            None => {
                let prompt: &[u8] = match sasl {
                    Sasl::Plain => b"",
                    _ => LOGIN_USERNAME_PROMPT,
                };
                self.challenge(prompt, sasl);
                Step::Next
            }
        }
    }

    fn challenge(&mut self, prompt: &[u8], sasl: Sasl) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(prompt);
        write_string(&mut self.out, encoded.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.sasl = Some(sasl);
    }

    /// The client's answer in a SASL exchange (RFC 5804 §2.1): one string, `"*"` cancels.
    async fn sasl_response(&mut self, sasl: Sasl, tokens: Vec<Token>) -> Step {
        let [Token::Str(data)] = tokens.as_slice() else {
            return self.finish(Err(No::new("Expected a SASL response string")));
        };
        if data == b"*" {
            return self.finish(Err(No::new("Authentication cancelled")));
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(data) else {
            return self.finish(Err(No::new("Invalid base64 in SASL response")));
        };
        let (login, password) = match sasl {
            Sasl::Plain => match sasl::decode_plain(&decoded) {
                Ok(c) => (c.login.to_string(), c.password.to_string()),
                Err(SaslError::Malformed) => {
                    return self.finish(Err(No::new("Malformed PLAIN response")));
                }
                Err(SaslError::OtherAuthorization) => {
                    return self.finish(Err(No::new("Cannot act as another user")));
                }
            },
            Sasl::LoginUser => {
                let Ok(user) = String::from_utf8(decoded) else {
                    return self.finish(Err(No::new("Malformed LOGIN response")));
                };
                self.challenge(LOGIN_PASSWORD_PROMPT, Sasl::LoginPassword(user));
                return Step::Next;
            }
            Sasl::LoginPassword(user) => {
                let Ok(pass) = String::from_utf8(decoded) else {
                    return self.finish(Err(No::new("Malformed LOGIN response")));
                };
                (user, pass)
            }
        };
        self.check_password(&login, &password).await
    }

    async fn check_password(&mut self, login: &str, password: &str) -> Step {
        let user = match self.directory.authenticate(login, password).await {
            Ok(AuthOutcome::Accepted(user)) => {
                self.config.throttle.succeeded(self.peer_ip, login);
                user
            }
            Ok(AuthOutcome::Rejected) => {
                self.auth_failures += 1;
                let delay = self.config.throttle.failed(self.peer_ip, login);
                tracing::info!(
                    peer = %self.peer, failures = self.auth_failures,
                    delay_ms = delay.as_millis() as u64, "managesieve login failed"
                );
                tokio::time::sleep(delay).await;
                let step = self.finish(Err(No::new("Authentication failed.")));
                if self.auth_failures >= self.config.max_auth_failures {
                    write_status(
                        &mut self.out,
                        Status::Bye,
                        None,
                        "Too many authentication failures.",
                    );
                    return Step::End(Ending::TooManyErrors);
                }
                return step;
            }
            Err(e) => {
                tracing::warn!(error = %e, "directory unavailable for managesieve login");
                return self.finish(Err(No::code(
                    Code::TryLater,
                    "Authentication service temporarily unavailable",
                )));
            }
        };
        let scripts = match self.store.user(user.domain(), user.local_part()) {
            Ok(u) => u.sieve(),
            Err(e) => {
                tracing::warn!(error = %e, user = %user.address, "no store for user");
                return self.finish(Err(No::code(Code::TryLater, "Mailbox unavailable")));
            }
        };
        tracing::info!(peer = %self.peer, user = %user.address, "managesieve login");
        self.user = Some(User {
            address: user.address.clone(),
            scripts,
        });
        self.finish(Ok("Logged in.".into()))
    }

    /// STARTTLS (RFC 5804 §2.2): the OK is queued; send it, drop whatever the client pipelined
    /// in clear text, do the handshake, and announce the capabilities again.
    async fn start_tls(&mut self) -> Option<Ending> {
        let acceptor = self.config.starttls.clone()?;
        if self.flush().await.is_err() {
            return Some(Ending::IoError);
        }
        self.framer.clear();
        let stream = self.stream.take()?;
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, stream.start_tls(acceptor.acceptor()))
            .await
        {
            Ok(Ok(stream)) => {
                self.stream = Some(stream);
                self.tls = true;
                self.capabilities();
                write_status(
                    &mut self.out,
                    Status::Ok,
                    None,
                    "TLS negotiation successful.",
                );
                None
            }
            Ok(Err(e)) => {
                tracing::info!(peer = %self.peer, error = %e, "TLS handshake failed");
                Some(Ending::IoError)
            }
            Err(_) => Some(Ending::Timeout),
        }
    }
}

/// The script argument of PUTSCRIPT/CHECKSCRIPT: a string, UTF-8 (RFC 5228 §2.1).
fn script_arg(args: &[Token], i: usize) -> Result<String, No> {
    match args.get(i) {
        Some(Token::Str(s)) => {
            String::from_utf8(s.clone()).map_err(|_| No::new("Script is not valid UTF-8"))
        }
        _ => Err(No::new("Expected the script as a string or literal")),
    }
}
