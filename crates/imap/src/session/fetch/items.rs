//! The FETCH items of one message: what each needs read, and its answer as a [`Piece`] ready
//! to be written.

use std::ops::Range;
use std::sync::Arc;

use mailstack_store::MessageMeta;

use super::read::{blocking, measure};
use crate::mime::bodystructure::body_structure;
use crate::mime::envelope::envelope;
use crate::mime::header::header_len;
use crate::mime::preview::preview;
use crate::mime::section::{
    SectionData, UnknownCte, binary_section, body_section, message_text, replace_nul,
};
use crate::mime::structure::Structure;
use crate::proto::{FetchAttr, FetchValue, Partial, Section, SectionText};
use crate::session::convert::internal_date;

/// Strings longer than this go out in pieces after their literal announcement instead of
/// through one copy in the output buffer.
pub(super) const PIECEWISE_FROM: usize = 64 * 1024;

/// What of a message's file the items need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Need {
    /// The index is enough.
    Nothing,
    /// The header block.
    Header,
    /// The whole file.
    Whole,
}

/// How an item is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// From the index.
    Index,
    /// From the header block.
    Header,
    /// Streamed from the file, from its start (`true`) or from the body.
    Stream { from_start: bool },
    /// From the whole message.
    Whole,
}

impl Source {
    /// What has to be read for it (a stream from the body needs the header's length).
    pub(super) fn need(self) -> Need {
        match self {
            Source::Index | Source::Stream { from_start: true } => Need::Nothing,
            Source::Header | Source::Stream { from_start: false } => Need::Header,
            Source::Whole => Need::Whole,
        }
    }
}

/// How `attr` is answered (`None`: an item this server cannot answer).
pub(super) fn source(attr: &FetchAttr) -> Option<Source> {
    use FetchAttr as A;
    Some(match attr {
        A::Uid
        | A::Flags
        | A::InternalDate
        | A::Rfc822Size
        | A::SaveDate
        | A::EmailId
        | A::ThreadId
        | A::ModSeq => Source::Index,
        A::Envelope | A::Rfc822Header => Source::Header,
        A::Rfc822 => Source::Stream { from_start: true },
        A::Rfc822Text => Source::Stream { from_start: false },
        A::BodySection {
            section, partial, ..
        } if section.part.is_empty() => match (&section.text, partial) {
            (None, None) => Source::Stream { from_start: true },
            (Some(SectionText::Text), None) => Source::Stream { from_start: false },
            (Some(SectionText::Text) | None, Some(_)) => Source::Whole,
            (Some(_), _) => Source::Header,
        },
        A::Binary {
            part,
            partial: None,
            ..
        } if part.is_empty() => Source::Stream { from_start: true },
        A::BodySection { .. }
        | A::Binary { .. }
        | A::BinarySize { .. }
        | A::Body
        | A::BodyStructure
        | A::Preview { .. } => Source::Whole,
    })
}

/// Whether fetching this item sets `\Seen`.
pub(super) fn marks_seen(attr: &FetchAttr) -> bool {
    matches!(
        attr,
        FetchAttr::Rfc822
            | FetchAttr::Rfc822Text
            | FetchAttr::BodySection { peek: false, .. }
            | FetchAttr::Binary { peek: false, .. }
    )
}

/// The EMAILID (RFC 8474) of a message: `M` and a 128-bit FNV-1a hash of the unique part of
/// its Maildir file name (before `,S=` and `:2,`), the way Dovecot takes a Maildir message's
/// GUID from its file name. The name stays with the message through flag changes and MOVE,
/// and COPY gives the copy the same name (see the store's `Mailbox::copy_to`), so the id
/// does too; no other message has the same name.
pub(in crate::session) fn email_id(meta: &MessageMeta) -> String {
    let name = meta
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = name.split([':', ',']).next().unwrap_or_default();
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in unique.bytes() {
        hash ^= u128::from(b);
        hash = hash.wrapping_mul(0x0000000001000000000000000000013B);
    }
    format!("M{hash:032x}")
}

/// What has been read of one message.
pub(super) struct Content {
    /// The message with CRLF line ends: the whole of it, or only its header block.
    pub(super) bytes: Vec<u8>,
    /// `bytes` is the whole message.
    pub(super) whole: bool,
    /// The message split into parts, once needed.
    pub(super) structure: Option<Structure>,
}

