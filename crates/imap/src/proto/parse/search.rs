//! SEARCH, SORT and THREAD: the search-key grammar into [`SearchKey`].

use super::ParseErrorKind;
use super::lexer::{Cursor, PResult, syntax};
use super::mailbox::decode_charset;
use crate::proto::command::{CommandBody, SearchReturn};
use crate::search::key::{SearchKey, SortCriterion, SortKey, ThreadAlgorithm};

/// What key parsing carries along: the charset for strings and the key count.
struct Keys {
    charset: String,
    count: usize,
}

/// `[RETURN (...)] [CHARSET x] keys` (RFC 4731, RFC 9051).
pub(super) fn search(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    let mut returns = None;
    if c.keyword("RETURN") {
        c.sp()?;
        returns = Some(c.paren_list0(|c| {
            Ok(match c.atom_upper()?.as_str() {
                "MIN" => SearchReturn::Min,
                "MAX" => SearchReturn::Max,
                "ALL" => SearchReturn::All,
                "COUNT" => SearchReturn::Count,
                "SAVE" => SearchReturn::Save,
                _ => return Err(syntax("unknown SEARCH return option")),
            })
        })?);
        c.sp()?;
    }
    let mut charset = None;
    if c.keyword("CHARSET") {
        c.sp()?;
        charset = Some(read_charset(c)?);
        c.sp()?;
    }
    let criteria = program(c, charset.clone().unwrap_or_else(|| "UTF-8".to_string()))?;
    Ok(CommandBody::Search {
        uid,
        returns,
        charset,
        criteria,
    })
}

/// `SORT (criteria) charset keys` (RFC 5256, RFC 5957).
pub(super) fn sort(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    let criteria = c.paren_list(|c| {
        let reverse = c.keyword("REVERSE");
        if reverse {
            c.sp()?;
        }
        let key = match c.atom_upper()?.as_str() {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            _ => return Err(syntax("unknown sort criterion")),
        };
        Ok(SortCriterion { key, reverse })
    })?;
    c.sp()?;
    let charset = read_charset(c)?;
    c.sp()?;
    let keys = program(c, charset.clone())?;
    Ok(CommandBody::Sort {
        uid,
        criteria,
        charset,
        keys,
    })
}

/// `THREAD algorithm charset keys` (RFC 5256).
pub(super) fn thread(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    let algorithm = match c.atom_upper()?.as_str() {
        "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        "REFERENCES" => ThreadAlgorithm::References,
        _ => return Err(syntax("unknown THREAD algorithm")),
    };
    c.sp()?;
    let charset = read_charset(c)?;
    c.sp()?;
    let keys = program(c, charset.clone())?;
    Ok(CommandBody::Thread {
        uid,
        algorithm,
        charset,
        keys,
    })
}

fn read_charset(c: &mut Cursor<'_>) -> PResult<String> {
    let cs = String::from_utf8_lossy(&c.astring()?).to_ascii_uppercase();
    match cs.as_str() {
        "UTF-8" | "US-ASCII" | "ISO-8859-1" | "LATIN1" => Ok(cs),
        _ => Err(ParseErrorKind::BadCharset(cs)),
    }
}

/// `search-key *(SP search-key)`: one key, or [`SearchKey::And`] of several.
fn program(c: &mut Cursor<'_>, charset: String) -> PResult<SearchKey> {
    let mut ctx = Keys { charset, count: 0 };
    let mut keys = vec![key(c, &mut ctx, 0)?];
    while c.eat(b' ') {
        keys.push(key(c, &mut ctx, 0)?);
    }
    Ok(if keys.len() == 1 {
        keys.remove(0)
    } else {
        SearchKey::And(keys)
    })
}

fn text(c: &mut Cursor<'_>, ctx: &Keys) -> PResult<String> {
    c.sp()?;
    let bytes = c.astring()?;
    decode_charset(&ctx.charset, bytes)
}

fn date(c: &mut Cursor<'_>) -> PResult<crate::search::key::Date> {
    c.sp()?;
    c.date()
}

fn object_id(c: &mut Cursor<'_>) -> PResult<String> {
    c.sp()?;
    let id = c.atom()?;
    if id.len() > 255
        || !id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(syntax("bad object id"));
    }
    Ok(String::from_utf8_lossy(id).into_owned())
}

