//! The command AST: what [`super::parse_command`] produces and the session executes.
//!
//! Search keys, sequence sets, dates and SORT / THREAD criteria are the types of
//! [`crate::search::key`], shared with the evaluator.

use std::fmt;

use crate::search::key::{Date, SearchKey, SequenceSet, SortCriterion, ThreadAlgorithm};

/// One client command: its tag and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The tag, echoed in the tagged reply (`a001`).
    pub tag: String,
    /// The command and its arguments.
    pub body: CommandBody,
}

/// A secret (password, SASL data): its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wrap bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }
    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// A mailbox name as the client wrote it, decoded as UTF-8. `INBOX` in any case is
/// normalised to `INBOX`; nothing else is touched (`../`, `/` and 8-bit characters are kept:
/// refusing them, and choosing between modified UTF-7 and UTF8=ACCEPT, is the server's job).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox(pub String);

impl Mailbox {
    /// Build from a raw name, normalising `INBOX`.
    pub fn new(name: String) -> Self {
        if name.eq_ignore_ascii_case("INBOX") {
            Mailbox("INBOX".to_string())
        } else {
            Mailbox(name)
        }
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether this is `INBOX`.
    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }
}

/// A message flag (system flag, keyword, or `\Extension`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `\Answered`.
    Answered,
    /// `\Flagged`.
    Flagged,
    /// `\Deleted`.
    Deleted,
    /// `\Seen`.
    Seen,
    /// `\Draft`.
    Draft,
    /// `\Recent` (read-only; a client may still name it).
    Recent,
    /// A keyword such as `$Forwarded` or `Junk`, as written.
    Keyword(String),
    /// Another `\Name` flag, without the backslash.
    Extension(String),
}

impl Flag {
    /// Classify a flag's text (`\Seen`, `$Junk`, ...); system flags case-insensitively.
    pub fn from_text(s: &str) -> Flag {
        if let Some(name) = s.strip_prefix('\\') {
            match name.to_ascii_uppercase().as_str() {
                "ANSWERED" => Flag::Answered,
                "FLAGGED" => Flag::Flagged,
                "DELETED" => Flag::Deleted,
                "SEEN" => Flag::Seen,
                "DRAFT" => Flag::Draft,
                "RECENT" => Flag::Recent,
                _ => Flag::Extension(name.to_string()),
            }
        } else {
            Flag::Keyword(s.to_string())
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Answered => f.write_str("\\Answered"),
            Flag::Flagged => f.write_str("\\Flagged"),
            Flag::Deleted => f.write_str("\\Deleted"),
            Flag::Seen => f.write_str("\\Seen"),
            Flag::Draft => f.write_str("\\Draft"),
            Flag::Recent => f.write_str("\\Recent"),
            Flag::Keyword(k) => f.write_str(k),
            Flag::Extension(e) => write!(f, "\\{e}"),
        }
    }
}

/// A date and time with zone (APPEND's `"17-Jul-1996 02:44:25 -0700"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// The civil date.
    pub date: Date,
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–60.
    pub second: u8,
    /// Offset from UTC in minutes (`-0700` is -420).
    pub zone_minutes: i16,
}

/// A RFC 6154 special-use attribute (`\Sent`), for `CREATE ... (USE (...))` and LIST.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpecialUse {
    /// `\All`.
    All,
    /// `\Archive`.
    Archive,
    /// `\Drafts`.
    Drafts,
    /// `\Flagged`.
    Flagged,
    /// `\Junk`.
    Junk,
    /// `\Sent`.
    Sent,
    /// `\Trash`.
    Trash,
    /// `\Important` (RFC 8457).
    Important,
    /// Any other `\Name`, without the backslash.
    Other(String),
}

impl SpecialUse {
    /// Classify `\Name` (with or without the backslash), case-insensitively.
    pub fn from_text(s: &str) -> SpecialUse {
        let name = s.strip_prefix('\\').unwrap_or(s);
        match name.to_ascii_uppercase().as_str() {
            "ALL" => SpecialUse::All,
            "ARCHIVE" => SpecialUse::Archive,
            "DRAFTS" => SpecialUse::Drafts,
            "FLAGGED" => SpecialUse::Flagged,
            "JUNK" => SpecialUse::Junk,
            "SENT" => SpecialUse::Sent,
            "TRASH" => SpecialUse::Trash,
            "IMPORTANT" => SpecialUse::Important,
            _ => SpecialUse::Other(name.to_string()),
        }
    }
}

