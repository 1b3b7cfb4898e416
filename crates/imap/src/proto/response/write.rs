//! The wire form of responses.

use base64::Engine as _;

use super::{
    Address, BodyExt, BodyStructure, Code, Continuation, Data, ESearchItem, Envelope, FetchValue,
    ListAttr, ListItem, NamespaceDesc, Response, SingleKind, StatusKind, StatusResponse,
    StatusValue, ThreadNode,
};
use crate::proto::command::{DateTime, Flag, Section, SectionText};

/// Whether `s` must be sent as a literal rather than quoted.
fn needs_literal(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| matches!(b, b'\r' | b'\n' | b'"' | b'\\' | 0) || b >= 0x80)
}

/// Write `s` as a quoted string, or as a literal `{n}` CRLF `s` when it contains CR, LF, `"`,
/// `\`, NUL or 8-bit octets.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if needs_literal(s) {
        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
    }
}

/// `s` as a quoted string or a literal (see [`write_string`]).
pub fn quote_or_literal(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    write_string(&mut out, s);
    out
}

fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => write_string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

fn text(out: &mut Vec<u8>, t: &str) {
    out.extend(
        t.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
}

fn push(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

/// `(a b c)`, each item written by `f`.
fn list<T>(out: &mut Vec<u8>, items: &[T], mut f: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'(');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        f(out, item);
    }
    out.push(b')');
}

fn words(out: &mut Vec<u8>, items: &[String]) {
    for item in items {
        out.push(b' ');
        push(out, item);
    }
}

fn flags(out: &mut Vec<u8>, fl: &[Flag]) {
    list(out, fl, |out, f| push(out, &f.to_string()));
}

