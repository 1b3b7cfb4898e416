//! CAPABILITY, LOGIN and AUTHENTICATE (PLAIN, LOGIN; SASL-IR), with failures slowed down per
//! client address and per login name through the process's shared [`AuthThrottle`].
//!
//! [`AuthThrottle`]: mailstack_directory::AuthThrottle

use mailstack_directory::AuthOutcome;
use mailstack_directory::sasl::{self, LOGIN_PASSWORD_PROMPT, LOGIN_USERNAME_PROMPT, SaslError};
use mailstack_store::Quota;

use super::reply::{Done, store_error};
use super::{Authed, ImapStream, Mode, Session, Step};
use crate::proto::{
    Code, Continuation, Frame, Response, SaslResponse, Secret, parse_sasl_response,
};

impl<S: ImapStream> Session<S> {
    /// Whether a password may be sent on this connection.
    fn auth_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_auth
    }

    /// What we implement, and nothing else.
    pub(super) fn capabilities(&self) -> Vec<String> {
        let mut caps = vec![
            "IMAP4rev1".to_string(),
            "IMAP4rev2".to_string(),
            "LITERAL+".to_string(),
            "ID".to_string(),
        ];
        if self.user.is_none() {
            caps.push("SASL-IR".into());
            if !self.tls && self.config.starttls.is_some() {
                caps.push("STARTTLS".into());
            }
            if self.auth_allowed() {
                caps.extend(["AUTH=PLAIN", "AUTH=LOGIN"].map(String::from));
            } else {
                caps.push("LOGINDISABLED".into());
            }
        } else {
            caps.extend(["IDLE", "UNSELECT", "SPECIAL-USE"].map(String::from));
            if self.compression.is_none() {
                caps.push("COMPRESS=DEFLATE".into());
            }
            caps.extend(
                [
                    "UIDPLUS",
                    "MOVE",
                    "MULTIAPPEND",
                    "NAMESPACE",
                    "CHILDREN",
                    "LIST-EXTENDED",
                    "LIST-STATUS",
                    "STATUS=SIZE",
                    "QUOTA",
                    "QUOTA=RES-STORAGE",
                    "QUOTA=RES-MESSAGE",
                ]
                .map(String::from),
            );
            caps.push(format!(
                "APPENDLIMIT={}",
                self.config.limits.max_append_literal
            ));
            caps.extend(super::condstore::SYNC_CAPABILITIES.map(String::from));
            caps.extend(
                ["BINARY", "PREVIEW", "SAVEDATE", "OBJECTID", "UTF8=ACCEPT"].map(String::from),
            );
        }
        caps
    }

    pub(super) async fn login(&mut self, username: &str, password: &[u8]) -> Done {
        if !self.auth_allowed() {
            return privacy_required();
        }
        let password = String::from_utf8_lossy(password).into_owned();
        self.check_password(username, &password).await
    }

    pub(super) async fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial: Option<Secret>,
    ) -> Step {
        let mechanism = if mechanism.eq_ignore_ascii_case("PLAIN") {
            Mechanism::Plain
        } else if mechanism.eq_ignore_ascii_case("LOGIN") {
            Mechanism::Login { username: None }
        } else {
            return Step::Done(Done::no(
                Some(Code::Cannot),
                "Unsupported authentication mechanism",
            ));
        };
        if !self.auth_allowed() {
            return Step::Done(privacy_required());
        }
        match (mechanism, initial) {
            (Mechanism::Plain, Some(ir)) => Step::Done(self.plain(ir.expose()).await),
            (Mechanism::Login { .. }, Some(ir)) => {
                // SASL-IR with LOGIN: the initial response is the user name.
                self.sasl_challenge(
                    tag,
                    LOGIN_PASSWORD_PROMPT,
                    Mechanism::Login {
                        username: Some(Secret::new(ir.expose().to_vec())),
                    },
                )
            }
            (Mechanism::Plain, None) => self.sasl_challenge(tag, b"", Mechanism::Plain),
            (m @ Mechanism::Login { .. }, None) => {
                self.sasl_challenge(tag, LOGIN_USERNAME_PROMPT, m)
            }
        }
    }

    fn sasl_challenge(&mut self, tag: &str, challenge: &[u8], mechanism: Mechanism) -> Step {
        self.send(Response::Continuation(Continuation::Base64(
            challenge.to_vec(),
        )));
        self.mode = Mode::Sasl {
            tag: tag.to_string(),
            mechanism,
        };
        Step::Pending
    }

    /// The client's answer to a `+ ` challenge. `Some` when the exchange is over.
    pub(super) async fn sasl_continue(
        &mut self,
        tag: &str,
        mechanism: Mechanism,
        frame: &Frame,
    ) -> Option<Done> {
        let data = match parse_sasl_response(frame) {
            Ok(SaslResponse::Data(data)) => data,
            Ok(SaslResponse::Cancel) => return Some(Done::bad("Authentication cancelled")),
            Err(_) => return Some(Done::bad("Invalid base64")),
        };
        match mechanism {
            Mechanism::Plain => Some(self.plain(data.expose()).await),
            Mechanism::Login { username: None } => {
                let _ = self.sasl_challenge(
                    tag,
                    LOGIN_PASSWORD_PROMPT,
                    Mechanism::Login {
                        username: Some(data),
                    },
                );
                None
            }
            Mechanism::Login {
                username: Some(user),
            } => {
                let (Ok(user), Ok(pass)) = (
                    std::str::from_utf8(user.expose()),
                    std::str::from_utf8(data.expose()),
                ) else {
                    return Some(Done::bad("Malformed LOGIN response"));
                };
                Some(self.check_password(user, pass).await)
            }
        }
    }

    /// RFC 4616: `authzid NUL authcid NUL passwd`; authzid empty or the same user.
    async fn plain(&mut self, data: &[u8]) -> Done {
        match sasl::decode_plain(data) {
            Ok(c) => self.check_password(c.login, c.password).await,
            Err(SaslError::Malformed) => Done::bad("Malformed PLAIN response"),
            Err(SaslError::OtherAuthorization) => Done::no(
                Some(Code::AuthorizationFailed),
                "Cannot act as another user",
            ),
        }
    }

    async fn check_password(&mut self, login: &str, password: &str) -> Done {
        let user = match self.directory.authenticate(login, password).await {
            Ok(AuthOutcome::Accepted(user)) => {
                self.config.throttle.succeeded(self.peer_ip, login);
                user
            }
            Ok(AuthOutcome::Rejected) => {
                self.auth_failures += 1;
                let delay = self.config.throttle.failed(self.peer_ip, login);
                tracing::info!(
                    peer = %self.peer,
                    failures = self.auth_failures,
                    delay_ms = delay.as_millis() as u64,
                    "imap login failed"
                );
                tokio::time::sleep(delay).await;
                return Done::no(Some(Code::AuthenticationFailed), "Authentication failed");
            }
            Err(e) => {
                tracing::warn!(error = %e, "directory unavailable for imap login");
                return Done::no(
                    Some(Code::Unavailable),
                    "Authentication service temporarily unavailable",
                );
            }
        };
        let store = match self.store.user(user.domain(), user.local_part()) {
            Ok(s) => s,
            Err(e) => return store_error(&e),
        };
        // First login (no Maildir yet, or only what deliveries created: no subscriptions
        // file): the INBOX and the default folders, created and subscribed, as Dovecot's
        // `auto = subscribe` does.
        let first_login = !store.maildir_path().join("cur").is_dir()
            || !store.has_subscriptions_file().await.unwrap_or(true);
        if first_login {
            let mut names: Vec<&str> = self
                .config
                .default_folders
                .iter()
                .map(|s| s.as_str())
                .collect();
            if let Err(e) = store.create_default_folders(&names).await {
                return store_error(&e);
            }
            names.insert(0, "INBOX");
            if let Err(e) = store.set_subscribed(&names, true).await {
                return store_error(&e);
            }
        }
        tracing::info!(peer = %self.peer, user = %user.address, "imap login");
        self.user = Some(Authed {
            store,
            quota: Quota {
                bytes: user.quota_bytes,
                messages: user.quota_messages,
            },
        });
        let caps = self.capabilities();
        Done::ok_code(Code::Capability(caps), "Logged in")
    }
}

/// A SASL exchange in progress.
pub(super) enum Mechanism {
    /// PLAIN (RFC 4616): one response.
    Plain,
    /// LOGIN (draft-murchison-sasl-login): the user name, then the password.
    Login { username: Option<Secret> },
}

fn privacy_required() -> Done {
    Done::no(
        Some(Code::PrivacyRequired),
        "Plaintext authentication disallowed without TLS",
    )
}
