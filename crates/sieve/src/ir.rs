//! The compiled form of a script: typed commands and tests, produced by `validate` and walked
//! by `interp`. Strings that may contain `${…}` references are [`Value`]s, expanded at run time.

use regex::Regex;

/// A string argument: a literal, or a template with variable references (RFC 5229 §3).
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Lit(String),
    Tpl(Vec<Piece>),
}

/// A piece of a template.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Lit(String),
    /// A variable by (lowercased) name.
    Var(String),
    /// A match variable `${N}`.
    Match(usize),
}

impl Value {
    /// The literal text, when there is nothing to expand.
    pub(crate) fn as_lit(&self) -> Option<&str> {
        match self {
            Value::Lit(s) => Some(s),
            Value::Tpl(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparator {
    Octet,
    AsciiCasemap,
    AsciiNumeric,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rel {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchKind {
    Is,
    Contains,
    Matches,
    Regex,
    Count(Rel),
    Value(Rel),
}

/// Match type, comparator and keys of a test.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    pub(crate) cmp: Comparator,
    pub(crate) kind: MatchKind,
    pub(crate) keys: Vec<Value>,
    /// For `:regex`: the compiled expression of each literal key (None for templates,
    /// compiled at run time).
    pub(crate) regex: Vec<Option<Regex>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddrPart {
    All,
    Local,
    Domain,
    User,
    Detail,
}

/// `:index N [:last]` (RFC 5260 §6).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Index {
    pub(crate) n: u64,
    pub(crate) last: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Zone {
    /// No zone argument: the host's local zone (the zone of `Environment::now`).
    Local,
    Fixed(Value),
    Original,
}

#[derive(Debug, Clone)]
pub(crate) enum BodyTransform {
    Raw,
    Text,
    Content(Vec<Value>),
}

#[derive(Debug, Clone)]
pub(crate) enum DupSource {
    MessageId,
    Header(Value),
    UniqueId(Value),
}

#[derive(Debug, Clone)]
pub(crate) enum Test {
    True,
    False,
    Not(Box<Test>),
    AllOf(Vec<Test>),
    AnyOf(Vec<Test>),
    Address {
        m: Matcher,
        part: AddrPart,
        headers: Vec<Value>,
        index: Option<Index>,
    },
    Envelope {
        m: Matcher,
        part: AddrPart,
        fields: Vec<Value>,
    },
    Header {
        m: Matcher,
        headers: Vec<Value>,
        index: Option<Index>,
    },
    Exists(Vec<Value>),
    Size {
        over: bool,
        limit: u64,
    },
    Str {
        m: Matcher,
        sources: Vec<Value>,
    },
    HasFlag {
        m: Matcher,
        vars: Vec<String>,
    },
    Body {
        m: Matcher,
        transform: BodyTransform,
    },
    Date {
        m: Matcher,
        zone: Zone,
        header: Value,
        part: Value,
        index: Option<Index>,
    },
    CurrentDate {
        m: Matcher,
        zone: Zone,
        part: Value,
    },
    MailboxExists(Vec<Value>),
    Duplicate {
        handle: Option<Value>,
        source: DupSource,
        seconds: Option<u64>,
        last: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagOp {
    Set,
    Add,
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Modifier {
    Lower,
    Upper,
    LowerFirst,
    UpperFirst,
    QuoteWildcard,
    QuoteRegex,
    Length,
}

impl Modifier {
    /// RFC 5229 §4.1 precedence: higher applies first.
    pub(crate) fn precedence(self) -> u8 {
        match self {
            Modifier::Lower | Modifier::Upper => 40,
            Modifier::LowerFirst | Modifier::UpperFirst => 30,
            Modifier::QuoteWildcard | Modifier::QuoteRegex => 20,
            Modifier::Length => 10,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct VacationCmd {
    /// `:days` (converted to seconds) or `:seconds`.
    pub(crate) period_secs: Option<u64>,
    pub(crate) subject: Option<Value>,
    pub(crate) from: Option<Value>,
    pub(crate) addresses: Vec<Value>,
    pub(crate) mime: bool,
    pub(crate) handle: Option<Value>,
    pub(crate) reason: Value,
}

#[derive(Debug, Clone)]
pub(crate) enum Cmd {
    If {
        branches: Vec<(Test, Vec<Cmd>)>,
        otherwise: Option<Vec<Cmd>>,
    },
    Stop,
    Keep {
        flags: Option<Vec<Value>>,
    },
    Discard,
    Redirect {
        addr: Value,
        copy: bool,
    },
    FileInto {
        mailbox: Value,
        flags: Option<Vec<Value>>,
        copy: bool,
        create: bool,
    },
    Flags {
        op: FlagOp,
        var: Option<String>,
        flags: Vec<Value>,
    },
    Set {
        name: String,
        mods: Vec<Modifier>,
        value: Value,
    },
    Reject {
        reason: Value,
        ereject: bool,
    },
    Vacation(Box<VacationCmd>),
}
