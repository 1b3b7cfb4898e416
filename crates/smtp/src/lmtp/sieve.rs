//! Sieve at delivery: for each final user, the global `sieve_before` scripts, the user's
//! active script (`<home>/.dovecot.sieve`, see [`mailstack_store::sieve`]) and the global
//! `sieve_after` scripts run as one sequence (Pigeonhole's multiscript rules, implemented by
//! [`mailstack_sieve::run`]); then their actions are carried out here:
//!
//! ```text
//!  scripts_for(user) ── none ──▶ INBOX, as without Sieve (one lstat, one stat per global script)
//!        │ some
//!        ▼
//!  run (blocking pool) ── RuntimeError ──▶ INBOX, logged (RFC 5228 §2.10.6)
//!        │ Outcome
//!        ▼
//!  reject/ereject ─▶ 550 5.7.1 <reason> for this recipient, nothing stored or sent
//!  redirect ───────▶ smtp-mta's relay listener (envelope sender kept; X-Sieve-Redirected-From
//!                    added; loops and repeats stopped, see below); relay down ─▶ 4xx, nothing stored
//!  vacation ───────▶ relay, envelope sender <>, once per (handle, sender) per period
//!  keep/fileinto ──▶ store: flags (imap4flags) in the Maildir file name, keywords in
//!                    dovecot-keywords; a missing folder without :create ─▶ INBOX
//!  discard ────────▶ nothing
//! ```
//!
//! Redirect loops: a message that already carries `X-Sieve-Redirected-From:` with this user's
//! address, or [`MAX_REDIRECT_HOPS`] of them, is not redirected again but kept in the INBOX
//! (two users redirecting to each other end with one copy, nothing lost). A redirect of the
//! same message (Message-ID) to the same address within [`REDIRECT_DUPLICATE_PERIOD`] is not
//! sent twice (a delivery retried by smtp-mta), as Pigeonhole's `sieve_redirect_duplicate_period`.
//! SRS (rewriting the envelope sender of redirects) is not done: the receiving side's SPF
//! check sees our relay for the original sender's domain.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailstack_directory::User;
use mailstack_queue::{DeliveryOutcome, DeliveryRequest, QueueId, RecipientDsn, RecipientOutcome};
use mailstack_sieve::{Action, DateTime, Environment, Limits, Outcome, Script, VacationAction};
use mailstack_store::sieve::DuplicateDb;
use mailstack_store::{Flag, UserStore};

use super::script_cache::{Cached, ScriptCache, expand_global};
use crate::client::{MessageBody, NextHop};

/// Most `X-Sieve-Redirected-From:` headers a message may carry and still be redirected.
pub const MAX_REDIRECT_HOPS: usize = 8;
/// How long a redirect of one message to one address is remembered.
pub const REDIRECT_DUPLICATE_PERIOD: Duration = Duration::from_secs(12 * 3600);
/// The loop marker added to redirected messages (Pigeonhole's header).
const REDIRECTED_FROM: &str = "X-Sieve-Redirected-From";

/// The `[lmtp_mda]` Sieve settings.
#[derive(Debug, Clone)]
pub struct SieveSettings {
    /// `sieve_before`: files or directories of `*.sieve` files.
    pub before: Vec<PathBuf>,
    /// `sieve_after`.
    pub after: Vec<PathBuf>,
    /// The interpreter's limits (script size, redirects, actions, vacation periods).
    pub limits: Limits,
    /// smtp-mta's relay listener for redirects and vacation replies; `None`: such actions are
    /// not carried out and the message is kept in the INBOX.
    pub relay: Option<NextHop>,
}

/// What the filter decided for one user.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Store into these mailboxes (possibly none: discard).
    Store(Vec<StoreAction>),
    /// Refuse with this reason (550 5.7.1).
    Reject(String),
    /// The relay could not take a redirect now (4xx; nothing was stored).
    RelayUnavailable,
}

/// One copy to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreAction {
    pub(crate) mailbox: String,
    pub(crate) flags: Vec<Flag>,
    pub(crate) keywords: Vec<String>,
    pub(crate) create: bool,
}

impl StoreAction {
    fn inbox(flags: &[String]) -> StoreAction {
        StoreAction::new("INBOX", flags, false)
    }

    fn new(mailbox: &str, flags: &[String], create: bool) -> StoreAction {
        let (flags, keywords) = split_flags(flags);
        StoreAction {
            mailbox: mailbox.to_string(),
            flags,
            keywords,
            create,
        }
    }
}

