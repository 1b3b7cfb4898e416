//! CAPABILITY, LOGIN and AUTHENTICATE PLAIN.

use mailstack_directory::AuthOutcome;
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
        let mut caps = vec!["IMAP4rev1".to_string(), "LITERAL+".to_string()];
        if self.user.is_none() {
            caps.push("SASL-IR".into());
            if self.auth_allowed() {
                caps.push("AUTH=PLAIN".into());
            } else {
                caps.push("LOGINDISABLED".into());
            }
        } else {
            caps.extend(["IDLE", "UNSELECT", "SPECIAL-USE"].map(String::from));
            caps.extend(["BINARY", "PREVIEW", "SAVEDATE"].map(String::from));
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
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            return Step::Done(Done::no(
                Some(Code::Cannot),
                "Unsupported authentication mechanism",
            ));
        }
        if !self.auth_allowed() {
            return Step::Done(privacy_required());
        }
        match initial {
            Some(ir) => Step::Done(self.plain(ir.expose()).await),
            None => {
                self.send(Response::Continuation(Continuation::Base64(Vec::new())));
                self.mode = Mode::Sasl {
                    tag: tag.to_string(),
                };
                Step::Pending
            }
        }
    }

    /// The client's answer to our empty `+ ` challenge.
    pub(super) async fn sasl_continue(&mut self, frame: &Frame) -> Done {
        match parse_sasl_response(frame) {
            Ok(SaslResponse::Data(data)) => self.plain(data.expose()).await,
            Ok(SaslResponse::Cancel) => Done::bad("Authentication cancelled"),
            Err(_) => Done::bad("Invalid base64"),
        }
    }

    /// RFC 4616: `authzid NUL authcid NUL passwd`; authzid empty or the same user.
    async fn plain(&mut self, data: &[u8]) -> Done {
        let parts: Vec<&[u8]> = data.split(|&b| b == 0).collect();
        let [authz, authc, pass] = parts.as_slice() else {
            return Done::bad("Malformed PLAIN response");
        };
        let (Ok(authz), Ok(authc), Ok(pass)) = (
            std::str::from_utf8(authz),
            std::str::from_utf8(authc),
            std::str::from_utf8(pass),
        ) else {
            return Done::bad("Malformed PLAIN response");
        };
        if !authz.is_empty() && authz != authc {
            return Done::no(
                Some(Code::AuthorizationFailed),
                "Cannot act as another user",
            );
        }
        self.check_password(authc, pass).await
    }

    async fn check_password(&mut self, login: &str, password: &str) -> Done {
        let user = match self.directory.authenticate(login, password).await {
            Ok(AuthOutcome::Accepted(user)) => user,
            Ok(AuthOutcome::Rejected) => {
                self.auth_failures += 1;
                tracing::info!(peer = %self.peer, failures = self.auth_failures, "imap login failed");
                tokio::time::sleep(self.config.auth_failure_delay * self.auth_failures).await;
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
        // First login: the INBOX and the default folders.
        if !store.maildir_path().join("cur").is_dir() {
            let names: Vec<&str> = self
                .config
                .default_folders
                .iter()
                .map(|s| s.as_str())
                .collect();
            if let Err(e) = store.create_default_folders(&names).await {
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

fn privacy_required() -> Done {
    Done::no(
        Some(Code::PrivacyRequired),
        "Plaintext authentication disallowed without TLS",
    )
}
