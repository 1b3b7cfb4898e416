//! Server responses: types for everything imap-server sends, and the writer producing exact
//! wire bytes ([`Response::write_to`], [`Response::to_bytes`]).
//!
//! Mailbox names are written as given: the server encodes them (modified UTF-7, or UTF-8 for
//! a UTF8=ACCEPT session) before building the response. Strings are quoted, or sent as a
//! literal when they contain CR, LF, `"`, `\`, NUL or 8-bit octets ([`quote_or_literal`]).

mod write;

use std::fmt;

use super::command::{DateTime, Flag, IdParams, Section, SpecialUse};

pub use write::{quote_or_literal, write_fetch_item, write_fetch_literal_head, write_string};

/// Anything the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// A status response: tagged completion, or untagged OK/NO/BAD/BYE/PREAUTH.
    Status(StatusResponse),
    /// Untagged data (`* ...`).
    Data(Data),
    /// A continuation request (`+ ...`).
    Continuation(Continuation),
}

impl Response {
    /// `+ Ready for literal data`: the answer to [`super::Frame::NeedContinuation`].
    pub fn literal_ready() -> Response {
        Response::Continuation(Continuation::Text {
            code: None,
            text: "Ready for literal data".into(),
        })
    }

    /// A tagged or untagged status response without a code.
    pub fn status(tag: Option<&str>, kind: StatusKind, text: &str) -> Response {
        Response::Status(StatusResponse {
            tag: tag.map(str::to_string),
            kind,
            code: None,
            text: text.to_string(),
        })
    }

    /// The wire bytes, CRLF included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    /// Append the wire bytes, CRLF included, to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        write::response(out, self);
    }
}

/// The kind of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// `OK`.
    Ok,
    /// `NO`.
    No,
    /// `BAD`.
    Bad,
    /// `BYE` (always untagged).
    Bye,
    /// `PREAUTH` (greeting, untagged).
    Preauth,
}

/// `tag OK [CODE] text` or `* OK [CODE] text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusResponse {
    /// The tag; `None` for `*`.
    pub tag: Option<String>,
    /// OK, NO, ...
    pub kind: StatusKind,
    /// The response code.
    pub code: Option<Code>,
    /// Human-readable text (CR and LF are written as spaces).
    pub text: String,
}

/// A continuation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continuation {
    /// `+ [CODE] text`.
    Text {
        /// The response code.
        code: Option<Code>,
        /// The text.
        text: String,
    },
    /// `+ base64`: a SASL challenge (given decoded; empty gives `+ `).
    Base64(Vec<u8>),
}

/// A set of numbers (UIDs or message numbers) as ascending-run ranges, written `1:3,5`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NumberSet(pub Vec<(u32, u32)>);

impl NumberSet {
    /// Compress numbers into ranges, keeping their order: consecutive runs (`n, n+1, ...`)
    /// become `a:b`. Sort first for the shortest form; keep the order for COPYUID.
    pub fn from_numbers(numbers: &[u32]) -> NumberSet {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for &n in numbers {
            match ranges.last_mut() {
                Some((_, end)) if end.checked_add(1) == Some(n) => *end = n,
                _ => ranges.push((n, n)),
            }
        }
        NumberSet(ranges)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for NumberSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}:{b}")?;
            }
        }
        Ok(())
    }
}