/// imap4flags strings → system flags and keywords (`\Recent` and invalid atoms dropped).
fn split_flags(flags: &[String]) -> (Vec<Flag>, Vec<String>) {
    let mut sys = Vec::new();
    let mut kw = Vec::new();
    for f in flags {
        let flag = match f.to_ascii_lowercase().as_str() {
            "\\seen" => Some(Flag::Seen),
            "\\answered" => Some(Flag::Answered),
            "\\flagged" => Some(Flag::Flagged),
            "\\deleted" => Some(Flag::Deleted),
            "\\draft" => Some(Flag::Draft),
            _ => None,
        };
        match flag {
            Some(fl) if !sys.contains(&fl) => sys.push(fl),
            Some(_) => {}
            None if !f.starts_with('\\')
                && !f.is_empty()
                && f.bytes()
                    .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
                && !kw.contains(f) =>
            {
                kw.push(f.clone())
            }
            None => {}
        }
    }
    (sys, kw)
}

/// The Sieve side of lmtp-mda: settings and the compiled-script cache.
pub(crate) struct SieveFilter {
    settings: SieveSettings,
    cache: ScriptCache,
}

/// The environment the interpreter asks (blocking calls; it runs on the blocking pool).
struct DeliveryEnv {
    store: UserStore,
    dupes: DuplicateDb,
    addresses: Vec<String>,
    now: SystemTime,
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Environment for DeliveryEnv {
    fn mailbox_exists(&self, name: &str) -> bool {
        self.store.mailbox_exists_blocking(name)
    }

    fn duplicate_check(&mut self, key: &str, period: Duration) -> bool {
        let key = format!("duplicate:{key}");
        match self.dupes.contains(&key, self.now) {
            Ok(true) => true,
            Ok(false) => {
                if let Err(e) = self.dupes.record(&key, period, self.now) {
                    tracing::warn!(error = %e, "cannot record sieve duplicate");
                }
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read sieve duplicates");
                false
            }
        }
    }

    fn duplicate_check_last(&mut self, key: &str, period: Duration) -> bool {
        let key = format!("duplicate:{key}");
        let seen = self.dupes.contains(&key, self.now).unwrap_or(false);
        if let Err(e) = self.dupes.record(&key, period, self.now) {
            tracing::warn!(error = %e, "cannot record sieve duplicate");
        }
        seen
    }

    fn now(&self) -> DateTime {
        DateTime {
            unix: unix(self.now),
            offset_minutes: 0,
        }
    }

    fn user_addresses(&self) -> Vec<String> {
        self.addresses.clone()
    }
}

/// The header values of `name` in the message's top-level header block (unfolded).
fn header_values(raw: &[u8], name: &str) -> Vec<String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
        .unwrap_or(raw.len());
    let text = String::from_utf8_lossy(&raw[..end]);
    let mut out: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(c) = current.as_mut() {
                c.push(' ');
                c.push_str(line.trim());
            }
            continue;
        }
        if let Some(c) = current.take() {
            out.push(c.trim().to_string());
        }
        if let Some((n, v)) = line.split_once(':')
            && n.trim().eq_ignore_ascii_case(name)
        {
            current = Some(v.trim().to_string());
        }
    }
    if let Some(c) = current {
        out.push(c.trim().to_string());
    }
    out
}