impl fmt::Display for SpecialUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            SpecialUse::All => "All",
            SpecialUse::Archive => "Archive",
            SpecialUse::Drafts => "Drafts",
            SpecialUse::Flagged => "Flagged",
            SpecialUse::Junk => "Junk",
            SpecialUse::Sent => "Sent",
            SpecialUse::Trash => "Trash",
            SpecialUse::Important => "Important",
            SpecialUse::Other(o) => o,
        };
        write!(f, "\\{s}")
    }
}

/// SELECT / EXAMINE parameters (RFC 7162).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelectParams {
    /// `(CONDSTORE)`.
    pub condstore: bool,
    /// `(QRESYNC (...))`.
    pub qresync: Option<QresyncParams>,
}

/// `QRESYNC (uidvalidity modseq [known-uids [(seq-match)]])` (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QresyncParams {
    /// The UIDVALIDITY the client knows.
    pub uid_validity: u32,
    /// The last MODSEQ the client knows.
    pub mod_seq: u64,
    /// The UIDs the client knows.
    pub known_uids: Option<SequenceSet>,
    /// `(known-sequence-set known-uid-set)`.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// LIST-EXTENDED selection options (RFC 5258 §3.1, RFC 6154).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListSelect {
    /// `SUBSCRIBED`.
    pub subscribed: bool,
    /// `REMOTE`.
    pub remote: bool,
    /// `RECURSIVEMATCH`.
    pub recursive_match: bool,
    /// `SPECIAL-USE`.
    pub special_use: bool,
}

/// LIST-EXTENDED return options (RFC 5258 §3.2, RFC 5819, RFC 6154).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListReturn {
    /// `SUBSCRIBED`.
    pub subscribed: bool,
    /// `CHILDREN`.
    pub children: bool,
    /// `SPECIAL-USE`.
    pub special_use: bool,
    /// `STATUS (items)` (RFC 5819).
    pub status: Option<Vec<StatusItem>>,
}

/// A STATUS data item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    /// `MESSAGES`.
    Messages,
    /// `UIDNEXT`.
    UidNext,
    /// `UIDVALIDITY`.
    UidValidity,
    /// `UNSEEN`.
    Unseen,
    /// `DELETED` (RFC 9051).
    Deleted,
    /// `SIZE` (RFC 8438).
    Size,
    /// `RECENT` (RFC 3501).
    Recent,
    /// `HIGHESTMODSEQ` (RFC 7162).
    HighestModSeq,
    /// `APPENDLIMIT` (RFC 7889).
    AppendLimit,
    /// `MAILBOXID` (RFC 8474).
    MailboxId,
}

impl StatusItem {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Deleted => "DELETED",
            StatusItem::Size => "SIZE",
            StatusItem::Recent => "RECENT",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::AppendLimit => "APPENDLIMIT",
            StatusItem::MailboxId => "MAILBOXID",
        }
    }
}

/// One message of an APPEND (several with MULTIAPPEND, RFC 3502).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flags to set.
    pub flags: Vec<Flag>,
    /// The internal date to set.
    pub date_time: Option<DateTime>,
    /// The message bytes.
    pub data: Vec<u8>,
    /// Sent as `~{n}` literal8 (RFC 3516): may contain NUL and raw binary.
    pub binary: bool,
}

/// SEARCH `RETURN (...)` options (RFC 4731, RFC 5182).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchReturn {
    /// `MIN`.
    Min,
    /// `MAX`.
    Max,
    /// `ALL`.
    All,
    /// `COUNT`.
    Count,
    /// `SAVE` (RFC 5182).
    Save,
}

/// What FETCH asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItems {
    /// `ALL`: FLAGS INTERNALDATE RFC822.SIZE ENVELOPE.
    All,
    /// `FAST`: FLAGS INTERNALDATE RFC822.SIZE.
    Fast,
    /// `FULL`: FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY.
    Full,
    /// One item or a parenthesised list.
    Items(Vec<FetchAttr>),
}

impl FetchItems {
    /// The items a macro stands for (a list as is).
    pub fn expand(&self) -> Vec<FetchAttr> {
        use FetchAttr::*;
        match self {
            FetchItems::All => vec![Flags, InternalDate, Rfc822Size, Envelope],
            FetchItems::Fast => vec![Flags, InternalDate, Rfc822Size],
            FetchItems::Full => vec![Flags, InternalDate, Rfc822Size, Envelope, Body],
            FetchItems::Items(items) => items.clone(),
        }
    }
}

