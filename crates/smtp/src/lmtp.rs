//! Local delivery for LMTP: each recipient is resolved in the directory (aliases, groups,
//! subaddresses, catch-all) at RCPT time, and the message is written into each final user's
//! INBOX at the end of DATA, with one reply per recipient (RFC 2033 §4.2).
//!
//! Sieve filters run per final user when configured (module `sieve`): the global and the
//! user's scripts decide the folders, flags, redirects, vacation replies and rejects.
//!
//! Remote targets of an alias are not forwarded here: lmtp-mda only writes to the store.
//! smtp-mta expands aliases with remote targets before it hands mail to LMTP; when lmtp-mda
//! still meets one (mail injected straight into LMTP), the remote part is logged and skipped,
//! and a recipient with no local target at all is refused with `550 5.1.1`.
//!
//! A message a content filter marked as spam goes to the user's Junk folder instead of the
//! INBOX (see [`crate::junk`]); the folder is created when missing.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use mailstack_directory::{Directory, ExpandLimits, Expansion, User, expand};
use mailstack_store::{Quota, Store, StoreError};
use mailstack_telemetry::metric_types::Counter;
use mailstack_telemetry::{CounterFamily, Metrics};

use crate::headers::lmtp_trace_headers;
use crate::junk::{HEADER_SCAN_LIMIT, JunkPolicy};
use crate::reply::Reply;
use crate::session::{Envelope, MailHandler};
use crate::spool::Spool;

mod script_cache;
mod sieve;

use sieve::{Decision, SieveFilter, StoreAction};
pub use sieve::{MAX_REDIRECT_HOPS, REDIRECT_DUPLICATE_PERIOD, SieveSettings};

/// The LMTP [`MailHandler`]: directory lookups and store writes.
pub struct LocalDelivery {
    directory: Arc<dyn Directory>,
    store: Store,
    hostname: String,
    limits: ExpandLimits,
    default_quota_bytes: u64,
    default_folders: Vec<String>,
    /// Users whose default folders exist already (created once per process).
    prepared: Mutex<HashSet<String>>,
    /// Where messages marked as spam go.
    junk: JunkPolicy,
    /// `mailstack_lmtp_deliveries_total{result=delivered|deferred|rejected}`.
    results: CounterFamily,
    /// Sieve filtering, when on.
    sieve: Option<SieveFilter>,
    /// `mailstack_lmtp_spam_filed_total`: copies filed into the spam folder.
    spam_filed: Counter,
}

impl LocalDelivery {
    /// A handler delivering into `store` for users of `directory`.
    pub fn new(
        directory: Arc<dyn Directory>,
        store: Store,
        hostname: String,
        limits: ExpandLimits,
        default_quota_bytes: u64,
        default_folders: Vec<String>,
        metrics: &Metrics,
    ) -> Self {
        LocalDelivery {
            directory,
            store,
            hostname,
            limits,
            default_quota_bytes,
            default_folders,
            prepared: Mutex::new(HashSet::new()),
            junk: JunkPolicy::disabled(),
            results: metrics.counter_family(
                "mailstack_lmtp_deliveries",
                "LMTP recipients by result: delivered, deferred (4xx) or rejected (5xx)",
            ),
            sieve: None,
            spam_filed: metrics.counter(
                "mailstack_lmtp_spam_filed",
                "Messages marked as spam that were filed into a user's spam folder",
            ),
        }
    }

    /// Run Sieve filters at delivery with these settings.
    pub fn with_sieve(mut self, settings: SieveSettings) -> Self {
        self.sieve = Some(SieveFilter::new(settings));
        self
    }

    /// File messages marked as spam by `policy` (the default files nothing).
    pub fn with_junk_policy(mut self, policy: JunkPolicy) -> Self {
        self.junk = policy;
        self
    }

    /// The mailbox a user's copy goes to without other rules: the spam folder for a message
    /// marked as spam (`marked`) unless filing is off or the user opted out, else the INBOX.
    fn target_mailbox(&self, user: &User, marked: bool) -> &str {
        self.junk
            .mailbox_for(&user.address, marked)
            .unwrap_or("INBOX")
    }

    fn count(&self, result: &str) {
        self.results
            .get_or_create(&vec![("result".to_string(), result.to_string())])
            .inc();
    }

    /// The user's limits; `0` means unlimited, as in Maildir++ and Dovecot.
    fn quota_of(&self, user: &User) -> Quota {
        let limit = |q: Option<u64>| q.filter(|&n| n > 0);
        Quota {
            bytes: limit(user.quota_bytes).or(limit(Some(self.default_quota_bytes))),
            messages: limit(user.quota_messages),
        }
    }