/// `<addr>` or `addr` → `addr`, lower-cased.
fn bare(addr: &str) -> String {
    addr.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

impl SieveFilter {
    pub(crate) fn new(settings: SieveSettings) -> SieveFilter {
        SieveFilter {
            settings,
            cache: ScriptCache::default(),
        }
    }

    /// The compiled scripts to run for this user, in order; empty when there are none (the
    /// common case costs one `lstat` plus one `stat` per global script).
    pub(crate) fn scripts_for(&self, store: &UserStore) -> Vec<Arc<Script>> {
        let limits = &self.settings.limits;
        let mut out = Vec::new();
        let mut add = |path: &std::path::Path| {
            if let Cached::Ready(s) = self.cache.get(path, limits) {
                out.push(s);
            }
        };
        for p in &self.settings.before {
            for f in expand_global(p) {
                add(&f);
            }
        }
        if let Some(active) = store.sieve().active_path_blocking() {
            add(&active);
        }
        for p in &self.settings.after {
            for f in expand_global(p) {
                add(&f);
            }
        }
        out
    }

    /// Run `scripts` on `raw` (the message as it will be stored) for `user`, reached through
    /// the recipient address `rcpt`, and carry out what does not touch the store (redirects,
    /// vacation). Returns what to store.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn filter(
        &self,
        scripts: Vec<Arc<Script>>,
        raw: Arc<Vec<u8>>,
        sender: &str,
        rcpt: &str,
        user: &User,
        store: &UserStore,
        id: &str,
    ) -> Decision {
        let now = SystemTime::now();
        let dupes = store.sieve().duplicates();
        let mut addresses = vec![user.address.clone()];
        addresses.extend(user.aliases.iter().cloned());
        let env = DeliveryEnv {
            store: store.clone(),
            dupes: dupes.clone(),
            addresses,
            now,
        };
        let envelope = mailstack_sieve::Envelope {
            from: sender.to_string(),
            to: rcpt.to_string(),
            auth: None,
        };
        let limits = self.settings.limits.clone();
        let message = raw.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut env = env;
            let refs: Vec<&Script> = scripts.iter().map(|s| s.as_ref()).collect();
            let msg = mailstack_sieve::Message::new(&message);
            mailstack_sieve::run(&refs, &msg, &envelope, &mut env, &limits)
        })
        .await;
        let outcome = match result {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                tracing::warn!(%id, to = %user.address, error = %e, "sieve runtime error; kept in INBOX");
                return Decision::Store(vec![StoreAction::inbox(&[])]);
            }
            Err(e) => {
                tracing::warn!(%id, to = %user.address, error = %e, "sieve run failed; kept in INBOX");
                return Decision::Store(vec![StoreAction::inbox(&[])]);
            }
        };
        for w in &outcome.warnings {
            tracing::info!(%id, to = %user.address, warning = %w, "sieve");
        }
        self.carry_out(outcome, &raw, sender, user, &dupes, id, now)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn carry_out(
        &self,
        outcome: Outcome,
        raw: &[u8],
        sender: &str,
        user: &User,
        dupes: &DuplicateDb,
        id: &str,
        now: SystemTime,
    ) -> Decision {
        let mut stores: Vec<StoreAction> = Vec::new();
        let mut keep_fallback = false;
        for action in &outcome.actions {
            match action {
                Action::Reject { reason } | Action::Ereject { reason } => {
                    tracing::info!(%id, to = %user.address, "sieve reject");
                    return Decision::Reject(reason.clone());
                }
                Action::Keep { flags } => stores.push(StoreAction::inbox(flags)),
                Action::FileInto {
                    mailbox,
                    flags,
                    create,
                    ..
                } => stores.push(StoreAction::new(mailbox, flags, *create)),
                _ => {}
            }
        }
        let redirects: Vec<&str> = outcome
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Redirect { address, .. } => Some(address.as_str()),
                _ => None,
            })
            .collect();
        if !redirects.is_empty() {
            match self
                .redirect(&redirects, raw, sender, user, dupes, id, now)
                .await
            {
                Redirected::Done => {}
                Redirected::Keep => keep_fallback = true,
                Redirected::Later => return Decision::RelayUnavailable,
            }
        }
        for action in &outcome.actions {
            if let Action::Vacation(v) = action {
                self.vacation(v, user, dupes, id, now).await;
            }
        }
        if outcome.implicit_keep {
            stores.push(StoreAction::inbox(&outcome.implicit_keep_flags));
        } else if keep_fallback && !stores.iter().any(|s| s.mailbox == "INBOX") {
            stores.push(StoreAction::inbox(&[]));
        }
        // One copy per mailbox (RFC 5228 §2.10.3); the first flags win.
        let mut seen: Vec<String> = Vec::new();
        stores.retain(|s| {
            let key = if s.mailbox.eq_ignore_ascii_case("INBOX") {
                "INBOX".to_string()
            } else {
                s.mailbox.clone()
            };
            if seen.contains(&key) {
                false
            } else {
                seen.push(key);
                true
            }
        });
        Decision::Store(stores)
    }

    #[allow(clippy::too_many_arguments)]
    async fn redirect(
        &self,
        targets: &[&str],
        raw: &[u8],
        sender: &str,
        user: &User,
        dupes: &DuplicateDb,
        id: &str,
        now: SystemTime,
    ) -> Redirected {
        let hops = header_values(raw, REDIRECTED_FROM);
        let me = user.address.to_ascii_lowercase();
        if hops.len() >= MAX_REDIRECT_HOPS || hops.iter().any(|h| bare(h) == me) {
            tracing::warn!(%id, to = %user.address, hops = hops.len(), "sieve redirect loop; kept in INBOX");
            return Redirected::Keep;
        }
        let Some(relay) = &self.settings.relay else {
            tracing::warn!(%id, to = %user.address, "sieve redirect without sieve_relay_address; kept in INBOX");
            return Redirected::Keep;
        };
        let message_id = header_values(raw, "Message-ID")
            .into_iter()
            .next()
            .unwrap_or_default();
        // The message as delivered, without our Return-Path, under the loop marker.
        let body = strip_return_path(raw);
        let mut forwarded = format!("{REDIRECTED_FROM}: <{}>\r\n", user.address).into_bytes();
        forwarded.extend_from_slice(body);
        let mut result = Redirected::Done;
        for target in targets {
            let key = format!("redirect:{message_id}:{}", target.to_ascii_lowercase());
            if !message_id.is_empty() && dupes.contains(&key, now).unwrap_or(false) {
                tracing::info!(%id, to = %user.address, target = %target, "sieve redirect already done for this message");
                continue;
            }
            match send(relay, sender, target, &forwarded).await {
                Sent::Yes(reply) => {
                    tracing::info!(%id, to = %user.address, target = %target, %reply, "sieve redirect");
                    if !message_id.is_empty() {
                        let dupes = dupes.clone();
                        let _ = tokio::task::spawn_blocking(move || {
                            dupes.record(&key, REDIRECT_DUPLICATE_PERIOD, now)
                        })
                        .await;
                    }
                }
                Sent::Later(reply) => {
                    tracing::warn!(%id, to = %user.address, target = %target, %reply, "sieve redirect deferred");
                    return Redirected::Later;
                }
                Sent::Refused(reply) => {
                    tracing::warn!(%id, to = %user.address, target = %target, %reply, "sieve redirect refused; kept in INBOX");
                    result = Redirected::Keep;
                }
            }
        }
        result
    }

    async fn vacation(
        &self,
        v: &VacationAction,
        user: &User,
        dupes: &DuplicateDb,
        id: &str,
        now: SystemTime,
    ) {
        let key = format!("vacation:{}:{}", v.handle, v.to.to_ascii_lowercase());
        let seen = {
            let (dupes, key) = (dupes.clone(), key.clone());
            tokio::task::spawn_blocking(move || dupes.contains(&key, now))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
        };
        match seen {
            Ok(true) => {
                tracing::info!(%id, to = %user.address, sender = %v.to, "vacation reply already sent in this period");
                return;
            }
            Ok(false) => {}
            Err(e) => {
                // Without the record, no reply: better none than one per message.
                tracing::warn!(%id, to = %user.address, error = %e, "vacation record unreadable; no reply");
                return;
            }
        }
        let Some(relay) = &self.settings.relay else {
            tracing::warn!(%id, to = %user.address, "vacation without sieve_relay_address; no reply");
            return;
        };
        let reply = mailstack_sieve::build_vacation_reply(
            v,
            &user.address,
            DateTime {
                unix: unix(now),
                offset_minutes: 0,
            },
        );
        match send(relay, "", &v.to, &reply).await {
            Sent::Yes(r) => {
                tracing::info!(%id, to = %user.address, sender = %v.to, reply = %r, "vacation reply sent");
                let dupes = dupes.clone();
                let period = v.period;
                let recorded =
                    tokio::task::spawn_blocking(move || dupes.record(&key, period, now)).await;
                if !matches!(recorded, Ok(Ok(()))) {
                    tracing::warn!(%id, to = %user.address, "cannot record the vacation reply");
                }
            }
            Sent::Later(r) | Sent::Refused(r) => {
                tracing::warn!(%id, to = %user.address, sender = %v.to, reply = %r, "vacation reply not sent");
            }
        }
    }
}

