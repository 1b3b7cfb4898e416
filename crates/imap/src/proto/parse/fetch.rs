//! FETCH and STORE.

use super::lexer::{Cursor, PResult, syntax};
use crate::proto::command::{
    CommandBody, FetchAttr, FetchItems, FetchModifiers, Partial, Section, SectionText, StoreAction,
};

/// `FETCH set (macro | att | (atts)) [(modifiers)]` (RFC 9051, RFC 7162).
pub(super) fn fetch(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    let items = if c.keyword("ALL") {
        FetchItems::All
    } else if c.keyword("FAST") {
        FetchItems::Fast
    } else if c.keyword("FULL") {
        FetchItems::Full
    } else if c.peek() == Some(b'(') {
        FetchItems::Items(c.paren_list(attr)?)
    } else {
        FetchItems::Items(vec![attr(c)?])
    };
    let mut modifiers = FetchModifiers::default();
    if c.eat(b' ') {
        c.paren_list(|c| {
            if c.keyword("CHANGEDSINCE") {
                c.sp()?;
                modifiers.changed_since = Some(c.mod_seq()?);
            } else if c.keyword("VANISHED") {
                modifiers.vanished = true;
            } else {
                return Err(syntax("unknown FETCH modifier"));
            }
            Ok(())
        })?;
        if modifiers.vanished && (!uid || modifiers.changed_since.is_none()) {
            return Err(syntax("VANISHED needs UID FETCH and CHANGEDSINCE"));
        }
    }
    Ok(CommandBody::Fetch {
        uid,
        set,
        items,
        modifiers,
    })
}

/// One fetch-att.
fn attr(c: &mut Cursor<'_>) -> PResult<FetchAttr> {
    let name = c
        .take_while(|b| b.is_ascii_alphanumeric() || b == b'.')
        .to_ascii_uppercase();
    let has_section = c.peek() == Some(b'[');
    Ok(match (name.as_slice(), has_section) {
        (b"UID", false) => FetchAttr::Uid,
        (b"FLAGS", false) => FetchAttr::Flags,
        (b"INTERNALDATE", false) => FetchAttr::InternalDate,
        (b"RFC822.SIZE", false) => FetchAttr::Rfc822Size,
        (b"ENVELOPE", false) => FetchAttr::Envelope,
        (b"BODYSTRUCTURE", false) => FetchAttr::BodyStructure,
        (b"BODY", false) => FetchAttr::Body,
        (b"RFC822", false) => FetchAttr::Rfc822,
        (b"RFC822.HEADER", false) => FetchAttr::Rfc822Header,
        (b"RFC822.TEXT", false) => FetchAttr::Rfc822Text,
        (b"MODSEQ", false) => FetchAttr::ModSeq,
        (b"SAVEDATE", false) => FetchAttr::SaveDate,
        (b"EMAILID", false) => FetchAttr::EmailId,
        (b"THREADID", false) => FetchAttr::ThreadId,
        (b"PREVIEW", false) => {
            let lazy = c.rest().len() >= 7 && c.rest()[..7].eq_ignore_ascii_case(b" (LAZY)");
            if lazy {
                c.sp()?;
                c.paren_list(|c| {
                    if c.keyword("LAZY") {
                        Ok(())
                    } else {
                        Err(syntax("bad PREVIEW modifier"))
                    }
                })?;
            }
            FetchAttr::Preview { lazy }
        }
        (b"BODY" | b"BODY.PEEK", true) => {
            let section = section(c)?;
            let partial = partial(c)?;
            FetchAttr::BodySection {
                peek: name.len() > 4,
                section,
                partial,
            }
        }
        (b"BINARY" | b"BINARY.PEEK", true) => {
            let part = binary_part(c)?;
            let partial = partial(c)?;
            FetchAttr::Binary {
                peek: name.len() > 6,
                part,
                partial,
            }
        }
        (b"BINARY.SIZE", true) => FetchAttr::BinarySize {
            part: binary_part(c)?,
        },
        _ => return Err(syntax("unknown FETCH item")),
    })
}

/// `[` [section-part] `]` for BINARY.
fn binary_part(c: &mut Cursor<'_>) -> PResult<Vec<u32>> {
    c.expect(b'[', "expected '['")?;
    let mut part = Vec::new();
    if c.eat(b']') {
        return Ok(part);
    }
    loop {
        part.push(c.nz_number()?);
        if c.eat(b']') {
            return Ok(part);
        }
        c.expect(b'.', "bad section part")?;
    }
}

/// `[section-spec]`.
fn section(c: &mut Cursor<'_>) -> PResult<Section> {
    c.expect(b'[', "expected '['")?;
    let mut part = Vec::new();
    let mut text = None;
    if !c.eat(b']') {
        loop {
            if c.peek().is_some_and(|b| b.is_ascii_digit()) {
                part.push(c.nz_number()?);
                if c.eat(b'.') {
                    continue;
                }
            } else {
                text = Some(section_text(c, !part.is_empty())?);
            }
            break;
        }
        c.expect(b']', "expected ']'")?;
    }
    Ok(Section { part, text })
}

fn section_text(c: &mut Cursor<'_>, after_part: bool) -> PResult<SectionText> {
    let name = c
        .take_while(|b| b.is_ascii_alphabetic() || b == b'.')
        .to_ascii_uppercase();
    Ok(match name.as_slice() {
        b"HEADER" => SectionText::Header,
        b"TEXT" => SectionText::Text,
        b"MIME" if after_part => SectionText::Mime,
        b"HEADER.FIELDS" | b"HEADER.FIELDS.NOT" => {
            c.sp()?;
            let fields = c.paren_list(|c| c.astring_utf8())?;
            if name.len() > 13 {
                SectionText::HeaderFieldsNot(fields)
            } else {
                SectionText::HeaderFields(fields)
            }
        }
        _ => return Err(syntax("bad section")),
    })
}

/// `<start.count>`.
fn partial(c: &mut Cursor<'_>) -> PResult<Option<Partial>> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let start = c.number()?;
    c.expect(b'.', "bad partial")?;
    let count = c.nz_number()?;
    c.expect(b'>', "bad partial")?;
    Ok(Some(Partial { start, count }))
}

/// `STORE set [(UNCHANGEDSINCE n)] (+|-)FLAGS[.SILENT] (flag-list | flag *(SP flag))`.
pub(super) fn store(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    let mut unchanged_since = None;
    if c.peek() == Some(b'(') {
        c.paren_list(|c| {
            if !c.keyword("UNCHANGEDSINCE") {
                return Err(syntax("unknown STORE modifier"));
            }
            c.sp()?;
            unchanged_since = Some(c.number64()?);
            Ok(())
        })?;
        c.sp()?;
    }
    let action = if c.eat(b'+') {
        StoreAction::Add
    } else if c.eat(b'-') {
        StoreAction::Remove
    } else {
        StoreAction::Replace
    };
    let silent = if c.keyword("FLAGS") {
        false
    } else if c.keyword("FLAGS.SILENT") {
        true
    } else {
        return Err(syntax("expected FLAGS or FLAGS.SILENT"));
    };
    c.sp()?;
    let flags = if c.peek() == Some(b'(') {
        c.flag_list()?
    } else {
        let mut flags = vec![c.flag()?];
        while c.eat(b' ') {
            flags.push(c.flag()?);
        }
        flags
    };
    Ok(CommandBody::Store {
        uid,
        set,
        unchanged_since,
        action,
        silent,
        flags,
    })
}