    /// Refuse at RCPT time when the mailbox is already full (Dovecot's `lmtp_rcpt_check_quota`).
    async fn precheck_quota(&self, user: &User) -> Result<(), StoreError> {
        let quota = self.quota_of(user);
        if quota.bytes.is_none() && quota.messages.is_none() {
            return Ok(());
        }
        let mailbox = self.store.user(user.domain(), user.local_part())?;
        let (bytes, messages) = mailbox.quota_usage().await?;
        let full = quota.bytes.is_some_and(|q| bytes >= q)
            || quota.messages.is_some_and(|q| messages >= q);
        if full {
            return Err(StoreError::QuotaExceeded {
                used_bytes: bytes,
                used_messages: messages,
                needed_bytes: 0,
                limit_bytes: quota.bytes,
                limit_messages: quota.messages,
            });
        }
        Ok(())
    }

    async fn deliver_one(
        &self,
        env: &Envelope,
        rcpt: &str,
        user: &User,
        message: &Spool,
        marked: bool,
    ) -> Result<(), Reply> {
        let store_err = |e: StoreError| {
            tracing::warn!(id = %env.id, rcpt = %rcpt, to = %user.address, error = %e, "delivery failed");
            Reply::from_store(&e, rcpt)
        };
        let mailbox = self
            .store
            .user(user.domain(), user.local_part())
            .map_err(store_err)?;
        let first_time = !self
            .prepared
            .lock()
            .map(|p| p.contains(&user.address))
            .unwrap_or(false);
        if first_time {
            let names: Vec<&str> = self.default_folders.iter().map(String::as_str).collect();
            mailbox.ensure_exists().await.map_err(store_err)?;
            mailbox
                .create_default_folders(&names)
                .await
                .map_err(store_err)?;
            if let Ok(mut p) = self.prepared.lock() {
                p.insert(user.address.clone());
            }
        }
        let prefix = lmtp_trace_headers(
            &env.sender,
            &user.address,
            &env.helo,
            &env.peer,
            &self.hostname,
            &env.id,
            SystemTime::now(),
        );
        let scripts = match &self.sieve {
            Some(filter) => filter.scripts_for(&mailbox),
            None => Vec::new(),
        };
        let actions = match (&self.sieve, scripts.is_empty()) {
            (Some(filter), false) => {
                let mut raw = prefix.clone().into_bytes();
                let body = message.read_all().map_err(|e| {
                    tracing::warn!(id = %env.id, error = %e, "cannot read the spooled message");
                    Reply::temporary("Cannot read the message")
                })?;
                raw.extend_from_slice(&body);
                let decision = filter
                    .filter(
                        scripts,
                        std::sync::Arc::new(raw),
                        &env.sender,
                        rcpt,
                        user,
                        &mailbox,
                        &env.id,
                    )
                    .await;
                match decision {
                    Decision::Store(actions) => actions,
                    Decision::Reject(reason) => return Err(Reply::sieve_reject(rcpt, &reason)),
                    Decision::RelayUnavailable => return Err(Reply::sieve_relay_unavailable(rcpt)),
                }
            }
            _ => vec![StoreAction {
                mailbox: "INBOX".into(),
                flags: Vec::new(),
                keywords: Vec::new(),
                create: false,
            }],
        };
        if actions.is_empty() {
            tracing::info!(id = %env.id, to = %user.address, "discarded by sieve");
        }
        // A message marked as spam: keep (explicit or implicit, i.e. every copy for the INBOX)
        // means the spam folder, like Dovecot's `dovecot-lda -m Junk`; the folder is made again
        // when the user deleted it.
        let junk = self.target_mailbox(user, marked).to_owned();
        for mut action in actions {
            if junk != "INBOX" && action.mailbox.eq_ignore_ascii_case("INBOX") {
                action.mailbox = junk.clone();
                action.create = true;
                self.spam_filed.inc();
            }
            self.store_copy(env, user, &mailbox, &prefix, message, action)
                .await
                .map_err(store_err)?;
        }
        Ok(())
    }