pub(super) fn response(out: &mut Vec<u8>, r: &Response) {
    match r {
        Response::Status(s) => status(out, s),
        Response::Data(d) => {
            out.extend_from_slice(b"* ");
            data(out, d);
        }
        Response::Continuation(Continuation::Text { code: c, text: t }) => {
            out.push(b'+');
            if let Some(c) = c {
                out.extend_from_slice(b" [");
                code(out, c);
                out.push(b']');
            }
            out.push(b' ');
            text(out, t);
        }
        Response::Continuation(Continuation::Base64(b)) => {
            out.extend_from_slice(b"+ ");
            push(out, &base64::engine::general_purpose::STANDARD.encode(b));
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn status(out: &mut Vec<u8>, s: &StatusResponse) {
    match &s.tag {
        Some(t) if !matches!(s.kind, StatusKind::Bye | StatusKind::Preauth) => push(out, t),
        _ => out.push(b'*'),
    }
    push(
        out,
        match s.kind {
            StatusKind::Ok => " OK",
            StatusKind::No => " NO",
            StatusKind::Bad => " BAD",
            StatusKind::Bye => " BYE",
            StatusKind::Preauth => " PREAUTH",
        },
    );
    if let Some(c) = &s.code {
        out.extend_from_slice(b" [");
        code(out, c);
        out.push(b']');
    }
    out.push(b' ');
    text(out, &s.text);
}

fn code(out: &mut Vec<u8>, c: &Code) {
    let simple = match c {
        Code::Alert => "ALERT",
        Code::Parse => "PARSE",
        Code::ReadOnly => "READ-ONLY",
        Code::ReadWrite => "READ-WRITE",
        Code::TryCreate => "TRYCREATE",
        Code::NoModSeq => "NOMODSEQ",
        Code::UidNotSticky => "UIDNOTSTICKY",
        Code::Closed => "CLOSED",
        Code::Unavailable => "UNAVAILABLE",
        Code::AuthenticationFailed => "AUTHENTICATIONFAILED",
        Code::AuthorizationFailed => "AUTHORIZATIONFAILED",
        Code::Expired => "EXPIRED",
        Code::PrivacyRequired => "PRIVACYREQUIRED",
        Code::ContactAdmin => "CONTACTADMIN",
        Code::NoPerm => "NOPERM",
        Code::InUse => "INUSE",
        Code::ExpungeIssued => "EXPUNGEISSUED",
        Code::Corruption => "CORRUPTION",
        Code::ServerBug => "SERVERBUG",
        Code::ClientBug => "CLIENTBUG",
        Code::Cannot => "CANNOT",
        Code::Limit => "LIMIT",
        Code::OverQuota => "OVERQUOTA",
        Code::AlreadyExists => "ALREADYEXISTS",
        Code::NonExistent => "NONEXISTENT",
        Code::HasChildren => "HASCHILDREN",
        Code::UnknownCte => "UNKNOWN-CTE",
        Code::TooBig => "TOOBIG",
        Code::Invalid => "INVALID",
        Code::CompressionActive => "COMPRESSIONACTIVE",
        _ => "",
    };
    if !simple.is_empty() {
        push(out, simple);
        return;
    }
    match c {
        Code::BadCharset(cs) => {
            push(out, "BADCHARSET");
            if !cs.is_empty() {
                out.push(b' ');
                list(out, cs, |out, s| push(out, s));
            }
        }
        Code::Capability(caps) => {
            push(out, "CAPABILITY");
            words(out, caps);
        }
        Code::PermanentFlags {
            flags: fl,
            new_keywords,
        } => {
            push(out, "PERMANENTFLAGS ");
            let mut all: Vec<String> = fl.iter().map(Flag::to_string).collect();
            if *new_keywords {
                all.push("\\*".into());
            }
            list(out, &all, |out, s| push(out, s));
        }
        Code::UidNext(n) => push(out, &format!("UIDNEXT {n}")),
        Code::UidValidity(n) => push(out, &format!("UIDVALIDITY {n}")),
        Code::Unseen(n) => push(out, &format!("UNSEEN {n}")),
        Code::HighestModSeq(n) => push(out, &format!("HIGHESTMODSEQ {n}")),
        Code::Modified(set) => push(out, &format!("MODIFIED {set}")),
        Code::AppendUid { uid_validity, uids } => {
            push(out, &format!("APPENDUID {uid_validity} {uids}"))
        }
        Code::CopyUid {
            uid_validity,
            source,
            dest,
        } => push(out, &format!("COPYUID {uid_validity} {source} {dest}")),
        Code::MailboxId(id) => push(out, &format!("MAILBOXID ({id})")),
        Code::Other(atom, t) => {
            push(out, atom);
            if let Some(t) = t {
                out.push(b' ');
                out.extend(t.bytes().filter(|&b| b != b']' && b != b'\r' && b != b'\n'));
            }
        }
        _ => {}
    }
}

fn data(out: &mut Vec<u8>, d: &Data) {
    match d {
        Data::Capability(caps) => {
            push(out, "CAPABILITY");
            words(out, caps);
        }
        Data::List(item) => list_item(out, "LIST", item),
        Data::Lsub(item) => list_item(out, "LSUB", item),
        Data::Status { mailbox, items } => {
            push(out, "STATUS ");
            write_string(out, mailbox.as_bytes());
            out.push(b' ');
            list(out, items, status_value);
        }
        Data::Flags(fl) => {
            push(out, "FLAGS ");
            flags(out, fl);
        }
        Data::Exists(n) => push(out, &format!("{n} EXISTS")),
        Data::Recent(n) => push(out, &format!("{n} RECENT")),
        Data::Expunge(n) => push(out, &format!("{n} EXPUNGE")),
        Data::Vanished { earlier, uids } => {
            push(
                out,
                if *earlier {
                    "VANISHED (EARLIER) "
                } else {
                    "VANISHED "
                },
            );
            push(out, &uids.to_string());
        }
        Data::Fetch { seq, items } => {
            push(out, &format!("{seq} FETCH "));
            list(out, items, fetch_value);
        }
        Data::ESearch { tag, uid, items } => {
            push(out, "ESEARCH");
            if let Some(t) = tag {
                push(out, " (TAG ");
                write_string(out, t.as_bytes());
                out.push(b')');
            }
            if *uid {
                push(out, " UID");
            }
            for item in items {
                push(
                    out,
                    &match item {
                        ESearchItem::Min(n) => format!(" MIN {n}"),
                        ESearchItem::Max(n) => format!(" MAX {n}"),
                        ESearchItem::All(set) => format!(" ALL {set}"),
                        ESearchItem::Count(n) => format!(" COUNT {n}"),
                        ESearchItem::ModSeq(n) => format!(" MODSEQ {n}"),
                    },
                );
            }
        }
        Data::Search { ids, mod_seq } => numbers(out, "SEARCH", ids, *mod_seq),
        Data::Sort { ids, mod_seq } => numbers(out, "SORT", ids, *mod_seq),
        Data::Thread(roots) => {
            // `thread-data = "THREAD" [SP 1*thread-list]`: no space when nothing matched.
            push(
                out,
                if roots.is_empty() {
                    "THREAD"
                } else {
                    "THREAD "
                },
            );
            for root in roots {
                out.push(b'(');
                thread_members(out, root);
                out.push(b')');
            }
        }
        Data::Quota { root, resources } => {
            push(out, "QUOTA ");
            write_string(out, root.as_bytes());
            out.push(b' ');
            list(out, resources, |out, r| {
                push(out, &format!("{} {} {}", r.name, r.usage, r.limit))
            });
        }
        Data::QuotaRoot { mailbox, roots } => {
            push(out, "QUOTAROOT ");
            write_string(out, mailbox.as_bytes());
            for r in roots {
                out.push(b' ');
                write_string(out, r.as_bytes());
            }
        }
        Data::Id(params) => {
            push(out, "ID ");
            match params {
                None => push(out, "NIL"),
                Some(p) => list(out, p, |out, (k, v)| {
                    write_string(out, k.as_bytes());
                    out.push(b' ');
                    nstring(out, v.as_deref().map(str::as_bytes));
                }),
            }
        }
        Data::Enabled(caps) => {
            push(out, "ENABLED");
            words(out, caps);
        }
        Data::Namespace {
            personal,
            other,
            shared,
        } => {
            push(out, "NAMESPACE ");
            namespace(out, personal);
            out.push(b' ');
            namespace(out, other);
            out.push(b' ');
            namespace(out, shared);
        }
    }
}

fn numbers(out: &mut Vec<u8>, name: &str, ids: &[u32], mod_seq: Option<u64>) {
    push(out, name);
    for id in ids {
        push(out, &format!(" {id}"));
    }
    if let Some(m) = mod_seq {
        push(out, &format!(" (MODSEQ {m})"));
    }
}

/// The members of one thread: a chain of single replies is written flat (`1 2 3`), a
/// branch as nested lists (`1 (2)(3)`). Chains are followed iteratively.
fn thread_members(out: &mut Vec<u8>, node: &ThreadNode) {
    let mut node = node;
    let mut first = true;
    loop {
        if let Some(id) = node.id {
            if !first {
                out.push(b' ');
            }
            push(out, &id.to_string());
            first = false;
        }
        match node.children.as_slice() {
            [] => return,
            [only] => node = only,
            many => {
                if !first {
                    out.push(b' ');
                }
                for child in many {
                    out.push(b'(');
                    thread_members(out, child);
                    out.push(b')');
                }
                return;
            }
        }
    }
}

fn delimiter(out: &mut Vec<u8>, d: Option<char>) {
    match d {
        None => push(out, "NIL"),
        Some(c) => {
            let mut buf = [0u8; 4];
            write_string(out, c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

fn list_item(out: &mut Vec<u8>, name: &str, item: &ListItem) {
    push(out, name);
    out.push(b' ');
    list(out, &item.attributes, |out, a| {
        let s = match a {
            ListAttr::NoInferiors => "\\Noinferiors".to_string(),
            ListAttr::NoSelect => "\\Noselect".to_string(),
            ListAttr::Marked => "\\Marked".to_string(),
            ListAttr::Unmarked => "\\Unmarked".to_string(),
            ListAttr::HasChildren => "\\HasChildren".to_string(),
            ListAttr::HasNoChildren => "\\HasNoChildren".to_string(),
            ListAttr::NonExistent => "\\NonExistent".to_string(),
            ListAttr::Subscribed => "\\Subscribed".to_string(),
            ListAttr::Remote => "\\Remote".to_string(),
            ListAttr::SpecialUse(u) => u.to_string(),
        };
        push(out, &s);
    });
    out.push(b' ');
    delimiter(out, item.delimiter);
    out.push(b' ');
    write_string(out, item.name.as_bytes());
    if !item.child_info.is_empty() {
        push(out, " (\"CHILDINFO\" ");
        list(out, &item.child_info, |out, s| {
            write_string(out, s.as_bytes())
        });
        out.push(b')');
    }
}

fn namespace(out: &mut Vec<u8>, ns: &[NamespaceDesc]) {
    if ns.is_empty() {
        push(out, "NIL");
        return;
    }
    out.push(b'(');
    for n in ns {
        out.push(b'(');
        write_string(out, n.prefix.as_bytes());
        out.push(b' ');
        delimiter(out, n.delimiter);
        out.push(b')');
    }
    out.push(b')');
}

fn status_value(out: &mut Vec<u8>, v: &StatusValue) {
    let s = match v {
        StatusValue::Messages(n) => format!("MESSAGES {n}"),
        StatusValue::UidNext(n) => format!("UIDNEXT {n}"),
        StatusValue::UidValidity(n) => format!("UIDVALIDITY {n}"),
        StatusValue::Unseen(n) => format!("UNSEEN {n}"),
        StatusValue::Deleted(n) => format!("DELETED {n}"),
        StatusValue::Size(n) => format!("SIZE {n}"),
        StatusValue::Recent(n) => format!("RECENT {n}"),
        StatusValue::HighestModSeq(n) => format!("HIGHESTMODSEQ {n}"),
        StatusValue::AppendLimit(Some(n)) => format!("APPENDLIMIT {n}"),
        StatusValue::AppendLimit(None) => "APPENDLIMIT NIL".to_string(),
        StatusValue::MailboxId(id) => format!("MAILBOXID ({id})"),
    };
    push(out, &s);
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `"dd-Mon-yyyy hh:mm:ss +zzzz"` with a space-padded day.
fn date_time(out: &mut Vec<u8>, d: &DateTime) {
    let month = MONTHS
        .get(usize::from(d.date.month.saturating_sub(1)))
        .unwrap_or(&"Jan");
    let sign = if d.zone_minutes < 0 { '-' } else { '+' };
    let z = d.zone_minutes.unsigned_abs();
    push(
        out,
        &format!(
            "\"{:>2}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}\"",
            d.date.day,
            month,
            d.date.year,
            d.hour,
            d.minute,
            d.second,
            sign,
            z / 60,
            z % 60
        ),
    );
}

fn part_numbers(part: &[u32]) -> String {
    part.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn section(out: &mut Vec<u8>, s: &Section) {
    out.push(b'[');
    push(out, &part_numbers(&s.part));
    if let Some(t) = &s.text {
        if !s.part.is_empty() {
            out.push(b'.');
        }
        let (name, fields) = match t {
            SectionText::Header => ("HEADER", None),
            SectionText::Text => ("TEXT", None),
            SectionText::Mime => ("MIME", None),
            SectionText::HeaderFields(f) => ("HEADER.FIELDS", Some(f)),
            SectionText::HeaderFieldsNot(f) => ("HEADER.FIELDS.NOT", Some(f)),
        };
        push(out, name);
        if let Some(f) = fields {
            out.push(b' ');
            list(out, f, |out, name| {
                let atom =
                    !name.is_empty() && name.bytes().all(crate::proto::parse::is_astring_char);
                if atom {
                    push(out, name)
                } else {
                    write_string(out, name.as_bytes())
                }
            });
        }
    }
    out.push(b']');
}

fn origin(out: &mut Vec<u8>, o: Option<u32>) {
    if let Some(o) = o {
        push(out, &format!("<{o}>"));
    }
}

/// Write one FETCH item as it appears inside `* n FETCH (...)`.
pub fn write_fetch_item(out: &mut Vec<u8>, item: &FetchValue) {
    fetch_value(out, item);
}

/// Write the start of a FETCH item that carries a string (`BODY[..]`, `BINARY[..]`, `RFC822`,
/// `RFC822.HEADER`, `RFC822.TEXT`): its name, origin and the announcement of a literal of
/// `len` octets (`~{len}` when `literal8`), CRLF included. The caller sends the `len` octets
/// next, so a large body can go out in pieces instead of through one buffer; the item's own
/// data is ignored. Other items are written whole.
pub fn write_fetch_literal_head(out: &mut Vec<u8>, item: &FetchValue, len: u64, literal8: bool) {
    match item {
        FetchValue::BodySection {
            section: s,
            origin: o,
            ..
        } => {
            push(out, "BODY");
            section(out, s);
            origin(out, *o);
        }
        FetchValue::Binary {
            part, origin: o, ..
        } => {
            push(out, &format!("BINARY[{}]", part_numbers(part)));
            origin(out, *o);
        }
        FetchValue::Rfc822(_) => push(out, "RFC822"),
        FetchValue::Rfc822Header(_) => push(out, "RFC822.HEADER"),
        FetchValue::Rfc822Text(_) => push(out, "RFC822.TEXT"),
        other => return fetch_value(out, other),
    }
    push(
        out,
        &format!(" {}{{{len}}}\r\n", if literal8 { "~" } else { "" }),
    );
}

fn fetch_value(out: &mut Vec<u8>, v: &FetchValue) {
    match v {
        FetchValue::Uid(n) => push(out, &format!("UID {n}")),
        FetchValue::Flags(fl) => {
            push(out, "FLAGS ");
            flags(out, fl);
        }
        FetchValue::InternalDate(d) => {
            push(out, "INTERNALDATE ");
            date_time(out, d);
        }
        FetchValue::Rfc822Size(n) => push(out, &format!("RFC822.SIZE {n}")),
        FetchValue::Envelope(e) => {
            push(out, "ENVELOPE ");
            envelope(out, e);
        }
        FetchValue::BodyStructure(b) => {
            push(out, "BODYSTRUCTURE ");
            body(out, b, true);
        }
        FetchValue::Body(b) => {
            push(out, "BODY ");
            body(out, b, false);
        }
        FetchValue::BodySection {
            section: s,
            origin: o,
            data: d,
        } => {
            push(out, "BODY");
            section(out, s);
            origin(out, *o);
            out.push(b' ');
            nstring(out, d.as_deref());
        }
        FetchValue::Binary {
            part,
            origin: o,
            data: d,
        } => {
            push(out, &format!("BINARY[{}]", part_numbers(part)));
            origin(out, *o);
            out.push(b' ');
            match d {
                Some(d) if d.contains(&0) => {
                    push(out, &format!("~{{{}}}\r\n", d.len()));
                    out.extend_from_slice(d);
                }
                d => nstring(out, d.as_deref()),
            }
        }
        FetchValue::BinarySize { part, size } => {
            push(out, &format!("BINARY.SIZE[{}] {size}", part_numbers(part)))
        }
        FetchValue::Rfc822(d) => {
            push(out, "RFC822 ");
            nstring(out, d.as_deref());
        }
        FetchValue::Rfc822Header(d) => {
            push(out, "RFC822.HEADER ");
            nstring(out, d.as_deref());
        }
        FetchValue::Rfc822Text(d) => {
            push(out, "RFC822.TEXT ");
            nstring(out, d.as_deref());
        }
        FetchValue::ModSeq(n) => push(out, &format!("MODSEQ ({n})")),
        FetchValue::SaveDate(d) => {
            push(out, "SAVEDATE ");
            match d {
                Some(d) => date_time(out, d),
                None => push(out, "NIL"),
            }
        }
        FetchValue::EmailId(id) => push(out, &format!("EMAILID ({id})")),
        FetchValue::ThreadId(Some(id)) => push(out, &format!("THREADID ({id})")),
        FetchValue::ThreadId(None) => push(out, "THREADID NIL"),
        FetchValue::Preview(p) => {
            push(out, "PREVIEW ");
            nstring(out, p.as_deref().map(str::as_bytes));
        }
    }
}

fn addresses(out: &mut Vec<u8>, addrs: &[Address]) {
    if addrs.is_empty() {
        push(out, "NIL");
        return;
    }
    out.push(b'(');
    for a in addrs {
        out.push(b'(');
        nstring(out, a.name.as_deref());
        out.push(b' ');
        nstring(out, a.adl.as_deref());
        out.push(b' ');
        nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

fn envelope(out: &mut Vec<u8>, e: &Envelope) {
    out.push(b'(');
    nstring(out, e.date.as_deref());
    out.push(b' ');
    nstring(out, e.subject.as_deref());
    for addrs in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
        out.push(b' ');
        addresses(out, addrs);
    }
    out.push(b' ');
    nstring(out, e.in_reply_to.as_deref());
    out.push(b' ');
    nstring(out, e.message_id.as_deref());
    out.push(b')');
}

fn params(out: &mut Vec<u8>, p: &[(String, String)]) {
    if p.is_empty() {
        push(out, "NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in p.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_string(out, k.as_bytes());
        out.push(b' ');
        write_string(out, v.as_bytes());
    }
    out.push(b')');
}

fn body_ext(out: &mut Vec<u8>, ext: &BodyExt) {
    out.push(b' ');
    match &ext.disposition {
        None => push(out, "NIL"),
        Some((value, p)) => {
            out.push(b'(');
            write_string(out, value.as_bytes());
            out.push(b' ');
            params(out, p);
            out.push(b')');
        }
    }
    out.push(b' ');
    // Always a list, even of one tag, as Dovecot sends it.
    match ext.language.as_slice() {
        [] => push(out, "NIL"),
        tags => list(out, tags, |out, l| write_string(out, l.as_bytes())),
    }
    out.push(b' ');
    nstring(out, ext.location.as_deref().map(str::as_bytes));
}

/// BODY (`extensible` false) or BODYSTRUCTURE.
fn body(out: &mut Vec<u8>, b: &BodyStructure, extensible: bool) {
    out.push(b'(');
    match b {
        BodyStructure::Multipart {
            parts,
            subtype,
            params: p,
            ext,
        } => {
            for part in parts {
                body(out, part, extensible);
            }
            out.push(b' ');
            write_string(out, subtype.as_bytes());
            if extensible {
                out.push(b' ');
                params(out, p);
                if let Some(ext) = ext {
                    body_ext(out, ext);
                }
            }
        }
        BodyStructure::Single {
            body_type,
            subtype,
            params: p,
            id,
            description,
            encoding,
            size,
            kind,
            ext,
        } => {
            write_string(out, body_type.as_bytes());
            out.push(b' ');
            write_string(out, subtype.as_bytes());
            out.push(b' ');
            params(out, p);
            out.push(b' ');
            nstring(out, id.as_deref());
            out.push(b' ');
            nstring(out, description.as_deref());
            out.push(b' ');
            write_string(out, encoding.as_bytes());
            push(out, &format!(" {size}"));
            match kind {
                SingleKind::Basic => {}
                SingleKind::Text { lines } => push(out, &format!(" {lines}")),
                SingleKind::Message {
                    envelope: e,
                    body: inner,
                    lines,
                } => {
                    out.push(b' ');
                    envelope(out, e);
                    out.push(b' ');
                    body(out, inner, extensible);
                    push(out, &format!(" {lines}"));
                }
            }
            if extensible && let Some(ext) = ext {
                out.push(b' ');
                nstring(out, ext.md5.as_deref().map(str::as_bytes));
                body_ext(out, ext);
            }
        }
    }
    out.push(b')');
}