impl Content {
    /// The whole message and its parts.
    fn whole(&mut self) -> (&[u8], &Structure) {
        let bytes = &self.bytes;
        let s = self
            .structure
            .get_or_insert_with(|| Structure::parse(bytes));
        (bytes, s)
    }

    /// The header block and the body of the message (the body is empty when only the header
    /// was read).
    fn header_and_body(&self) -> (&[u8], &[u8]) {
        let split = header_len(&self.bytes).unwrap_or(self.bytes.len());
        self.bytes.split_at(split)
    }
}

/// One item of a FETCH response, ready to be written.
pub(super) enum Piece {
    /// Written as it is.
    Value(FetchValue),
    /// FLAGS, written from the message's flags after `\Seen` was set.
    Flags,
    /// A long string item: the announcement, then `data` in pieces.
    Long {
        item: FetchValue,
        data: Vec<u8>,
        literal8: bool,
    },
    /// A long string item that is a range of the message read ([`Content::bytes`]); NUL as
    /// 0x80 unless `keep_nul`.
    Slice {
        item: FetchValue,
        range: Range<usize>,
        keep_nul: bool,
        literal8: bool,
    },
    /// A string item streamed from the file: `len` octets of the file from `from` (raw
    /// offset) with CRLF line ends; NUL as 0x80 unless `keep_nul`.
    File {
        item: FetchValue,
        file: Arc<std::fs::File>,
        from: u64,
        len: u64,
        keep_nul: bool,
        literal8: bool,
    },
}

/// Why a message's items could not be answered.
pub(super) enum Failure {
    /// The file is gone (expunged by another process) or unreadable.
    Gone,
    /// BINARY of a part with an unknown transfer encoding.
    UnknownCte,
}

pub(super) fn io_gone(e: std::io::Error) -> Failure {
    tracing::warn!(error = %e, "cannot read message file");
    Failure::Gone
}

/// The part of `range` that `partial` names.
fn cut_range(range: Range<usize>, partial: Option<Partial>) -> Range<usize> {
    let Some(p) = partial else {
        return range;
    };
    let start = range.start.saturating_add(p.start as usize).min(range.end);
    let end = start.saturating_add(p.count as usize).min(range.end);
    start..end
}

/// A section as echoed in the response: header field names in upper case, as Dovecot does.
fn echoed(section: &Section) -> Section {
    let upper = |names: &Vec<String>| names.iter().map(|n| n.to_ascii_uppercase()).collect();
    Section {
        part: section.part.clone(),
        text: match &section.text {
            Some(SectionText::HeaderFields(n)) => Some(SectionText::HeaderFields(upper(n))),
            Some(SectionText::HeaderFieldsNot(n)) => Some(SectionText::HeaderFieldsNot(upper(n))),
            other => other.clone(),
        },
    }
}

/// The item with its data set.
fn with_data(item: FetchValue, data: Vec<u8>) -> FetchValue {
    match item {
        FetchValue::BodySection {
            section, origin, ..
        } => FetchValue::BodySection {
            section,
            origin,
            data: Some(data),
        },
        FetchValue::Binary { part, origin, .. } => FetchValue::Binary {
            part,
            origin,
            data: Some(data),
        },
        other => other,
    }
}

/// A string item (`binary`: BINARY, which keeps NUL) with data `data` of the message `raw`,
/// cut to `partial`.
fn string_piece(
    item: FetchValue,
    data: SectionData,
    partial: Option<Partial>,
    raw: &[u8],
    binary: bool,
) -> Piece {
    let range = match data {
        SectionData::Range(r) => cut_range(r, partial),
        SectionData::Made(mut v) => {
            let r = cut_range(0..v.len(), partial);
            v.truncate(r.end);
            v.drain(..r.start);
            if !binary {
                replace_nul(&mut v);
            }
            if v.len() < PIECEWISE_FROM {
                return Piece::Value(with_data(item, v));
            }
            let literal8 = binary && v.contains(&0);
            return Piece::Long {
                item,
                data: v,
                literal8,
            };
        }
    };
    if range.len() < PIECEWISE_FROM {
        let mut v = raw[range].to_vec();
        if !binary {
            replace_nul(&mut v);
        }
        return Piece::Value(with_data(item, v));
    }
    let literal8 = binary && raw[range.clone()].contains(&0);
    Piece::Slice {
        item,
        range,
        keep_nul: binary,
        literal8,
    }
}

