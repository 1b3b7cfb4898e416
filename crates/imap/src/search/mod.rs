//! SEARCH, SORT and THREAD over a mailbox's messages.
//!
//! The evaluator works on the session's snapshot ([`MessageMeta`] in sequence order) and opens
//! message files only when a key needs them:
//!
//! - flags, keywords, `\Recent`, sizes, internal and save dates, UID and sequence sets,
//!   `MODSEQ`, `EMAILID`/`THREADID` are answered from the index alone;
//! - header keys (`FROM`, `SUBJECT`, `HEADER`, `SENT*`, and SORT/THREAD) read only the header
//!   block of a message;
//! - `BODY` and `TEXT` read the whole message (up to [`SearchContext::max_message_bytes`]).
//!
//! Messages are parsed with mail-parser one at a time and dropped before the next one, so a
//! search over a large mailbox holds at most one message in memory. SORT and THREAD keep only
//! the small keys they compare (a subject, an address, a date, message ids) per message.
//!
//! All functions are synchronous and may block on file I/O: the server runs them on a blocking
//! thread (`tokio::task::spawn_blocking`).
//!
//! ```no_run
//! # use mailstack_imap::search::{self, SearchContext, FileLoader, key::SearchKey};
//! # fn demo(messages: &[mailstack_store::MessageMeta]) -> Result<(), search::SearchError> {
//! let ctx = SearchContext::new(messages, 1_767_225_600);
//! let uids = search::search(&ctx, &SearchKey::Seen(false), &mut FileLoader)?;
//! # let _ = uids; Ok(()) }
//! ```

use std::collections::HashSet;
use std::io::Read;

use mailstack_store::MessageMeta;

mod eval;
pub mod field_cache;
pub mod key;
mod message;
mod sort;
mod text;
mod thread;

pub use eval::search;
pub use field_cache::{FieldCache, FieldSource, FolderKey};
pub use sort::sort;
pub use thread::{MAX_THREAD_DEPTH, Thread, format_threads, thread};

/// Default bound on the bytes read from one message for `BODY`/`TEXT` (64 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Bound on the bytes read when only the header block of a message is needed (2 MiB).
pub const MAX_HEADER_BYTES: usize = 2 << 20;

/// Deepest nesting of `NOT`/`OR`/parenthesised keys the evaluator accepts.
pub const MAX_KEY_DEPTH: usize = 256;

/// Why a SEARCH, SORT or THREAD failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// A message could not be read (a vanished file is not an error: it matches nothing).
    #[error("cannot read message UID {uid}: {source}")]
    Io {
        /// The message.
        uid: u32,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The search program is nested deeper than [`MAX_KEY_DEPTH`].
    #[error("search criteria nested too deeply")]
    TooComplex,
}

/// Gives the bytes of a message, lazily: called only for messages whose content a key needs,
/// at most once per message and call of [`search`], [`sort`] or [`thread`].
///
/// Any `FnMut(&MessageMeta) -> io::Result<R>` with `R: Read` is a loader, so the server can pass
/// `|m| handle.block_on(mailbox.open_message(m.uid))` (following renames by other processes)
/// and tests can count calls. An `ErrorKind::NotFound` error means the message vanished
/// (expunged meanwhile): its content keys then evaluate as for an empty message (`BODY x` is
/// false, `NOT BODY x` true) and it sorts with empty keys.
pub trait MessageLoader {
    /// A reader over the raw RFC 5322 message.
    fn open(&mut self, meta: &MessageMeta) -> std::io::Result<Box<dyn Read + '_>>;
}

impl<F, R> MessageLoader for F
where
    F: FnMut(&MessageMeta) -> std::io::Result<R>,
    R: Read + 'static,
{
    fn open(&mut self, meta: &MessageMeta) -> std::io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(self(meta)?))
    }
}

/// A loader that opens [`MessageMeta::path`] as of the snapshot.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileLoader;

impl MessageLoader for FileLoader {
    fn open(&mut self, meta: &MessageMeta) -> std::io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(std::fs::File::open(&meta.path)?))
    }
}

