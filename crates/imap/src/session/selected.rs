//! Commands on the selected mailbox: STORE (with CONDSTORE's UNCHANGEDSINCE), EXPUNGE,
//! CLOSE/UNSELECT, and the updates sent before each tagged completion. Every expunge the
//! client is told goes through [`Selected::expunge_responses`], which chooses between
//! `EXPUNGE` and QRESYNC's `VANISHED`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use mailstack_store::{ConditionalStore, Flag as StoreFlag, Mailbox as StoreMailbox, SyncChanges};

use super::condstore::{Enabled, add_sync_items, untagged_ok};
use super::convert::{split_flags, wire_flags};
use super::reply::{Done, store_error};
use super::{ImapStream, Session};
use crate::proto::{Code, Data, FetchValue, Flag, NumberSet, Response, StoreAction};
use crate::search::key::SequenceSet;
use crate::view::{MailboxView, Updates};

/// The selected mailbox of a session.
pub(super) struct Selected {
    /// The store's (UTF-8) name.
    pub(super) name: String,
    pub(super) mailbox: StoreMailbox,
    pub(super) view: MailboxView,
    pub(super) read_only: bool,
    /// The folder directory, watched while idling.
    pub(super) folder: PathBuf,
    /// The saved search result `$` (RFC 5182), as UIDs; empty until a `SEARCH RETURN (SAVE)`.
    pub(super) saved: Vec<u32>,
}

impl Selected {
    /// Sync with the store and return what the client may be told now. Under CONDSTORE flag
    /// changes carry MODSEQ; under QRESYNC expunges are `VANISHED`, followed by the new
    /// HIGHESTMODSEQ when no expunge is held back any more.
    pub(super) async fn updates(&mut self, expunges_ok: bool, enabled: Enabled) -> Vec<Response> {
        match self.mailbox.sync().await {
            Ok(changes) => self.view.absorb(&changes),
            Err(e) => tracing::warn!(error = %e, "mailbox sync failed"),
        }
        let u = self.view.flush(expunges_ok, enabled.qresync);
        let mut out = self.expunge_responses(&u);
        if let Some(n) = u.exists {
            out.push(Response::Data(Data::Exists(n)));
        }
        for &uid in &u.flags_changed {
            if let (Some(seq), Some(meta)) = (self.view.seq(uid), self.mailbox.message(uid)) {
                let mut items = vec![FetchValue::Uid(uid), FetchValue::Flags(wire_flags(meta))];
                if enabled.condstore {
                    add_sync_items(&mut items, meta);
                }
                out.push(Response::Data(Data::Fetch { seq, items }));
            }
        }
        if !u.vanished.is_empty() && !self.view.has_pending_expunges() {
            out.push(untagged_ok(
                Code::HighestModSeq(self.mailbox.highest_modseq()),
                "Highest",
            ));
        }
        out
    }

    /// The responses that tell the client of expunges: `* n EXPUNGE` (highest first) or,
    /// under QRESYNC, one `* VANISHED uids`. The one place that chooses; MOVE and UID EXPUNGE
    /// reach it through [`Session::send_expunged`].
    pub(super) fn expunge_responses(&mut self, u: &Updates) -> Vec<Response> {
        if !u.vanished.is_empty() || !u.expunged.is_empty() {
            self.saved.retain(|&uid| self.view.seq(uid).is_some());
        }
        let mut out: Vec<Response> = u
            .expunged
            .iter()
            .map(|&seq| Response::Data(Data::Expunge(seq)))
            .collect();
        if !u.vanished.is_empty() {
            out.push(Response::Data(Data::Vanished {
                earlier: false,
                uids: NumberSet::from_numbers(&u.vanished),
            }));
        }
        out
    }

    /// The UIDs a command's set names (`$` is the saved result), ascending.
    pub(super) fn resolve(&self, uid: bool, set: &SequenceSet) -> BTreeSet<u32> {
        if uid {
            self.view.resolve_uids(set, Some(&self.saved))
        } else {
            self.view.resolve_seqs(set, Some(&self.saved))
        }
    }
}

impl<S: ImapStream> Session<S> {
    pub(super) fn sel(&mut self) -> &mut Selected {
        self.selected
            .as_mut()
            .expect("the command table lets only selected-state commands here")
    }

    /// Tell the client that our own EXPUNGE / UID EXPUNGE / MOVE removed `uids` (those it
    /// knew): `EXPUNGE` or, under QRESYNC, `VANISHED` (RFC 7162 §3.2.10).
    pub(super) fn send_expunged(&mut self, uids: &[u32]) {
        let qresync = self.enabled.qresync;
        let sel = self.sel();
        let u = sel.view.expunge_own(uids, qresync);
        for r in sel.expunge_responses(&u) {
            self.send(r);
        }
    }

