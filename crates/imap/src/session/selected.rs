//! Commands on the selected mailbox: FETCH, STORE, SEARCH, EXPUNGE, CLOSE/UNSELECT, and the
//! updates sent before each tagged completion.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

use mailstack_store::{Flag as StoreFlag, Mailbox as StoreMailbox, MessageMeta};

use super::convert::{internal_date, split_flags, wire_flags};
use super::reply::{Done, store_error};
use super::{ImapStream, Session};
use crate::proto::{
    Code, Data, FetchAttr, FetchItems, FetchModifiers, FetchValue, Flag, Response, SearchReturn,
    Section, SectionText, StoreAction,
};
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

    fn resolve(&self, uid: bool, set: &SequenceSet) -> BTreeSet<u32> {
        if uid {
            self.view.resolve_uids(set, None)
        } else {
            self.view.resolve_seqs(set, None)
        }
    }
}

/// Whether we can answer this FETCH item.
fn supported(attr: &FetchAttr) -> bool {
    match attr {
        FetchAttr::Uid
        | FetchAttr::Flags
        | FetchAttr::InternalDate
        | FetchAttr::Rfc822Size
        | FetchAttr::Rfc822
        | FetchAttr::Rfc822Header
        | FetchAttr::Rfc822Text => true,
        FetchAttr::BodySection { section, .. } => {
            section.part.is_empty()
                && matches!(
                    section.text,
                    None | Some(SectionText::Header | SectionText::Text)
                )
        }
        _ => false,
    }
}

fn needs_content(attr: &FetchAttr) -> bool {
    matches!(
        attr,
        FetchAttr::Rfc822
            | FetchAttr::Rfc822Header
            | FetchAttr::Rfc822Text
            | FetchAttr::BodySection { .. }
    )
}

/// Whether fetching this item sets `\Seen`.
fn marks_seen(attr: &FetchAttr) -> bool {
    matches!(
        attr,
        FetchAttr::Rfc822 | FetchAttr::Rfc822Text | FetchAttr::BodySection { peek: false, .. }
    )
}

/// Offset where the body starts (after the blank line), or the length when there is none.
fn body_start(raw: &[u8]) -> usize {
    if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
        return i + 4;
    }
    if let Some(i) = raw.windows(2).position(|w| w == b"\n\n") {
        return i + 2;
    }
    raw.len()
}

async fn read_message(mailbox: &StoreMailbox, uid: u32) -> Option<Vec<u8>> {
    let file = mailbox.open_message(uid).await.ok()?;
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        let mut data = Vec::new();
        file.read_to_end(&mut data).map(|_| data)
    })
    .await
    .ok()?
    .ok()
}

fn section_value(
    section: &Section,
    partial: Option<crate::proto::Partial>,
    raw: &[u8],
) -> FetchValue {
    let split = body_start(raw);
    let data = match section.text {
        None => raw,
        Some(SectionText::Header) => &raw[..split],
        _ => &raw[split..],
    };
    let (origin, data) = match partial {
        Some(p) => {
            let start = (p.start as usize).min(data.len());
            let end = start.saturating_add(p.count as usize).min(data.len());
            (Some(p.start), &data[start..end])
        }
        None => (None, data),
    };
    FetchValue::BodySection {
        section: section.clone(),
        origin,
        data: Some(data.to_vec()),
    }
}

impl<S: ImapStream> Session<S> {
    fn sel(&mut self) -> &mut Selected {
        self.selected
            .as_mut()
            .expect("the command table lets only selected-state commands here")
    }

    pub(super) async fn fetch(
        &mut self,
        uid_mode: bool,
        set: &SequenceSet,
        items: &FetchItems,
        modifiers: FetchModifiers,
    ) -> Done {
        if modifiers != FetchModifiers::default() {
            return Done::not_supported("CONDSTORE");
        }
        let mut attrs = items.expand();
        if !attrs.iter().all(supported) {
            return Done::not_supported("FETCH item");
        }
        if uid_mode && !attrs.contains(&FetchAttr::Uid) {
            attrs.insert(0, FetchAttr::Uid);
        }
        let content = attrs.iter().any(needs_content);
        let sel = self.sel();
        let wants_seen = !sel.read_only && attrs.iter().any(marks_seen);
        let mut responses = Vec::new();
        let mut missing = false;
        for uid in sel.resolve(uid_mode, set) {
            let Some(seq) = sel.view.seq(uid) else {
                continue;
            };
            let Some(mut meta) = sel.mailbox.message(uid).cloned() else {
                missing = true;
                continue;
            };
            let raw = if content {
                match read_message(&sel.mailbox, uid).await {
                    Some(raw) => Some(raw),
                    None => {
                        missing = true;
                        continue;
                    }
                }
            } else {
                None
            };
            let mut seen_now = false;
            if wants_seen && !meta.flags.contains(&StoreFlag::Seen) {
                let mut flags = meta.flags.clone();
                flags.push(StoreFlag::Seen);
                flags.sort();
                if let Err(e) = sel.mailbox.set_flags(uid, &flags, &meta.keywords).await {
                    tracing::warn!(error = %e, uid, "cannot set \\Seen");
                } else if let Some(m) = sel.mailbox.message(uid) {
                    meta = m.clone();
                    seen_now = true;
                }
            }
            let raw = raw.as_deref().unwrap_or(&[]);
            let mut values: Vec<FetchValue> =
                attrs.iter().map(|a| fetch_value(a, &meta, raw)).collect();
            if seen_now && !attrs.contains(&FetchAttr::Flags) {
                values.push(FetchValue::Flags(wire_flags(&meta)));
            }
            responses.push(Response::Data(Data::Fetch { seq, items: values }));
        }
        for r in responses {
            self.send(r);
        }
        if missing {
            Done::no(Some(Code::ExpungeIssued), "Some messages were expunged")
        } else {
            Done::ok("FETCH completed")
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
                sel.mailbox
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

fn fetch_value(attr: &FetchAttr, meta: &MessageMeta, raw: &[u8]) -> FetchValue {
    match attr {
        FetchAttr::Uid => FetchValue::Uid(meta.uid),
        FetchAttr::Flags => FetchValue::Flags(wire_flags(meta)),
        FetchAttr::InternalDate => FetchValue::InternalDate(internal_date(meta.internal_date)),
        FetchAttr::Rfc822Size => FetchValue::Rfc822Size(meta.vsize),
        FetchAttr::Rfc822 => FetchValue::Rfc822(Some(raw.to_vec())),
        FetchAttr::Rfc822Header => FetchValue::Rfc822Header(Some(raw[..body_start(raw)].to_vec())),
        FetchAttr::Rfc822Text => FetchValue::Rfc822Text(Some(raw[body_start(raw)..].to_vec())),
        FetchAttr::BodySection {
            section, partial, ..
        } => section_value(section, *partial, raw),
        // `supported` let nothing else through.
        _ => FetchValue::Uid(meta.uid),
    }
}
