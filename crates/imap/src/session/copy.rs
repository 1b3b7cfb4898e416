//! COPY and MOVE (RFC 6851) with UIDPLUS's COPYUID, and UID EXPUNGE (RFC 4315).
//!
//! Copies are hard links of the message files where the file system allows (Dovecot does the
//! same), byte copies otherwise; flags, keywords and the internal date (the file's mtime) are
//! kept. A COPY either copies every message or none: when some source message was expunged
//! meanwhile the copies already made are removed and the answer is `NO [EXPUNGEISSUED]`.
//!
//! MOVE copies everything first and only then expunges the sources: interrupted in between,
//! the messages are in both mailboxes, never in none. The destination answers
//! `* OK [COPYUID ...]` before this session's `* n EXPUNGE` lines (as Dovecot does). A move
//! stays inside the user's quota, so only COPY is checked against it.
//!
//! Filing into or out of the spam folder is reported to rspamd when `[imap] learn_spam` is on
//! (see [`crate::learn`]), after the copy succeeded and before a MOVE expunges the sources.

use mailstack_store::StoreError;

use super::mailboxes::user;
use super::reply::{Done, store_error};
use super::{ImapStream, Session};
use crate::proto::{Code, Mailbox, NumberSet, Response, StatusKind, StatusResponse};
use crate::search::key::SequenceSet;

impl<S: ImapStream> Session<S> {
    /// `[UID] COPY` (`is_move` false) or `[UID] MOVE`.
    pub(super) async fn copy(
        &mut self,
        uid_mode: bool,
        set: &SequenceSet,
        mailbox: Mailbox,
        is_move: bool,
    ) -> Done {
        let command = if is_move { "MOVE" } else { "COPY" };
        let name = match self.store_name(&mailbox) {
            Ok(n) => n,
            Err(d) => return d,
        };
        if is_move && self.sel().read_only {
            return Done::no(Some(Code::Cannot), "Mailbox is read-only");
        }
        let authed = user(&self.user);
        let quota = authed.quota;
        let mut dest = match authed.store.open(&name).await {
            Ok(m) => m,
            Err(StoreError::MailboxNotFound(_)) => {
                return Done::no(Some(Code::TryCreate), "Mailbox does not exist");
            }
            Err(e) => return store_error(&e),
        };
        if !is_move {
            dest.set_quota(quota);
        }
        let sel = self.sel();
        let uids: Vec<u32> = sel.resolve(uid_mode, set).into_iter().collect();
        if uids.is_empty() {
            dest.close().await;
            return Done::ok("No messages found");
        }
        let pairs = match sel.mailbox.copy_to(&uids, &mut dest).await {
            Ok(p) => p,
            Err(e) => {
                dest.close().await;
                return store_error(&e);
            }
        };
        let uid_validity = dest.uidvalidity();
        let copied: Vec<u32> = pairs.iter().map(|&(_, d)| d).collect();
        let sources: Vec<u32> = pairs.iter().map(|&(s, _)| s).collect();
        if pairs.len() < uids.len() {
            if let Err(e) = dest.expunge(&copied).await {
                tracing::warn!(error = %e, "cannot remove the copies of a failed {command}");
            }
            dest.close().await;
            return Done::no(
                Some(Code::ExpungeIssued),
                "Some of the requested messages no longer exist",
            );
        }
        self.report_filing(&name, &sources).await;
        let sel = self.sel();
        if is_move && let Err(e) = sel.mailbox.expunge(&sources).await {
            // The sources stay; take the copies back.
            if let Err(e) = dest.expunge(&copied).await {
                tracing::warn!(error = %e, "cannot remove the copies of a failed MOVE");
            }
            dest.close().await;
            return store_error(&e);
        }
        dest.close().await;
        let code = Code::CopyUid {
            uid_validity,
            source: NumberSet::from_numbers(&sources),
            dest: NumberSet::from_numbers(&copied),
        };
        if !is_move {
            return Done::ok_code(code, "COPY completed");
        }
        self.send(Response::Status(StatusResponse {
            tag: None,
            kind: StatusKind::Ok,
            code: Some(code),
            text: "Moved UIDs.".into(),
        }));
        self.send_expunged(&sources);
        Done::ok("MOVE completed")
    }

    /// Tell rspamd about messages filed into or out of the spam folder (when learning is on):
    /// the message files are opened here, before a MOVE expunges them, and read and sent in
    /// the background.
    async fn report_filing(&mut self, dest: &str, sources: &[u32]) {
        let Some(learner) = self.config.spam_learner.clone() else {
            return;
        };
        let sel = self.sel();
        let Some(verdict) = learner.classify(sel.mailbox.name(), dest) else {
            return;
        };
        let who = {
            let u = user(&self.user);
            format!("{}@{}", u.store.local_part(), u.store.domain())
        };
        let sel = self.sel();
        for &uid in sources {
            match sel.mailbox.open_message(uid).await {
                Ok(file) => learner.submit(verdict, file, &who),
                Err(e) => tracing::warn!(uid, error = %e, "cannot open a message to report"),
            }
        }
    }

    /// `UID EXPUNGE set`: expunge the `\Deleted` messages among the set.
    pub(super) async fn uid_expunge(&mut self, set: &SequenceSet) -> Done {
        let only = self.sel().resolve(true, set);
        match self.expunge_deleted_in(Some(&only)).await {
            Ok(uids) => {
                self.send_expunged(&uids);
                Done::ok("UID EXPUNGE completed")
            }
            Err(d) => d,
        }
    }
}