/// A response code (`[...]` after OK/NO/BAD/BYE).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Code {
    /// `ALERT`.
    Alert,
    /// `BADCHARSET (charsets)`.
    BadCharset(Vec<String>),
    /// `CAPABILITY caps`.
    Capability(Vec<String>),
    /// `PARSE`.
    Parse,
    /// `PERMANENTFLAGS (flags [\*])`.
    PermanentFlags {
        /// The flags that stick.
        flags: Vec<Flag>,
        /// `\*`: new keywords may be created.
        new_keywords: bool,
    },
    /// `READ-ONLY`.
    ReadOnly,
    /// `READ-WRITE`.
    ReadWrite,
    /// `TRYCREATE`.
    TryCreate,
    /// `UIDNEXT n`.
    UidNext(u32),
    /// `UIDVALIDITY n`.
    UidValidity(u32),
    /// `UNSEEN n`.
    Unseen(u32),
    /// `HIGHESTMODSEQ n`.
    HighestModSeq(u64),
    /// `NOMODSEQ`.
    NoModSeq,
    /// `MODIFIED set`.
    Modified(NumberSet),
    /// `APPENDUID uidvalidity uids`.
    AppendUid {
        /// UIDVALIDITY of the destination.
        uid_validity: u32,
        /// The new UIDs.
        uids: NumberSet,
    },
    /// `COPYUID uidvalidity source dest`.
    CopyUid {
        /// UIDVALIDITY of the destination.
        uid_validity: u32,
        /// Source UIDs.
        source: NumberSet,
        /// Destination UIDs, in the same order.
        dest: NumberSet,
    },
    /// `UIDNOTSTICKY`.
    UidNotSticky,
    /// `CLOSED` (RFC 7162).
    Closed,
    /// `UNAVAILABLE` (RFC 5530, as the rest down to `ALREADYEXISTS`).
    Unavailable,
    /// `AUTHENTICATIONFAILED`.
    AuthenticationFailed,
    /// `AUTHORIZATIONFAILED`.
    AuthorizationFailed,
    /// `EXPIRED`.
    Expired,
    /// `PRIVACYREQUIRED`.
    PrivacyRequired,
    /// `CONTACTADMIN`.
    ContactAdmin,
    /// `NOPERM`.
    NoPerm,
    /// `INUSE`.
    InUse,
    /// `EXPUNGEISSUED`.
    ExpungeIssued,
    /// `CORRUPTION`.
    Corruption,
    /// `SERVERBUG`.
    ServerBug,
    /// `CLIENTBUG`.
    ClientBug,
    /// `CANNOT`.
    Cannot,
    /// `LIMIT`.
    Limit,
    /// `OVERQUOTA`.
    OverQuota,
    /// `ALREADYEXISTS`.
    AlreadyExists,
    /// `NONEXISTENT`.
    NonExistent,
    /// `HASCHILDREN` (RFC 9051).
    HasChildren,
    /// `UNKNOWN-CTE` (RFC 3516).
    UnknownCte,
    /// `TOOBIG` (RFC 4469 / RFC 7889).
    TooBig,
    /// `INVALID`.
    Invalid,
    /// `COMPRESSIONACTIVE` (RFC 4978).
    CompressionActive,
    /// `MAILBOXID (id)` (RFC 8474).
    MailboxId(String),
    /// Any other code: an atom and optional text.
    Other(String, Option<String>),
}

/// Untagged data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Data {
    /// `* CAPABILITY ...`.
    Capability(Vec<String>),
    /// `* LIST ...`.
    List(ListItem),
    /// `* LSUB ...`.
    Lsub(ListItem),
    /// `* STATUS mailbox (...)`.
    Status {
        /// The mailbox name, already encoded for the wire.
        mailbox: String,
        /// The values.
        items: Vec<StatusValue>,
    },
    /// `* FLAGS (...)`.
    Flags(Vec<Flag>),
    /// `* n EXISTS`.
    Exists(u32),
    /// `* n RECENT`.
    Recent(u32),
    /// `* n EXPUNGE`.
    Expunge(u32),
    /// `* VANISHED [(EARLIER)] uids` (RFC 7162).
    Vanished {
        /// `(EARLIER)`.
        earlier: bool,
        /// The UIDs.
        uids: NumberSet,
    },
    /// `* n FETCH (...)`.
    Fetch {
        /// The message number.
        seq: u32,
        /// The items.
        items: Vec<FetchValue>,
    },
    /// `* ESEARCH [(TAG "t")] [UID] ...` (RFC 4731).
    ESearch {
        /// The tag of the SEARCH.
        tag: Option<String>,
        /// Results are UIDs.
        uid: bool,
        /// The return data.
        items: Vec<ESearchItem>,
    },
    /// `* SEARCH n... [(MODSEQ m)]`.
    Search {
        /// Matching numbers.
        ids: Vec<u32>,
        /// The highest MODSEQ of the matches (RFC 7162).
        mod_seq: Option<u64>,
    },
    /// `* SORT n... [(MODSEQ m)]`.
    Sort {
        /// Numbers in sorted order.
        ids: Vec<u32>,
        /// The highest MODSEQ.
        mod_seq: Option<u64>,
    },
    /// `* THREAD (...)...`.
    Thread(Vec<ThreadNode>),
    /// `* QUOTA root (resource usage limit ...)`.
    Quota {
        /// The quota root.
        root: String,
        /// Resources.
        resources: Vec<QuotaResource>,
    },
    /// `* QUOTAROOT mailbox roots...`.
    QuotaRoot {
        /// The mailbox name, encoded.
        mailbox: String,
        /// Its quota roots.
        roots: Vec<String>,
    },
    /// `* ID (...)` or `* ID NIL`.
    Id(IdParams),
    /// `* ENABLED caps...`.
    Enabled(Vec<String>),
    /// `* NAMESPACE personal other shared` (an empty list is NIL).
    Namespace {
        /// Personal namespaces.
        personal: Vec<NamespaceDesc>,
        /// Other users'.
        other: Vec<NamespaceDesc>,
        /// Shared.
        shared: Vec<NamespaceDesc>,
    },
}

