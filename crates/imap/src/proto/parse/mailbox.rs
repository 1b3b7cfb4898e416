//! Mailbox commands: SELECT / EXAMINE, CREATE, LIST, STATUS, APPEND.

use super::lexer::{Cursor, PResult, syntax, utf8};
use crate::proto::command::{
    AppendMessage, CommandBody, ListReturn, ListSelect, Mailbox, QresyncParams, SelectParams,
    SpecialUse, StatusItem,
};

/// ` mailbox`: an astring, UTF-8, `INBOX` normalised.
pub(super) fn arg(c: &mut Cursor<'_>) -> PResult<Mailbox> {
    c.sp()?;
    Ok(Mailbox::new(c.astring_utf8()?))
}

pub(super) fn select(c: &mut Cursor<'_>, examine: bool) -> PResult<CommandBody> {
    let mailbox = arg(c)?;
    let mut params = SelectParams::default();
    if c.eat(b' ') {
        c.paren_list(|c| {
            if c.keyword("CONDSTORE") {
                params.condstore = true;
                Ok(())
            } else if c.keyword("QRESYNC") {
                c.sp()?;
                params.qresync = Some(qresync(c)?);
                Ok(())
            } else {
                Err(syntax("unknown SELECT parameter"))
            }
        })?;
    }
    Ok(if examine {
        CommandBody::Examine { mailbox, params }
    } else {
        CommandBody::Select { mailbox, params }
    })
}

/// `(uidvalidity modseq [known-uids [(known-seqs known-uids)]])`.
fn qresync(c: &mut Cursor<'_>) -> PResult<QresyncParams> {
    c.expect(b'(', "expected QRESYNC parameters")?;
    let uid_validity = c.nz_number()?;
    c.sp()?;
    let mod_seq = c.mod_seq()?;
    let mut known_uids = None;
    let mut seq_match = None;
    if c.eat(b' ') {
        if c.peek() != Some(b'(') {
            known_uids = Some(c.sequence_set()?);
            if !c.eat(b' ') {
                c.expect(b')', "expected ')'")?;
                return Ok(QresyncParams {
                    uid_validity,
                    mod_seq,
                    known_uids,
                    seq_match,
                });
            }
        }
        c.expect(b'(', "expected sequence match data")?;
        let seqs = c.sequence_set()?;
        c.sp()?;
        let uids = c.sequence_set()?;
        c.expect(b')', "expected ')'")?;
        seq_match = Some((seqs, uids));
    }
    c.expect(b')', "expected ')'")?;
    Ok(QresyncParams {
        uid_validity,
        mod_seq,
        known_uids,
        seq_match,
    })
}

pub(super) fn create(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    let mailbox = arg(c)?;
    let mut special_use = Vec::new();
    if c.eat(b' ') {
        c.paren_list(|c| {
            if !c.keyword("USE") {
                return Err(syntax("unknown CREATE parameter"));
            }
            c.sp()?;
            special_use.extend(c.paren_list0(|c| {
                c.expect(b'\\', "expected a special-use attribute")?;
                Ok(SpecialUse::from_text(&String::from_utf8_lossy(c.atom()?)))
            })?);
            Ok(())
        })?;
    }
    Ok(CommandBody::Create {
        mailbox,
        special_use,
    })
}

