//! The search language (RFC 9051 §6.4.4, RFC 3501 §6.4.4) with the extensions imap-server
//! announces: CONDSTORE's `MODSEQ` (RFC 7162), SAVEDATE (RFC 8514), OBJECTID's `EMAILID` and
//! `THREADID` (RFC 8474), SEARCHRES's `$` (RFC 5182); and the SORT / THREAD criteria (RFC 5256).
//! The parser produces these values; [`crate::search`] evaluates them.

/// A set of message numbers or UIDs: `1:4,7,9:*`. `*` is the largest number in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceSet {
    /// Explicit ranges, as written (`from` may be greater than `to`; both may be `*`).
    Ranges(Vec<(SeqBound, SeqBound)>),
    /// `$`: the result of the last `SEARCH ... SAVE` (RFC 5182).
    Saved,
}

/// One end of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqBound {
    /// A number.
    Value(u32),
    /// `*`.
    Largest,
}

/// A date without time (`1-Feb-2026`): days since the epoch-free civil calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Year (e.g. 2026).
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day, 1–31.
    pub day: u8,
}

/// One search key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// `ALL`.
    All,
    /// `ANSWERED` / `UNANSWERED` (the bool is the wanted state).
    Answered(bool),
    /// `DELETED` / `UNDELETED`.
    Deleted(bool),
    /// `DRAFT` / `UNDRAFT`.
    Draft(bool),
    /// `FLAGGED` / `UNFLAGGED`.
    Flagged(bool),
    /// `SEEN` / `UNSEEN`.
    Seen(bool),
    /// `NEW` (RFC 3501: recent and unseen).
    New,
    /// `OLD` (RFC 3501: not recent).
    Old,
    /// `RECENT` (RFC 3501).
    Recent,
    /// `KEYWORD kw` / `UNKEYWORD kw`.
    Keyword(String, bool),
    /// `BCC`, `CC`, `FROM`, `SUBJECT`, `TO`: substring of that header (case-insensitive).
    Bcc(String),
    /// `CC string`.
    Cc(String),
    /// `FROM string`.
    From(String),
    /// `SUBJECT string`.
    Subject(String),
    /// `TO string`.
    To(String),
    /// `HEADER field-name string` (empty string: the field exists).
    Header(String, String),
    /// `BODY string`: substring of the body.
    Body(String),
    /// `TEXT string`: substring of header or body.
    Text(String),
    /// `BEFORE date` (internal date).
    Before(Date),
    /// `ON date` (internal date).
    On(Date),
    /// `SINCE date` (internal date).
    Since(Date),
    /// `SENTBEFORE date` (Date: header).
    SentBefore(Date),
    /// `SENTON date`.
    SentOn(Date),
    /// `SENTSINCE date`.
    SentSince(Date),
    /// `SAVEDBEFORE date` (RFC 8514).
    SavedBefore(Date),
    /// `SAVEDON date`.
    SavedOn(Date),
    /// `SAVEDSINCE date`.
    SavedSince(Date),
    /// `SAVEDATESUPPORTED`.
    SaveDateSupported,
    /// `OLDER n` (seconds, RFC 5032 WITHIN).
    Older(u64),
    /// `YOUNGER n`.
    Younger(u64),
    /// `LARGER n` (RFC822.SIZE).
    Larger(u64),
    /// `SMALLER n`.
    Smaller(u64),
    /// `UID set`.
    Uid(SequenceSet),
    /// A message-number set.
    Sequence(SequenceSet),
    /// `MODSEQ [entry type] n`: messages with a MODSEQ ≥ n (RFC 7162).
    ModSeq(u64),
    /// `EMAILID id` (RFC 8474).
    EmailId(String),
    /// `THREADID id` (RFC 8474).
    ThreadId(String),
    /// `NOT key`.
    Not(Box<SearchKey>),
    /// `OR key key`.
    Or(Box<SearchKey>, Box<SearchKey>),
    /// A parenthesised list, or several keys in a row: all must match.
    And(Vec<SearchKey>),
}

/// A SORT criterion (RFC 5256 §3), possibly `REVERSE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    /// What to sort by.
    pub key: SortKey,
    /// `REVERSE`.
    pub reverse: bool,
}

/// What SORT compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// `ARRIVAL`: internal date.
    Arrival,
    /// `CC`: first Cc mailbox, local part.
    Cc,
    /// `DATE`: the Date: header (internal date when missing).
    Date,
    /// `FROM`: first From mailbox, local part.
    From,
    /// `SIZE`: RFC822.SIZE.
    Size,
    /// `SUBJECT`: base subject (RFC 5256 §2.1).
    Subject,
    /// `TO`: first To mailbox, local part.
    To,
    /// `DISPLAYFROM` (RFC 5957).
    DisplayFrom,
    /// `DISPLAYTO` (RFC 5957).
    DisplayTo,
}

/// THREAD algorithms (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    /// `ORDEREDSUBJECT`.
    OrderedSubject,
    /// `REFERENCES`.
    References,
}