/// A partial range `<start.count>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    /// First octet (0-based).
    pub start: u32,
    /// Number of octets (non-zero).
    pub count: u32,
}

/// A body section (`1.2.HEADER.FIELDS (Subject)`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// Part numbers (`1.2.3`); empty for the whole message.
    pub part: Vec<u32>,
    /// What of that part; `None` for all of it.
    pub text: Option<SectionText>,
}

/// The text specifier of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`.
    Header,
    /// `HEADER.FIELDS (names)`.
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (names)`.
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`.
    Text,
    /// `MIME` (only after a part number).
    Mime,
}

/// One FETCH data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttr {
    /// `UID`.
    Uid,
    /// `FLAGS`.
    Flags,
    /// `INTERNALDATE`.
    InternalDate,
    /// `RFC822.SIZE`.
    Rfc822Size,
    /// `ENVELOPE`.
    Envelope,
    /// `BODYSTRUCTURE`.
    BodyStructure,
    /// `BODY` (structure without extension data).
    Body,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`.
    BodySection {
        /// `.PEEK`: do not set `\Seen`.
        peek: bool,
        /// The section.
        section: Section,
        /// `<start.count>`.
        partial: Option<Partial>,
    },
    /// `BINARY[part]<partial>` or `BINARY.PEEK[...]` (RFC 3516).
    Binary {
        /// `.PEEK`.
        peek: bool,
        /// Part numbers.
        part: Vec<u32>,
        /// `<start.count>`.
        partial: Option<Partial>,
    },
    /// `BINARY.SIZE[part]`.
    BinarySize {
        /// Part numbers.
        part: Vec<u32>,
    },
    /// `RFC822`.
    Rfc822,
    /// `RFC822.HEADER`.
    Rfc822Header,
    /// `RFC822.TEXT`.
    Rfc822Text,
    /// `MODSEQ` (RFC 7162).
    ModSeq,
    /// `SAVEDATE` (RFC 8514).
    SaveDate,
    /// `EMAILID` (RFC 8474).
    EmailId,
    /// `THREADID` (RFC 8474).
    ThreadId,
    /// `PREVIEW` or `PREVIEW (LAZY)` (RFC 8970).
    Preview {
        /// `(LAZY)`.
        lazy: bool,
    },
}

/// FETCH modifiers (RFC 7162).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchModifiers {
    /// `CHANGEDSINCE n`.
    pub changed_since: Option<u64>,
    /// `VANISHED` (UID FETCH with CHANGEDSINCE only).
    pub vanished: bool,
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAction {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

/// The parameters of an `ID` command (RFC 2971): `None` for `ID NIL`.
pub type IdParams = Option<Vec<(String, Option<String>)>>;

/// A command and its arguments. Commands with a `UID` form carry `uid`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandBody {
    /// `CAPABILITY`.
    Capability,
    /// `NOOP`.
    Noop,
    /// `LOGOUT`.
    Logout,
    /// `STARTTLS`.
    StartTls,
    /// `AUTHENTICATE mechanism [initial-response]` (RFC 4959 SASL-IR).
    Authenticate {
        /// The SASL mechanism, upper-cased (`PLAIN`).
        mechanism: String,
        /// The decoded initial response; `Some(empty)` for `=`.
        initial_response: Option<Secret>,
    },
    /// `LOGIN user password`.
    Login {
        /// The user name.
        username: String,
        /// The password bytes.
        password: Secret,
    },
    /// `ENABLE cap...` (RFC 5161); capability names upper-cased.
    Enable(Vec<String>),
    /// `SELECT mailbox [(params)]`.
    Select {
        /// The mailbox.
        mailbox: Mailbox,
        /// CONDSTORE / QRESYNC.
        params: SelectParams,
    },
    /// `EXAMINE mailbox [(params)]`.
    Examine {
        /// The mailbox.
        mailbox: Mailbox,
        /// CONDSTORE / QRESYNC.
        params: SelectParams,
    },
    /// `CREATE mailbox [(USE (\Sent ...))]`.
    Create {
        /// The mailbox.
        mailbox: Mailbox,
        /// Special-use attributes requested (RFC 6154 §3).
        special_use: Vec<SpecialUse>,
    },
    /// `DELETE mailbox`.
    Delete(Mailbox),
    /// `RENAME from to`.
    Rename {
        /// Existing name.
        from: Mailbox,
        /// New name.
        to: Mailbox,
    },
    /// `SUBSCRIBE mailbox`.
    Subscribe(Mailbox),
    /// `UNSUBSCRIBE mailbox`.
    Unsubscribe(Mailbox),
    /// `LIST [(select)] reference pattern(s) [RETURN (...)]`.
    List {
        /// Selection options.
        select: ListSelect,
        /// The reference name.
        reference: String,
        /// One or more patterns (with `%` / `*` wildcards).
        patterns: Vec<String>,
        /// Return options.
        returns: ListReturn,
    },
    /// `LSUB reference pattern`.
    Lsub {
        /// The reference name.
        reference: String,
        /// The pattern.
        pattern: String,
    },
    /// `NAMESPACE`.
    Namespace,
    /// `STATUS mailbox (items)`.
    Status {
        /// The mailbox.
        mailbox: Mailbox,
        /// Items asked for.
        items: Vec<StatusItem>,
    },
    /// `APPEND mailbox ...` with one or more messages.
    Append {
        /// The mailbox.
        mailbox: Mailbox,
        /// The messages, in order.
        messages: Vec<AppendMessage>,
    },
    /// `IDLE` (ended by a `DONE` line: see [`super::parse_idle_done`]).
    Idle,
    /// `CHECK`.
    Check,
    /// `CLOSE`.
    Close,
    /// `UNSELECT`.
    Unselect,
    /// `EXPUNGE`.
    Expunge,
    /// `UID EXPUNGE set` (RFC 4315).
    UidExpunge(SequenceSet),
    /// `[UID] SEARCH [RETURN (...)] [CHARSET x] keys`.
    Search {
        /// UID SEARCH.
        uid: bool,
        /// `RETURN (...)`: `Some(vec![])` for `RETURN ()`.
        returns: Option<Vec<SearchReturn>>,
        /// The charset, upper-cased, if given.
        charset: Option<String>,
        /// The keys (several keys in a row are an [`SearchKey::And`]).
        criteria: SearchKey,
    },
    /// `[UID] FETCH set items [(modifiers)]`.
    Fetch {
        /// UID FETCH.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// What to fetch.
        items: FetchItems,
        /// CHANGEDSINCE / VANISHED.
        modifiers: FetchModifiers,
    },
    /// `[UID] STORE set [(UNCHANGEDSINCE n)] (+|-)FLAGS[.SILENT] flags`.
    Store {
        /// UID STORE.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// `UNCHANGEDSINCE n` (RFC 7162).
        unchanged_since: Option<u64>,
        /// Replace, add or remove.
        action: StoreAction,
        /// `.SILENT`.
        silent: bool,
        /// The flags.
        flags: Vec<Flag>,
    },
    /// `[UID] COPY set mailbox`.
    Copy {
        /// UID COPY.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The destination.
        mailbox: Mailbox,
    },
    /// `[UID] MOVE set mailbox` (RFC 6851).
    Move {
        /// UID MOVE.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The destination.
        mailbox: Mailbox,
    },
    /// `[UID] SORT (criteria) charset keys` (RFC 5256).
    Sort {
        /// UID SORT.
        uid: bool,
        /// Sort criteria, in order.
        criteria: Vec<SortCriterion>,
        /// The charset, upper-cased.
        charset: String,
        /// The search keys.
        keys: SearchKey,
    },
    /// `[UID] THREAD algorithm charset keys` (RFC 5256).
    Thread {
        /// UID THREAD.
        uid: bool,
        /// The algorithm.
        algorithm: ThreadAlgorithm,
        /// The charset, upper-cased.
        charset: String,
        /// The search keys.
        keys: SearchKey,
    },
    /// `GETQUOTA root` (RFC 9208).
    GetQuota(String),
    /// `GETQUOTAROOT mailbox`.
    GetQuotaRoot(Mailbox),
    /// `SETQUOTA root (resource limit ...)`.
    SetQuota {
        /// The quota root.
        root: String,
        /// Resource names (upper-cased) and limits.
        limits: Vec<(String, u64)>,
    },
    /// `ID (params)` or `ID NIL` (RFC 2971).
    Id(IdParams),
    /// `COMPRESS mechanism` (RFC 4978), upper-cased (`DEFLATE`).
    Compress(String),
}