/// RFC 8474 object ids, defined by the server: `EMAILID` and `THREADID` compare against them
/// (exactly, case-sensitively). Without them both keys match nothing.
pub trait ObjectIds {
    /// The EMAILID of a message.
    fn email_id(&self, meta: &MessageMeta) -> Option<String>;
    /// The THREADID of a message (`None`: `NIL`).
    fn thread_id(&self, meta: &MessageMeta) -> Option<String>;
}

/// What a search is evaluated against: the session's view of the selected mailbox.
#[derive(Clone, Copy)]
pub struct SearchContext<'a> {
    /// The messages in sequence order (sequence number n is `messages[n - 1]`); UIDs ascend.
    pub messages: &'a [MessageMeta],
    /// The saved search result (`$`, RFC 5182) as UIDs; `None`: no saved result (`$` is empty).
    pub saved: Option<&'a [u32]>,
    /// UIDs that are `\Recent` in this session.
    pub recent: Option<&'a HashSet<u32>>,
    /// Now, seconds since the epoch (for `OLDER`/`YOUNGER`).
    pub now: i64,
    /// EMAILID/THREADID lookups.
    pub object_ids: Option<&'a dyn ObjectIds>,
    /// Bytes read at most from one message for `BODY`/`TEXT`; content beyond is not searched.
    pub max_message_bytes: usize,
    /// Where header field keys may take cached field values from (and leave them).
    pub fields: Option<FieldSource<'a>>,
}

impl std::fmt::Debug for SearchContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchContext")
            .field("messages", &self.messages.len())
            .field("saved", &self.saved.map(<[u32]>::len))
            .field("recent", &self.recent.map(HashSet::len))
            .field("now", &self.now)
            .field("object_ids", &self.object_ids.is_some())
            .field("max_message_bytes", &self.max_message_bytes)
            .field("fields", &self.fields.map(|f| f.folder))
            .finish()
    }
}

impl<'a> SearchContext<'a> {
    /// A context over `messages` (sequence order) at time `now`, with no saved result, no
    /// recent messages, no object ids and the default message size bound.
    pub fn new(messages: &'a [MessageMeta], now: i64) -> SearchContext<'a> {
        SearchContext {
            messages,
            saved: None,
            recent: None,
            now,
            object_ids: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            fields: None,
        }
    }

    /// With a field cache for header field keys (SEARCH only; SORT and THREAD parse).
    pub fn with_field_cache(mut self, cache: &'a FieldCache, folder: &'a FolderKey) -> Self {
        self.fields = Some(FieldSource { cache, folder });
        self
    }

    /// With the saved result `$` (UIDs).
    pub fn with_saved(mut self, saved: &'a [u32]) -> Self {
        self.saved = Some(saved);
        self
    }

    /// With the session's `\Recent` UIDs.
    pub fn with_recent(mut self, recent: &'a HashSet<u32>) -> Self {
        self.recent = Some(recent);
        self
    }

    /// With EMAILID/THREADID lookups.
    pub fn with_object_ids(mut self, ids: &'a dyn ObjectIds) -> Self {
        self.object_ids = Some(ids);
        self
    }

    /// With another bound on the bytes read per message.
    pub fn with_max_message_bytes(mut self, max: usize) -> Self {
        self.max_message_bytes = max;
        self
    }

    pub(crate) fn is_recent(&self, uid: u32) -> bool {
        self.recent.is_some_and(|r| r.contains(&uid))
    }

    /// Index (sequence number − 1) of each of `uids` in the snapshot, in the order given,
    /// skipping UIDs not in it and duplicates.
    pub(crate) fn positions(&self, uids: &[u32]) -> Vec<usize> {
        let sorted = self.messages.is_sorted_by_key(|m| m.uid);
        let map: Option<std::collections::HashMap<u32, usize>> = (!sorted).then(|| {
            self.messages
                .iter()
                .enumerate()
                .map(|(i, m)| (m.uid, i))
                .collect()
        });
        let mut seen = HashSet::with_capacity(uids.len());
        let mut out = Vec::with_capacity(uids.len());
        for &uid in uids {
            let pos = match &map {
                Some(map) => map.get(&uid).copied(),
                None => self.messages.binary_search_by_key(&uid, |m| m.uid).ok(),
            };
            if let Some(p) = pos
                && seen.insert(p)
            {
                out.push(p);
            }
        }
        out
    }
}
