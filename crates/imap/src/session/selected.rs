//! Commands on the selected mailbox: STORE, SEARCH, EXPUNGE, CLOSE/UNSELECT, and the
//! updates sent before each tagged completion.

use std::collections::BTreeSet;
use std::path::PathBuf;

use mailstack_store::{Flag as StoreFlag, Mailbox as StoreMailbox, MessageMeta};

use super::convert::{split_flags, wire_flags};
use super::reply::{Done, store_error};
use super::{ImapStream, Session};
use crate::proto::{Code, Data, FetchValue, Flag, Response, SearchReturn, StoreAction};
use crate::search::key::{SearchKey, SequenceSet};
use crate::search::{FileLoader, SearchContext};
use crate::view::MailboxView;

/// The selected mailbox of a session.
pub(super) struct Selected {
    /// The store's (UTF-8) name.
    pub(super) name: String,
    pub(super) mailbox: StoreMailbox,
    pub(super) view: MailboxView,
    pub(super) read_only: bool,
    /// The folder directory, watched while idling.
    pub(super) folder: PathBuf,
}

impl Selected {
    /// Sync with the store and return what the client may be told now.
    pub(super) async fn updates(&mut self, expunges_ok: bool) -> Vec<Response> {
        match self.mailbox.sync().await {
            Ok(changes) => self.view.absorb(&changes),
            Err(e) => tracing::warn!(error = %e, "mailbox sync failed"),
        }
        let u = self.view.flush(expunges_ok, false);
        let mut out: Vec<Response> = u
            .expunged
            .iter()
            .map(|&seq| Response::Data(Data::Expunge(seq)))
            .collect();
        if let Some(n) = u.exists {
            out.push(Response::Data(Data::Exists(n)));
        }
        for uid in u.flags_changed {
            if let (Some(seq), Some(meta)) = (self.view.seq(uid), self.mailbox.message(uid)) {
                out.push(Response::Data(Data::Fetch {
                    seq,
                    items: vec![FetchValue::Uid(uid), FetchValue::Flags(wire_flags(meta))],
                }));
            }
        }
        out
    }

    pub(super) fn resolve(&self, uid: bool, set: &SequenceSet) -> BTreeSet<u32> {
        if uid {
            self.view.resolve_uids(set, None)
        } else {
            self.view.resolve_seqs(set, None)
        }
    }
}

impl<S: ImapStream> Session<S> {
    pub(super) fn sel(&mut self) -> &mut Selected {
        self.selected
            .as_mut()
            .expect("the command table lets only selected-state commands here")
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
        if unchanged_since.is_some() {
            return Done::not_supported("CONDSTORE");
        }
        let (sys, kws) = match split_flags(flags) {
            Ok(f) => f,
            Err(d) => return d,
        };
        let sel = self.sel();
        if sel.read_only {
            return Done::no(None, "Mailbox is read-only");
        }
        let mut responses = Vec::new();
        let mut missing = false;
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
            if changed && let Err(e) = sel.mailbox.set_flags(uid, &new_sys, &new_kws).await {
                return store_error(&e);
            }
            if !silent {
                let meta = sel.mailbox.message(uid).unwrap_or(&meta);
                let mut items = Vec::new();
                if uid_mode {
                    items.push(FetchValue::Uid(uid));
                }
                items.push(FetchValue::Flags(wire_flags(meta)));
                responses.push(Response::Data(Data::Fetch { seq, items }));
            }
        }
        for r in responses {
            self.send(r);
        }
        if missing {
            Done::no(Some(Code::ExpungeIssued), "Some messages were expunged")
        } else {
            Done::ok("STORE completed")
        }
    }

    pub(super) async fn search(
        &mut self,
        uid_mode: bool,
        returns: Option<Vec<SearchReturn>>,
        criteria: SearchKey,
    ) -> Done {
        if returns.is_some() {
            return Done::not_supported("ESEARCH");
        }
        let sel = self.sel();
        let metas: Vec<MessageMeta> = sel
            .view
            .uids()
            .iter()
            .filter_map(|&u| sel.mailbox.message(u).cloned())
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let found = tokio::task::spawn_blocking(move || {
            crate::search::search(&SearchContext::new(&metas, now), &criteria, &mut FileLoader)
        })
        .await;
        let uids = match found {
            Ok(Ok(uids)) => uids,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "search failed");
                return Done::no(Some(Code::ServerBug), "Search failed");
            }
            Err(_) => return Done::no(Some(Code::ServerBug), "Search failed"),
        };
        let ids = if uid_mode {
            uids
        } else {
            uids.iter().filter_map(|&u| sel.view.seq(u)).collect()
        };
        self.send(Response::Data(Data::Search { ids, mod_seq: None }));
        Done::ok("SEARCH completed")
    }

    /// Expunge the `\Deleted` messages; their sequence numbers, highest first.
    async fn expunge_deleted(&mut self) -> Result<Vec<u32>, Done> {
        self.expunge_deleted_in(None).await
    }

    /// Expunge the `\Deleted` messages among `only` (all when `None`: UID EXPUNGE passes its
    /// set); their sequence numbers, highest first.
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
        Ok(sel.view.remove_own(&uids))
    }

    pub(super) async fn expunge(&mut self) -> Done {
        match self.expunge_deleted().await {
            Ok(seqs) => {
                for seq in seqs {
                    self.send(Response::Data(Data::Expunge(seq)));
                }
                Done::ok("EXPUNGE completed")
            }
            Err(d) => d,
        }
    }

    /// CLOSE (`expunge`: silently expunge when read-write) or UNSELECT.
    pub(super) async fn close(&mut self, expunge: bool) -> Done {
        if expunge
            && !self.sel().read_only
            && let Err(d) = self.expunge_deleted().await
        {
            return d;
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
