//! SEARCH (RFC 9051 §6.4.4) with ESEARCH's `RETURN (MIN MAX ALL COUNT)` (RFC 4731),
//! SEARCHRES's `SAVE` and `$` (RFC 5182) and CONDSTORE's `MODSEQ` key (RFC 7162 §3.1.5);
//! and the snapshot SEARCH, SORT and THREAD are evaluated on.
//!
//! The evaluator numbers messages by their position in the snapshot, so the snapshot holds
//! one entry per sequence number of the session's view, including messages another session
//! expunged that this client has not been told of yet (the view keeps their numbers, RFC 9051
//! §7.5.1). Those never match (as in Dovecot: "SEARCH ignores expunged messages"): they stand
//! in the snapshot as empty placeholders and are dropped from every result.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use mailstack_store::MessageMeta;

use super::reply::Done;
use super::selected::Selected;
use super::{ImapStream, Session};
use crate::proto::{Code, Data, ESearchItem, NumberSet, Response, SearchReturn};
use crate::search::key::SearchKey;
use crate::search::{FieldCache, FolderKey, MessageLoader, ObjectIds, SearchContext, SearchError};

/// Header field values searches have read, for all sessions of the process (64 MiB at most).
static FIELD_CACHE: std::sync::LazyLock<FieldCache> =
    std::sync::LazyLock::new(|| FieldCache::new(64 << 20));

/// RFC 8474 ids for SEARCH EMAILID/THREADID: the same EMAILID FETCH reports; no threads.
struct MaildirObjectIds;

impl ObjectIds for MaildirObjectIds {
    fn email_id(&self, meta: &MessageMeta) -> Option<String> {
        Some(super::fetch::email_id(meta))
    }
    fn thread_id(&self, _meta: &MessageMeta) -> Option<String> {
        None
    }
}

/// Whether a search program uses the `MODSEQ` key (then the reply carries the highest MODSEQ
/// of the matches).
pub(super) fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        _ => false,
    }
}

/// Open a message file; when another process renamed it (a flag change since our last
/// sync), find it again by its base name in `cur/` or `new/`.
fn open_following_renames(path: &Path) -> io::Result<std::fs::File> {
    match std::fs::File::open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let base = name.split(':').next().unwrap_or_default();
            let maildir = path.parent().and_then(Path::parent);
            let (Some(maildir), false) = (maildir, base.is_empty()) else {
                return Err(e);
            };
            for sub in ["cur", "new"] {
                let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let file = entry.file_name();
                    let file = file.to_string_lossy();
                    if file == base || file.strip_prefix(base).is_some_and(|r| r.starts_with(':')) {
                        return std::fs::File::open(entry.path());
                    }
                }
            }
            Err(e)
        }
        other => other,
    }
}

/// Reads snapshot messages; expunged placeholders read as vanished files.
struct SnapshotLoader<'a> {
    gone: &'a HashSet<u32>,
}

impl MessageLoader for SnapshotLoader<'_> {
    fn open(&mut self, meta: &MessageMeta) -> io::Result<Box<dyn Read + '_>> {
        if self.gone.contains(&meta.uid) {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(Box::new(open_following_renames(&meta.path)?))
    }
}

/// The selected mailbox as the evaluator sees it: one entry per sequence number of the view.
pub(super) struct Snapshot {
    metas: Vec<MessageMeta>,
    /// UIDs in the view but no longer in the mailbox (expunged, not told yet).
    gone: HashSet<u32>,
    saved: Vec<u32>,
    /// The mailbox, as the field cache knows it.
    folder: FolderKey,
}

impl Snapshot {
    /// The session's view of `sel`, with its saved result `$`.
    pub(super) fn of(sel: &Selected) -> Snapshot {
        let template = sel.view.uids().iter().find_map(|&u| sel.mailbox.message(u));
        let mut metas = Vec::with_capacity(sel.view.uids().len());
        let mut gone = HashSet::new();
        for &uid in sel.view.uids() {
            match (sel.mailbox.message(uid), template) {
                (Some(meta), _) => metas.push(meta.clone()),
                (None, Some(template)) => {
                    let mut placeholder = template.clone();
                    placeholder.uid = uid;
                    placeholder.flags.clear();
                    placeholder.keywords.clear();
                    placeholder.size = 0;
                    placeholder.vsize = 0;
                    placeholder.modseq = 0;
                    placeholder.path = PathBuf::new();
                    metas.push(placeholder);
                    gone.insert(uid);
                }
                // Nothing of the view is left: every search finds nothing.
                (None, None) => {
                    gone.insert(uid);
                }
            }
        }
        if metas.len() != sel.view.uids().len() {
            metas.clear();
        }
        Snapshot {
            metas,
            gone,
            saved: sel.saved.clone(),
            folder: FolderKey {
                dir: sel.folder.clone(),
                guid: sel.mailbox.guid().to_string(),
                uidvalidity: sel.mailbox.uidvalidity(),
            },
        }
    }