enum Redirected {
    /// Every redirect was sent (or had been).
    Done,
    /// Not redirected (loop, no relay, refused): keep in INBOX.
    Keep,
    /// The relay is unavailable: try the delivery again later.
    Later,
}

enum Sent {
    Yes(String),
    Later(String),
    Refused(String),
}

/// Hand one message for one recipient to the relay.
async fn send(relay: &NextHop, sender: &str, rcpt: &str, message: &[u8]) -> Sent {
    let req = DeliveryRequest {
        queue_id: QueueId::generate(),
        sender: sender.to_string(),
        recipients: vec![rcpt.to_string()],
        message_path: PathBuf::new(),
        size: message.len() as u64,
        env_id: None,
        smtputf8: false,
        ret_full: false,
        recipient_dsn: vec![RecipientDsn::default()],
    };
    match relay.send(&req, MessageBody::Bytes(message)).await {
        DeliveryOutcome::AgentFailed { reason } => Sent::Later(reason),
        DeliveryOutcome::PerRecipient(outcomes) => match outcomes.into_iter().next() {
            Some(RecipientOutcome::Delivered { reply }) => Sent::Yes(reply),
            Some(RecipientOutcome::Deferred { reply }) => Sent::Later(reply),
            Some(RecipientOutcome::Failed { reply, .. }) => Sent::Refused(reply),
            None => Sent::Later("no answer from the relay".into()),
        },
    }
}

/// The message without a leading `Return-Path:` line (it is added again at final delivery).
fn strip_return_path(raw: &[u8]) -> &[u8] {
    if raw.len() > 12
        && raw[..12].eq_ignore_ascii_case(b"Return-Path:")
        && let Some(p) = raw.iter().position(|&b| b == b'\n')
    {
        return &raw[p + 1..];
    }
    raw
}

#[cfg(test)]
mod tests;