    pub(super) async fn store_flags(
        &mut self,
        uid_mode: bool,
        set: &SequenceSet,
        unchanged_since: Option<u64>,
        action: StoreAction,
        silent: bool,
        flags: &[Flag],
    ) -> Done {
        let (sys, kws) = match split_flags(flags) {
            Ok(f) => f,
            Err(d) => return d,
        };
        if self.sel().read_only {
            return Done::no(None, "Mailbox is read-only");
        }
        if unchanged_since.is_some() {
            self.enable_condstore();
        }
        let condstore = self.enabled.condstore;
        let sel = self.sel();
        let mut responses = Vec::new();
        let mut missing = false;
        // Messages that failed UNCHANGEDSINCE: sequence numbers, or UIDs for UID STORE.
        let mut modified = Vec::new();
        for uid in sel.resolve(uid_mode, set) {
            let (Some(seq), Some(meta)) = (sel.view.seq(uid), sel.mailbox.message(uid).cloned())
            else {
                missing = true;
                continue;
            };
            let (new_sys, new_kws) = match action {
                StoreAction::Replace => (sys.clone(), kws.clone()),
                StoreAction::Add => {
                    let mut f = meta.flags.clone();
                    f.extend(&sys);
                    let mut k = meta.keywords.clone();
                    k.extend(kws.iter().cloned());
                    (f, k)
                }
                StoreAction::Remove => (
                    meta.flags
                        .iter()
                        .copied()
                        .filter(|f| !sys.contains(f))
                        .collect(),
                    meta.keywords
                        .iter()
                        .filter(|k| !kws.contains(k))
                        .cloned()
                        .collect(),
                ),
            };
            let mut new_sys = new_sys;
            new_sys.sort();
            new_sys.dedup();
            let mut new_kws = new_kws;
            new_kws.sort();
            new_kws.dedup();
            let changed = new_sys != meta.flags || new_kws != meta.keywords;
            if let Some(since) = unchanged_since {
                // Checked against the index in the same transaction as the change.
                let outcome = if meta.modseq > since {
                    ConditionalStore::Modified(meta.modseq)
                } else {
                    match sel
                        .mailbox
                        .set_flags_unchanged_since(uid, &new_sys, &new_kws, since)
                        .await
                    {
                        Ok(o) => o,
                        Err(mailstack_store::StoreError::MessageNotFound(_)) => {
                            missing = true;
                            continue;
                        }
                        Err(e) => return store_error(&e),
                    }
                };
                if let ConditionalStore::Modified(now) = outcome {
                    if now != meta.modseq {
                        // The store refreshed our snapshot: tell the client with the updates.
                        sel.view.absorb(&SyncChanges {
                            flag_changes: vec![uid],
                            ..SyncChanges::default()
                        });
                    }
                    modified.push(if uid_mode { uid } else { seq });
                    continue;
                }
            } else if changed && let Err(e) = sel.mailbox.set_flags(uid, &new_sys, &new_kws).await {
                return store_error(&e);
            }
            let meta = sel.mailbox.message(uid).unwrap_or(&meta);
            let mut items = Vec::new();
            if uid_mode {
                items.push(FetchValue::Uid(uid));
            }
            if !silent {
                items.push(FetchValue::Flags(wire_flags(meta)));
            }
            if condstore {
                add_sync_items(&mut items, meta);
            }
            // .SILENT still reports a new MODSEQ under CONDSTORE (RFC 7162 §3.1.3 example).
            if !silent || (condstore && changed) {
                responses.push(Response::Data(Data::Fetch { seq, items }));
            }
        }
        for r in responses {
            self.send(r);
        }
        if !modified.is_empty() {
            modified.sort_unstable();
            Done::ok_code(
                Code::Modified(NumberSet::from_numbers(&modified)),
                "Conditional STORE failed",
            )
        } else if missing {
            Done::no(Some(Code::ExpungeIssued), "Some messages were expunged")
        } else {
            Done::ok("STORE completed")
        }
    }

    /// Expunge the `\Deleted` messages; returns their UIDs (not yet told to the client).
    async fn expunge_deleted(&mut self) -> Result<Vec<u32>, Done> {
        self.expunge_deleted_in(None).await
    }

    /// Expunge the `\Deleted` messages among `only` (all when `None`: UID EXPUNGE passes its
    /// set); returns their UIDs (not yet told to the client).
    pub(super) async fn expunge_deleted_in(
        &mut self,
        only: Option<&BTreeSet<u32>>,
    ) -> Result<Vec<u32>, Done> {
        let sel = self.sel();
        if sel.read_only {
            return Err(Done::no(None, "Mailbox is read-only"));
        }
        let uids: Vec<u32> = sel
            .view
            .uids()
            .iter()
            .copied()
            .filter(|&u| {
                only.is_none_or(|set| set.contains(&u))
                    && sel
                        .mailbox
                        .message(u)
                        .is_some_and(|m| m.flags.contains(&StoreFlag::Deleted))
            })
            .collect();
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        sel.mailbox
            .expunge(&uids)
            .await
            .map_err(|e| store_error(&e))?;
        Ok(uids)
    }

    /// EXPUNGE; under QRESYNC the tagged OK carries the new HIGHESTMODSEQ (as Dovecot does).
    pub(super) async fn expunge(&mut self) -> Done {
        match self.expunge_deleted().await {
            Ok(uids) => {
                self.send_expunged(&uids);
                if self.enabled.qresync {
                    let highest = self.sel().mailbox.highest_modseq();
                    Done::ok_code(Code::HighestModSeq(highest), "EXPUNGE completed")
                } else {
                    Done::ok("EXPUNGE completed")
                }
            }
            Err(d) => d,
        }
    }

    /// CLOSE (`expunge`: silently expunge when read-write) or UNSELECT.
    pub(super) async fn close(&mut self, expunge: bool) -> Done {
        if expunge && !self.sel().read_only {
            match self.expunge_deleted().await {
                // CLOSE tells nothing; the view goes away with the mailbox.
                Ok(uids) => {
                    self.sel().view.remove_own(&uids);
                }
                Err(d) => return d,
            }
        }
        if let Some(sel) = self.selected.take() {
            sel.mailbox.close().await;
        }
        Done::ok(if expunge {
            "CLOSE completed"
        } else {
            "UNSELECT completed"
        })
    }
}