    /// Evaluate `key` on a blocking thread, then `then` on the matching UIDs (in sequence
    /// order, expunged ones left out) with the same context and loader.
    pub(super) async fn run<T, F>(self, key: SearchKey, then: F) -> Result<T, Done>
    where
        T: Send + 'static,
        F: FnOnce(&SearchContext<'_>, Vec<u32>, &mut dyn MessageLoader) -> Result<T, SearchError>
            + Send
            + 'static,
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let result = tokio::task::spawn_blocking(move || {
            let ctx = SearchContext::new(&self.metas, now)
                .with_saved(&self.saved)
                .with_object_ids(&MaildirObjectIds)
                .with_field_cache(&FIELD_CACHE, &self.folder);
            let mut loader = SnapshotLoader { gone: &self.gone };
            let found = crate::search::search(&ctx, &key, &mut loader)?;
            let found = found
                .into_iter()
                .filter(|u| !self.gone.contains(u))
                .collect();
            then(&ctx, found, &mut loader)
        })
        .await;
        match result {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(SearchError::TooComplex)) => Err(Done::bad("Search criteria too complex")),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "search failed");
                Err(Done::no(Some(Code::ServerBug), "Search failed"))
            }
            Err(_) => Err(Done::no(Some(Code::ServerBug), "Search failed")),
        }
    }
}

/// The highest MODSEQ of `uids` in `sel` (`None` without messages).
pub(super) fn highest_modseq(sel: &Selected, uids: &[u32]) -> Option<u64> {
    uids.iter()
        .filter_map(|&u| sel.mailbox.message(u).map(|m| m.modseq))
        .max()
}

/// The ESEARCH result options asked for (RFC 4731 §3.1: `RETURN ()` means `ALL`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Options {
    min: bool,
    max: bool,
    all: bool,
    count: bool,
    save: bool,
}

impl Options {
    fn of(returns: &[SearchReturn]) -> Options {
        if returns.is_empty() {
            return Options {
                all: true,
                ..Options::default()
            };
        }
        let has = |r| returns.contains(&r);
        Options {
            min: has(SearchReturn::Min),
            max: has(SearchReturn::Max),
            all: has(SearchReturn::All),
            count: has(SearchReturn::Count),
            save: has(SearchReturn::Save),
        }
    }

    /// Only MIN and/or MAX (no ALL or COUNT): SAVE keeps, and MODSEQ covers, only those.
    fn min_max_only(self) -> bool {
        (self.min || self.max) && !self.all && !self.count
    }

    /// SAVE alone asks for no ESEARCH response (RFC 5182 §2.1).
    fn save_only(self) -> bool {
        self.save && !self.min && !self.max && !self.all && !self.count
    }
}

/// The ESEARCH items for the matches `found` (UIDs, ascending) as `ids` (UIDs or sequence
/// numbers, ascending); `modseq` is the MODSEQ item when the search used the key.
fn esearch_items(opts: Options, ids: &[u32], modseq: Option<u64>) -> Vec<ESearchItem> {
    let mut items = Vec::new();
    if let (true, Some(&min)) = (opts.min, ids.first()) {
        items.push(ESearchItem::Min(min));
    }
    if let (true, Some(&max)) = (opts.max, ids.last()) {
        items.push(ESearchItem::Max(max));
    }
    if opts.all && !ids.is_empty() {
        items.push(ESearchItem::All(NumberSet::from_numbers(ids)));
    }
    if opts.count {
        items.push(ESearchItem::Count(ids.len() as u32));
    }
    if let Some(m) = modseq {
        items.push(ESearchItem::ModSeq(m));
    }
    items
}