/// One search key; `depth` counts enclosing parentheses, `NOT` and `OR`.
fn key(c: &mut Cursor<'_>, ctx: &mut Keys, depth: usize) -> PResult<SearchKey> {
    if depth >= c.limits.max_depth {
        return Err(ParseErrorKind::TooDeep);
    }
    ctx.count += 1;
    if ctx.count > c.limits.max_search_keys {
        return Err(ParseErrorKind::TooManyKeys);
    }
    match c.peek() {
        Some(b'(') => {
            let keys = c.paren_list(|c| key(c, ctx, depth + 1))?;
            return Ok(SearchKey::And(keys));
        }
        Some(b'*' | b'$' | b'0'..=b'9') => return Ok(SearchKey::Sequence(c.sequence_set()?)),
        _ => {}
    }
    let name = c
        .atom_upper()
        .map_err(|_| syntax("expected a search key"))?;
    Ok(match name.as_str() {
        "ALL" => SearchKey::All,
        "ANSWERED" => SearchKey::Answered(true),
        "UNANSWERED" => SearchKey::Answered(false),
        "DELETED" => SearchKey::Deleted(true),
        "UNDELETED" => SearchKey::Deleted(false),
        "DRAFT" => SearchKey::Draft(true),
        "UNDRAFT" => SearchKey::Draft(false),
        "FLAGGED" => SearchKey::Flagged(true),
        "UNFLAGGED" => SearchKey::Flagged(false),
        "SEEN" => SearchKey::Seen(true),
        "UNSEEN" => SearchKey::Seen(false),
        "NEW" => SearchKey::New,
        "OLD" => SearchKey::Old,
        "RECENT" => SearchKey::Recent,
        "KEYWORD" | "UNKEYWORD" => {
            c.sp()?;
            let kw = String::from_utf8_lossy(c.atom()?).into_owned();
            SearchKey::Keyword(kw, name == "KEYWORD")
        }
        "BCC" => SearchKey::Bcc(text(c, ctx)?),
        "CC" => SearchKey::Cc(text(c, ctx)?),
        "FROM" => SearchKey::From(text(c, ctx)?),
        "SUBJECT" => SearchKey::Subject(text(c, ctx)?),
        "TO" => SearchKey::To(text(c, ctx)?),
        "BODY" => SearchKey::Body(text(c, ctx)?),
        "TEXT" => SearchKey::Text(text(c, ctx)?),
        "HEADER" => {
            c.sp()?;
            let field = c.astring_utf8()?;
            SearchKey::Header(field, text(c, ctx)?)
        }
        "BEFORE" => SearchKey::Before(date(c)?),
        "ON" => SearchKey::On(date(c)?),
        "SINCE" => SearchKey::Since(date(c)?),
        "SENTBEFORE" => SearchKey::SentBefore(date(c)?),
        "SENTON" => SearchKey::SentOn(date(c)?),
        "SENTSINCE" => SearchKey::SentSince(date(c)?),
        "SAVEDBEFORE" => SearchKey::SavedBefore(date(c)?),
        "SAVEDON" => SearchKey::SavedOn(date(c)?),
        "SAVEDSINCE" => SearchKey::SavedSince(date(c)?),
        "SAVEDATESUPPORTED" => SearchKey::SaveDateSupported,
        "OLDER" | "YOUNGER" => {
            c.sp()?;
            let n = u64::from(c.nz_number()?);
            if name == "OLDER" {
                SearchKey::Older(n)
            } else {
                SearchKey::Younger(n)
            }
        }
        "LARGER" => {
            c.sp()?;
            SearchKey::Larger(c.number64()?)
        }
        "SMALLER" => {
            c.sp()?;
            SearchKey::Smaller(c.number64()?)
        }
        "UID" => {
            c.sp()?;
            SearchKey::Uid(c.sequence_set()?)
        }
        "MODSEQ" => {
            c.sp()?;
            if c.peek() == Some(b'"') {
                let entry = c.quoted()?;
                if !entry.starts_with(b"/flags/") {
                    return Err(syntax("bad MODSEQ entry name"));
                }
                c.sp()?;
                let kind = c.atom_upper()?;
                if !matches!(kind.as_str(), "PRIV" | "SHARED" | "ALL") {
                    return Err(syntax("bad MODSEQ entry type"));
                }
                c.sp()?;
            }
            SearchKey::ModSeq(c.number64()?)
        }
        "EMAILID" => SearchKey::EmailId(object_id(c)?),
        "THREADID" => SearchKey::ThreadId(object_id(c)?),
        "NOT" => {
            c.sp()?;
            SearchKey::Not(Box::new(key(c, ctx, depth + 1)?))
        }
        "OR" => {
            c.sp()?;
            let a = key(c, ctx, depth + 1)?;
            c.sp()?;
            let b = key(c, ctx, depth + 1)?;
            SearchKey::Or(Box::new(a), Box::new(b))
        }
        _ => return Err(syntax("unknown search key")),
    })
}