/// A LIST / LSUB line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem {
    /// Name attributes.
    pub attributes: Vec<ListAttr>,
    /// Hierarchy delimiter (`None` is NIL).
    pub delimiter: Option<char>,
    /// The mailbox name, encoded.
    pub name: String,
    /// `CHILDINFO` extended data (`SUBSCRIBED`), RFC 5258.
    pub child_info: Vec<String>,
}

/// A mailbox name attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListAttr {
    /// `\Noinferiors`.
    NoInferiors,
    /// `\Noselect`.
    NoSelect,
    /// `\Marked`.
    Marked,
    /// `\Unmarked`.
    Unmarked,
    /// `\HasChildren`.
    HasChildren,
    /// `\HasNoChildren`.
    HasNoChildren,
    /// `\NonExistent`.
    NonExistent,
    /// `\Subscribed`.
    Subscribed,
    /// `\Remote`.
    Remote,
    /// A special-use attribute.
    SpecialUse(SpecialUse),
}

/// A STATUS value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusValue {
    /// `MESSAGES n`.
    Messages(u32),
    /// `UIDNEXT n`.
    UidNext(u32),
    /// `UIDVALIDITY n`.
    UidValidity(u32),
    /// `UNSEEN n`.
    Unseen(u32),
    /// `DELETED n`.
    Deleted(u32),
    /// `SIZE n`.
    Size(u64),
    /// `RECENT n`.
    Recent(u32),
    /// `HIGHESTMODSEQ n`.
    HighestModSeq(u64),
    /// `APPENDLIMIT n` or `APPENDLIMIT NIL`.
    AppendLimit(Option<u64>),
    /// `MAILBOXID (id)`.
    MailboxId(String),
}

/// One ESEARCH return item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ESearchItem {
    /// `MIN n`.
    Min(u32),
    /// `MAX n`.
    Max(u32),
    /// `ALL set`.
    All(NumberSet),
    /// `COUNT n`.
    Count(u32),
    /// `MODSEQ n`.
    ModSeq(u64),
}

/// A THREAD tree node; `id: None` is a dummy parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadNode {
    /// The message number or UID.
    pub id: Option<u32>,
    /// Replies.
    pub children: Vec<ThreadNode>,
}

/// One QUOTA resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaResource {
    /// `STORAGE`, `MESSAGE`, ...
    pub name: String,
    /// Usage (STORAGE in KiB).
    pub usage: u64,
    /// Limit.
    pub limit: u64,
}

/// A namespace: prefix and delimiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceDesc {
    /// The prefix (`""`, `"Other Users/"`).
    pub prefix: String,
    /// The delimiter.
    pub delimiter: Option<char>,
}