/// `LIST [(selection)] reference (pattern | (patterns)) [RETURN (options)]` (RFC 5258).
pub(super) fn list(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    let mut select = ListSelect::default();
    if c.peek() == Some(b'(') {
        c.paren_list0(|c| {
            let opt = c.atom_upper()?;
            match opt.as_str() {
                "SUBSCRIBED" => select.subscribed = true,
                "REMOTE" => select.remote = true,
                "RECURSIVEMATCH" => select.recursive_match = true,
                "SPECIAL-USE" => select.special_use = true,
                _ => return Err(syntax("unknown LIST selection option")),
            }
            Ok(())
        })?;
        if select.recursive_match && !select.subscribed && !select.special_use {
            return Err(syntax("RECURSIVEMATCH needs another selection option"));
        }
        c.sp()?;
    }
    let reference = c.astring_utf8()?;
    c.sp()?;
    let patterns = if c.peek() == Some(b'(') {
        c.paren_list(Cursor::list_mailbox)?
    } else {
        vec![c.list_mailbox()?]
    };
    let mut returns = ListReturn::default();
    if c.eat(b' ') {
        if !c.keyword("RETURN") {
            return Err(syntax("expected RETURN"));
        }
        c.sp()?;
        c.paren_list0(|c| {
            let opt = c.atom_upper()?;
            match opt.as_str() {
                "SUBSCRIBED" => returns.subscribed = true,
                "CHILDREN" => returns.children = true,
                "SPECIAL-USE" => returns.special_use = true,
                "STATUS" => {
                    c.sp()?;
                    returns.status = Some(c.paren_list(status_item)?);
                }
                _ => return Err(syntax("unknown LIST return option")),
            }
            Ok(())
        })?;
    }
    Ok(CommandBody::List {
        select,
        reference,
        patterns,
        returns,
    })
}

fn status_item(c: &mut Cursor<'_>) -> PResult<StatusItem> {
    Ok(match c.atom_upper()?.as_str() {
        "MESSAGES" => StatusItem::Messages,
        "UIDNEXT" => StatusItem::UidNext,
        "UIDVALIDITY" => StatusItem::UidValidity,
        "UNSEEN" => StatusItem::Unseen,
        "DELETED" => StatusItem::Deleted,
        "SIZE" => StatusItem::Size,
        "RECENT" => StatusItem::Recent,
        "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
        "APPENDLIMIT" => StatusItem::AppendLimit,
        "MAILBOXID" => StatusItem::MailboxId,
        _ => return Err(syntax("unknown STATUS item")),
    })
}

pub(super) fn status(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    let mailbox = arg(c)?;
    c.sp()?;
    let items = c.paren_list(status_item)?;
    Ok(CommandBody::Status { mailbox, items })
}

/// `APPEND mailbox 1*(SP [flag-list SP] [date-time SP] (literal / literal8 /
/// "UTF8" SP "(" literal8 ")"))` (RFC 3502, RFC 3516, RFC 6855).
pub(super) fn append(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    let mailbox = arg(c)?;
    let mut messages = Vec::new();
    while c.eat(b' ') {
        let flags = if c.peek() == Some(b'(') {
            let f = c.flag_list()?;
            c.sp()?;
            f
        } else {
            Vec::new()
        };
        let date_time = if c.peek() == Some(b'"') {
            let d = c.date_time()?;
            c.sp()?;
            Some(d)
        } else {
            None
        };
        // RFC 6855: a message with UTF-8 headers, sent after ENABLE UTF8=ACCEPT.
        let utf8 = c.keyword("UTF8");
        if utf8 {
            c.sp()?;
            c.expect(b'(', "( after UTF8")?;
        }
        if !matches!(c.peek(), Some(b'{' | b'~')) {
            return Err(syntax("APPEND needs the message as a literal"));
        }
        let (data, binary) = c.literal(true)?;
        if utf8 {
            c.expect(b')', ") after the UTF8 literal")?;
        }
        messages.push(AppendMessage {
            flags,
            date_time,
            data,
            binary,
        });
    }
    if messages.is_empty() {
        return Err(syntax("APPEND needs a message"));
    }
    Ok(CommandBody::Append { mailbox, messages })
}

/// Decode search strings in a charset we support (UTF-8, US-ASCII, ISO-8859-1).
pub(super) fn decode_charset(charset: &str, bytes: Vec<u8>) -> PResult<String> {
    match charset {
        "ISO-8859-1" | "LATIN1" => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        _ => utf8(bytes),
    }
}