impl<S: ImapStream> Session<S> {
    /// `[UID] SEARCH [RETURN (...)] keys`: `* SEARCH`, or `* ESEARCH` when RETURN is given
    /// or IMAP4rev2 is enabled.
    pub(super) async fn search(
        &mut self,
        tag: &str,
        uid_mode: bool,
        returns: Option<Vec<SearchReturn>>,
        criteria: SearchKey,
    ) -> Done {
        let with_modseq = uses_modseq(&criteria);
        if with_modseq {
            self.enable_condstore();
        }
        let returns = returns.or_else(|| self.enabled.imap4rev2.then(Vec::new));
        let opts = returns.as_deref().map(Options::of);
        let snapshot = Snapshot::of(self.sel());
        let found = match snapshot.run(criteria, |_, found, _| Ok(found)).await {
            Ok(found) => found,
            Err(done) => {
                // RFC 5182 §2.1: a failed SEARCH ... SAVE empties `$`.
                if opts.is_some_and(|o| o.save) {
                    self.sel().saved.clear();
                }
                return done;
            }
        };
        let sel = self.sel();
        let id = |u: u32| if uid_mode { Some(u) } else { sel.view.seq(u) };
        let Some(opts) = opts else {
            let mod_seq = with_modseq.then(|| highest_modseq(sel, &found)).flatten();
            let ids = found.iter().filter_map(|&u| id(u)).collect();
            self.send(Response::Data(Data::Search { ids, mod_seq }));
            return Done::ok("SEARCH completed");
        };
        // With only MIN/MAX, SAVE and MODSEQ are about those messages (RFC 5182 §2.4,
        // RFC 7162 §3.1.5).
        let picked: Vec<u32> = if opts.min_max_only() {
            let mut v = Vec::new();
            if let (true, Some(&u)) = (opts.min, found.first()) {
                v.push(u);
            }
            if let (true, Some(&u)) = (opts.max, found.last())
                && !v.contains(&u)
            {
                v.push(u);
            }
            v
        } else {
            found.clone()
        };
        let mod_seq = with_modseq.then(|| highest_modseq(sel, &picked)).flatten();
        let ids: Vec<u32> = found.iter().filter_map(|&u| id(u)).collect();
        if opts.save {
            sel.saved = picked;
        }
        if !opts.save_only() {
            self.send(Response::Data(Data::ESearch {
                tag: Some(tag.to_string()),
                uid: uid_mode,
                items: esearch_items(opts, &ids, mod_seq),
            }));
        }
        Done::ok("SEARCH completed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_options() {
        assert_eq!(
            Options::of(&[]),
            Options {
                all: true,
                ..Options::default()
            }
        );
        let o = Options::of(&[SearchReturn::Min, SearchReturn::Save]);
        assert!(o.min_max_only() && !o.save_only());
        assert!(Options::of(&[SearchReturn::Save]).save_only());
        assert!(!Options::of(&[SearchReturn::Max, SearchReturn::Count]).min_max_only());
    }

    #[test]
    fn esearch_items_leave_out_min_max_all_when_nothing_matched() {
        let all = Options::of(&[
            SearchReturn::Min,
            SearchReturn::Max,
            SearchReturn::All,
            SearchReturn::Count,
        ]);
        assert_eq!(esearch_items(all, &[], None), [ESearchItem::Count(0)]);
        assert_eq!(
            esearch_items(all, &[2, 3, 4, 9], Some(7)),
            [
                ESearchItem::Min(2),
                ESearchItem::Max(9),
                ESearchItem::All(NumberSet(vec![(2, 4), (9, 9)])),
                ESearchItem::Count(4),
                ESearchItem::ModSeq(7),
            ]
        );
    }

    #[test]
    fn modseq_key_is_found_anywhere() {
        let k = SearchKey::And(vec![
            SearchKey::Seen(true),
            SearchKey::Not(Box::new(SearchKey::Or(
                Box::new(SearchKey::All),
                Box::new(SearchKey::ModSeq(5)),
            ))),
        ]);
        assert!(uses_modseq(&k));
        assert!(!uses_modseq(&SearchKey::All));
    }

    #[test]
    fn renamed_files_are_found_by_base_name() {
        let t = tempfile::tempdir().unwrap();
        for d in ["cur", "new", "tmp"] {
            std::fs::create_dir(t.path().join(d)).unwrap();
        }
        std::fs::write(t.path().join("cur/123.M1P1.h,S=5:2,FS"), b"hello").unwrap();
        let old = t.path().join("new/123.M1P1.h,S=5");
        let mut s = String::new();
        open_following_renames(&old)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello");
        let gone = t.path().join("cur/999.M1P1.h,S=5:2,");
        assert_eq!(
            open_following_renames(&gone).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        // A base name that is a prefix of another is not confused with it.
        let prefix = t.path().join("cur/123.M1P1.h:2,");
        assert!(open_following_renames(&prefix).is_err());
    }
}