/// One FETCH response item. Byte strings are `Option` where NIL is possible.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchValue {
    /// `UID n`.
    Uid(u32),
    /// `FLAGS (...)`.
    Flags(Vec<Flag>),
    /// `INTERNALDATE "..."`.
    InternalDate(DateTime),
    /// `RFC822.SIZE n`.
    Rfc822Size(u64),
    /// `ENVELOPE (...)`.
    Envelope(Box<Envelope>),
    /// `BODYSTRUCTURE (...)` with extension data.
    BodyStructure(Box<BodyStructure>),
    /// `BODY (...)`: the structure without extension data.
    Body(Box<BodyStructure>),
    /// `BODY[section]<origin> data`.
    BodySection {
        /// The section, as asked.
        section: Section,
        /// `<origin>` for a partial fetch.
        origin: Option<u32>,
        /// The data (NIL when absent).
        data: Option<Vec<u8>>,
    },
    /// `BINARY[part]<origin> data` (a literal8 when the data has NUL).
    Binary {
        /// Part numbers.
        part: Vec<u32>,
        /// `<origin>`.
        origin: Option<u32>,
        /// The decoded data.
        data: Option<Vec<u8>>,
    },
    /// `BINARY.SIZE[part] n`.
    BinarySize {
        /// Part numbers.
        part: Vec<u32>,
        /// Decoded size.
        size: u64,
    },
    /// `RFC822 data`.
    Rfc822(Option<Vec<u8>>),
    /// `RFC822.HEADER data`.
    Rfc822Header(Option<Vec<u8>>),
    /// `RFC822.TEXT data`.
    Rfc822Text(Option<Vec<u8>>),
    /// `MODSEQ (n)`.
    ModSeq(u64),
    /// `SAVEDATE "..."` or `SAVEDATE NIL`.
    SaveDate(Option<DateTime>),
    /// `EMAILID (id)`.
    EmailId(String),
    /// `THREADID (id)` or `THREADID NIL`.
    ThreadId(Option<String>),
    /// `PREVIEW "text"` or `PREVIEW NIL`.
    Preview(Option<String>),
}

/// ENVELOPE data; byte strings as in the header (NIL when absent; an empty address list is
/// NIL).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// `Date:`.
    pub date: Option<Vec<u8>>,
    /// `Subject:`.
    pub subject: Option<Vec<u8>>,
    /// `From:`.
    pub from: Vec<Address>,
    /// `Sender:`.
    pub sender: Vec<Address>,
    /// `Reply-To:`.
    pub reply_to: Vec<Address>,
    /// `To:`.
    pub to: Vec<Address>,
    /// `Cc:`.
    pub cc: Vec<Address>,
    /// `Bcc:`.
    pub bcc: Vec<Address>,
    /// `In-Reply-To:`.
    pub in_reply_to: Option<Vec<u8>>,
    /// `Message-ID:`.
    pub message_id: Option<Vec<u8>>,
}

/// An ENVELOPE address (group start: `mailbox` = group name, `host` None; group end: all
/// None).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    /// Display name.
    pub name: Option<Vec<u8>>,
    /// Source route (obsolete).
    pub adl: Option<Vec<u8>>,
    /// Local part.
    pub mailbox: Option<Vec<u8>>,
    /// Domain.
    pub host: Option<Vec<u8>>,
}

/// A BODY / BODYSTRUCTURE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStructure {
    /// A leaf part.
    Single {
        /// `TEXT`, `IMAGE`, ...
        body_type: String,
        /// `PLAIN`, ...
        subtype: String,
        /// Content-Type parameters.
        params: Vec<(String, String)>,
        /// Content-ID.
        id: Option<Vec<u8>>,
        /// Content-Description.
        description: Option<Vec<u8>>,
        /// Content-Transfer-Encoding (`7BIT`).
        encoding: String,
        /// Size in octets (encoded).
        size: u32,
        /// Type-specific fields.
        kind: SingleKind,
        /// Extension data (BODYSTRUCTURE only).
        ext: Option<BodyExt>,
    },
    /// A multipart.
    Multipart {
        /// The parts.
        parts: Vec<BodyStructure>,
        /// `MIXED`, ...
        subtype: String,
        /// Content-Type parameters (extension data).
        params: Vec<(String, String)>,
        /// Extension data (BODYSTRUCTURE only).
        ext: Option<BodyExt>,
    },
}

/// Type-specific fields of a leaf part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleKind {
    /// Any other type.
    Basic,
    /// `TEXT/*`: line count.
    Text {
        /// Lines.
        lines: u32,
    },
    /// `MESSAGE/RFC822` (and `MESSAGE/GLOBAL`): the inner message.
    Message {
        /// Its envelope.
        envelope: Box<Envelope>,
        /// Its structure.
        body: Box<BodyStructure>,
        /// Lines.
        lines: u32,
    },
}

/// Extension data shared by leaf and multipart bodies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BodyExt {
    /// Content-MD5 (leaf only; ignored for multiparts).
    pub md5: Option<String>,
    /// Content-Disposition: value and parameters.
    pub disposition: Option<(String, Vec<(String, String)>)>,
    /// Content-Language.
    pub language: Vec<String>,
    /// Content-Location.
    pub location: Option<String>,
}