/// A streamed item: the file measured from `from`.
pub(super) async fn stream_piece(
    attr: &FetchAttr,
    file: Arc<std::fs::File>,
    from: u64,
) -> Result<Piece, Failure> {
    let f = file.clone();
    let (len, nul) = blocking(move || measure(&f, from)).await.map_err(io_gone)?;
    let (item, keep_nul) = match attr {
        FetchAttr::Rfc822 => (FetchValue::Rfc822(None), false),
        FetchAttr::Rfc822Text => (FetchValue::Rfc822Text(None), false),
        FetchAttr::BodySection { section, .. } => (
            FetchValue::BodySection {
                section: echoed(section),
                origin: None,
                data: None,
            },
            false,
        ),
        FetchAttr::Binary { part, .. } => (
            FetchValue::Binary {
                part: part.clone(),
                origin: None,
                data: None,
            },
            true,
        ),
        _ => return Err(Failure::Gone),
    };
    Ok(Piece::File {
        item,
        file,
        from,
        len,
        keep_nul,
        literal8: keep_nul && nul,
    })
}

/// Answer one item from the index or from what was read.
pub(super) fn answer(
    attr: &FetchAttr,
    meta: &MessageMeta,
    content: Option<&mut Content>,
) -> Result<Piece, Failure> {
    use FetchAttr as A;
    let value = match attr {
        A::Uid => FetchValue::Uid(meta.uid),
        A::Flags => return Ok(Piece::Flags),
        A::InternalDate => FetchValue::InternalDate(internal_date(meta.internal_date)),
        A::Rfc822Size => FetchValue::Rfc822Size(meta.vsize),
        A::SaveDate => {
            FetchValue::SaveDate((meta.save_date > 0).then(|| internal_date(meta.save_date)))
        }
        A::EmailId => FetchValue::EmailId(email_id(meta)),
        A::ThreadId => FetchValue::ThreadId(None),
        A::ModSeq => crate::session::condstore::modseq_value(meta),
        _ => return answer_content(attr, content.ok_or(Failure::Gone)?),
    };
    Ok(Piece::Value(value))
}

/// Answer an item that needs the message's bytes.
fn answer_content(attr: &FetchAttr, content: &mut Content) -> Result<Piece, Failure> {
    use FetchAttr as A;
    Ok(match attr {
        A::Envelope => {
            let (header, _) = content.header_and_body();
            Piece::Value(FetchValue::Envelope(Box::new(envelope(header))))
        }
        A::Rfc822Header => {
            let (header, _) = content.header_and_body();
            Piece::Value(FetchValue::Rfc822Header(Some(header.to_vec())))
        }
        A::Body | A::BodyStructure => {
            let (raw, s) = content.whole();
            let b = Box::new(body_structure(raw, s));
            Piece::Value(if matches!(attr, A::Body) {
                FetchValue::Body(b)
            } else {
                FetchValue::BodyStructure(b)
            })
        }
        A::BodySection {
            section, partial, ..
        } => {
            let item = FetchValue::BodySection {
                section: echoed(section),
                origin: partial.map(|p| p.start),
                data: None,
            };
            if !content.whole {
                // Only the header block was read: a header section of the message.
                let (header, body) = content.header_and_body();
                let data = match &section.text {
                    Some(t) => message_text(header, body, t).into_owned(),
                    None => Vec::new(),
                };
                string_piece(item, SectionData::Made(data), *partial, &[], false)
            } else {
                let (raw, s) = content.whole();
                string_piece(item, body_section(raw, s, section), *partial, raw, false)
            }
        }
        A::Binary { part, partial, .. } => {
            let (raw, s) = content.whole();
            let data = binary_section(raw, s, part).map_err(|UnknownCte| Failure::UnknownCte)?;
            let item = FetchValue::Binary {
                part: part.clone(),
                origin: partial.map(|p| p.start),
                data: None,
            };
            string_piece(item, data, *partial, raw, true)
        }
        A::BinarySize { part } => {
            let (raw, s) = content.whole();
            let data = binary_section(raw, s, part).map_err(|UnknownCte| Failure::UnknownCte)?;
            Piece::Value(FetchValue::BinarySize {
                part: part.clone(),
                size: data.bytes(raw).len() as u64,
            })
        }
        A::Preview { .. } => {
            let (raw, s) = content.whole();
            Piece::Value(FetchValue::Preview(Some(preview(raw, s))))
        }
        // Index items are answered by `answer`, streamed ones from the file; MODSEQ is
        // refused before.
        _ => return Err(Failure::Gone),
    })
}