    /// Store one copy; a folder that does not exist (and may not be created) or whose name is
    /// invalid means the INBOX, as Pigeonhole does.
    async fn store_copy(
        &self,
        env: &Envelope,
        user: &User,
        mailbox: &mailstack_store::UserStore,
        prefix: &str,
        message: &Spool,
        action: StoreAction,
    ) -> Result<(), StoreError> {
        let mut target = action.mailbox.clone();
        if !target.eq_ignore_ascii_case("INBOX") {
            let create = action.create;
            let m = mailbox.clone();
            let name = target.clone();
            let exists = tokio::task::spawn_blocking(move || m.mailbox_exists_blocking(&name))
                .await
                .unwrap_or(false);
            if !exists {
                let created = if create {
                    match mailbox.create_mailbox(&target).await {
                        Ok(()) | Err(StoreError::MailboxExists(_)) => {
                            let _ = mailbox.set_subscribed(&[target.as_str()], true).await;
                            true
                        }
                        Err(e) if e.is_temporary() => return Err(e),
                        Err(e) => {
                            tracing::warn!(id = %env.id, to = %user.address, folder = %target, error = %e, "sieve fileinto :create failed");
                            false
                        }
                    }
                } else {
                    false
                };
                if !created {
                    tracing::info!(id = %env.id, to = %user.address, folder = %target, "sieve fileinto: no such folder; INBOX instead");
                    target = "INBOX".into();
                }
            }
        }
        let done = match mailbox
            .deliver(
                &target,
                prefix.as_bytes(),
                message.source(),
                &action.flags,
                &self.quota_of(user),
            )
            .await
        {
            Err(StoreError::MailboxNotFound(_) | StoreError::InvalidName { .. })
                if target != "INBOX" =>
            {
                mailbox
                    .deliver(
                        "INBOX",
                        prefix.as_bytes(),
                        message.source(),
                        &action.flags,
                        &self.quota_of(user),
                    )
                    .await?
            }
            other => other?,
        };
        if !action.keywords.is_empty()
            && let Some(uid) = done.uid
        {
            // Keywords go through the index (dovecot-keywords letters in the file name).
            match mailbox.open(&target).await {
                Ok(mut mb) => {
                    if let Err(e) = mb.set_flags(uid, &action.flags, &action.keywords).await {
                        tracing::warn!(id = %env.id, to = %user.address, error = %e, "cannot set sieve keywords");
                    }
                    mb.close().await;
                }
                Err(e) => {
                    tracing::warn!(id = %env.id, to = %user.address, error = %e, "cannot set sieve keywords")
                }
            }
        }
        tracing::info!(id = %env.id, to = %user.address, folder = %target, uid = ?done.uid, size = done.size, "delivered");
        Ok(())
    }
}

#[async_trait]
impl MailHandler for LocalDelivery {
    type Recipient = Expansion;

    async fn check_recipient(&self, env: &Envelope, address: &str) -> Result<Expansion, Reply> {
        let expansion = match expand(self.directory.as_ref(), address, &self.limits).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(id = %env.id, rcpt = %address, error = %e, "directory lookup failed");
                return Err(Reply::from_directory(&e, address));
            }
        };
        for remote in &expansion.remote {
            tracing::warn!(id = %env.id, rcpt = %address, target = %remote, "remote alias target skipped by lmtp-mda");
        }
        if expansion.users.is_empty() {
            tracing::info!(id = %env.id, rcpt = %address, "unknown recipient");
            return Err(Reply::unknown_user(address));
        }
        // One full mailbox refuses a personal address; a list still goes to its other members.
        if expansion.users.len() == 1
            && let Err(e) = self.precheck_quota(&expansion.users[0].0).await
        {
            tracing::info!(id = %env.id, rcpt = %address, error = %e, "refused at RCPT");
            return Err(Reply::from_store(&e, address));
        }
        Ok(expansion)
    }

    async fn deliver(
        &self,
        env: &Envelope,
        recipients: &[(String, Expansion)],
        message: &Spool,
    ) -> Vec<Reply> {
        let mut replies = Vec::with_capacity(recipients.len());
        let marked = self.junk.is_marked(&message.head(HEADER_SCAN_LIMIT));
        if marked {
            tracing::info!(id = %env.id, "marked as spam by a content filter");
        }
        for (address, expansion) in recipients {
            // Every final user of this recipient must have the message; the worst failure
            // decides the reply (temporary wins over permanent: the sender retries).
            let mut worst: Option<Reply> = None;
            let mut delivered = 0usize;
            for (user, _via) in &expansion.users {
                if let Err(r) = self.deliver_one(env, address, user, message, marked).await {
                    let replace = match &worst {
                        None => true,
                        Some(w) => r.is_temporary() && !w.is_temporary(),
                    };
                    if replace {
                        worst = Some(r);
                    }
                } else {
                    delivered += 1;
                }
            }
            let reply = match worst {
                None => Reply::delivered(address, &env.id),
                Some(r) if delivered > 0 && !r.is_temporary() => {
                    // A list whose members partly failed permanently: the others have it.
                    Reply::delivered(address, &env.id)
                }
                Some(r) => r,
            };
            self.count(if reply.is_positive() {
                "delivered"
            } else if reply.is_temporary() {
                "deferred"
            } else {
                "rejected"
            });
            replies.push(reply);
        }
        replies
    }
}
