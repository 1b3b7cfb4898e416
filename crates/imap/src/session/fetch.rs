//! FETCH (RFC 3501 / RFC 9051 §6.4.5): every message data item, read from the message files.
//!
//! ```text
//!  for each message:  items ──need──▶ nothing │ header block │ whole file (CRLF line ends)
//!                                                   │                │
//!                     crate::mime: ENVELOPE, HEADER.FIELDS   Structure ─▶ BODYSTRUCTURE,
//!                                                            sections, BINARY, PREVIEW
//!                     BODY[] / RFC822 / BINARY[] / TEXT without a partial: streamed from
//!                     the file in chunks (measured first, then sent), never held whole
//!                     ──▶ `* n FETCH (...)` written piece by piece into the output buffer,
//!                         which is flushed whenever it holds more than [`FLUSH_AT`] octets
//! ```
//!
//! Items: UID, FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, RFC822,
//! RFC822.HEADER, RFC822.TEXT, BODY[section]<partial> and BODY.PEEK, BINARY[part]<partial>,
//! BINARY.PEEK and BINARY.SIZE (RFC 3516), PREVIEW and PREVIEW (LAZY) (RFC 8970), SAVEDATE
//! (RFC 8514), EMAILID and THREADID (RFC 8474; THREADID is NIL: no threads). MODSEQ and the
//! CHANGEDSINCE modifier (CONDSTORE) are answered `BAD`.
//!
//! Sizes and data are those of the message with CRLF line ends (Maildirs written by Dovecot
//! hold LF), as RFC822.SIZE counts them; BODY data has NUL octets as 0x80 (as Dovecot sends
//! them), BINARY data keeps them and goes out as a literal8. A non-PEEK body section sets
//! `\Seen` (not in a read-only mailbox), and the response then carries FLAGS.

use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use mailstack_store::{Flag as StoreFlag, MessageMeta, StoreError};

use super::convert::{internal_date, wire_flags};
use super::reply::Done;
use super::{ImapStream, Session};
use crate::mime::bodystructure::body_structure;
use crate::mime::crlf::CrlfNormalizer;
use crate::mime::envelope::envelope;
use crate::mime::header::{header_len, is_blank_line, line_end};
use crate::mime::preview::preview;
use crate::mime::section::{UnknownCte, binary_section, body_section, message_text, replace_nul};
use crate::mime::structure::Structure;
use crate::proto::{
    Code, FetchAttr, FetchItems, FetchModifiers, FetchValue, Partial, Section, SectionText,
    write_fetch_item, write_fetch_literal_head,
};
use crate::search::key::SequenceSet;

/// The output buffer is flushed to the client once it holds this much.
const FLUSH_AT: usize = 64 * 1024;
/// Data longer than this goes out in pieces after its literal announcement instead of
/// through one copy in the output buffer.
const PIECEWISE_FROM: usize = 64 * 1024;
/// How much of a file is read at a time.
const CHUNK: usize = 128 * 1024;

/// What of a message's file the items need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    /// The index is enough.
    Nothing,
    /// The header block.
    Header,
    /// The whole file.
    Whole,
}

/// How an item is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// From the index.
    Index,
    /// From the header block.
    Header,
    /// Streamed from the file, from the start (`true`) or from the body.
    Stream { from_start: bool },
    /// From the whole message.
    Whole,
}

fn source(attr: &FetchAttr) -> Option<Source> {
    use FetchAttr as A;
    Some(match attr {
        A::Uid
        | A::Flags
        | A::InternalDate
        | A::Rfc822Size
        | A::SaveDate
        | A::EmailId
        | A::ThreadId => Source::Index,
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
        A::ModSeq => return None,
    })
}

/// Whether fetching this item sets `\Seen`.
fn marks_seen(attr: &FetchAttr) -> bool {
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
/// and COPY keeps it in the copy (the store gives a copy the same base name), so the id does
/// too; another message never has the same name.
pub(super) fn email_id(meta: &MessageMeta) -> String {
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
struct Content {
    /// The message with CRLF line ends: the whole of it, or only its header block.
    bytes: Vec<u8>,
    /// `bytes` is the whole message.
    whole: bool,
    /// The message split into parts, once needed.
    structure: Option<Structure>,
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
enum Piece {
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
    /// A string item streamed from the file: `len` octets of the file from `from` (raw
    /// offset) with CRLF line ends; NUL as 0x80 unless `literal8` applies.
    File {
        item: FetchValue,
        file: Arc<std::fs::File>,
        from: u64,
        len: u64,
        keep_nul: bool,
        literal8: bool,
    },
}

/// The FETCH could not be answered for this message.
enum Failure {
    /// The file is gone (expunged by another process).
    Gone,
    /// BINARY of a part with an unknown transfer encoding.
    UnknownCte,
}

fn io_gone(e: io::Error) -> Failure {
    tracing::warn!(error = %e, "cannot read message file");
    Failure::Gone
}

/// `data` cut to `partial`, and the origin to report.
fn cut(mut data: Vec<u8>, partial: Option<Partial>) -> (Vec<u8>, Option<u32>) {
    let Some(p) = partial else {
        return (data, None);
    };
    let start = (p.start as usize).min(data.len());
    let end = start.saturating_add(p.count as usize).min(data.len());
    data.truncate(end);
    data.drain(..start);
    (data, Some(p.start))
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

/// A string item as a piece: short ones whole, long ones in pieces.
fn string_piece(item: FetchValue, data: Vec<u8>) -> Piece {
    let literal8 = matches!(item, FetchValue::Binary { .. }) && data.contains(&0);
    if data.len() < PIECEWISE_FROM {
        return Piece::Value(with_data(item, data));
    }
    Piece::Long {
        item,
        data,
        literal8,
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
        FetchValue::Rfc822(_) => FetchValue::Rfc822(Some(data)),
        FetchValue::Rfc822Header(_) => FetchValue::Rfc822Header(Some(data)),
        FetchValue::Rfc822Text(_) => FetchValue::Rfc822Text(Some(data)),
        other => other,
    }
}

/// Read the header block of a file: it with CRLF line ends, and its raw length.
fn read_header(file: &std::fs::File) -> io::Result<(Vec<u8>, u64)> {
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    // Lines before `scan` are complete and not blank.
    let mut scan = 0;
    let end = loop {
        let n = file.read_at(&mut buf, raw.len() as u64)?;
        raw.extend_from_slice(&buf[..n]);
        let mut found = None;
        while scan < raw.len() {
            let e = line_end(&raw, scan);
            if !raw[..e].ends_with(b"\n") {
                break;
            }
            if is_blank_line(&raw[scan..e]) {
                found = Some(e);
                break;
            }
            scan = e;
        }
        if let Some(e) = found {
            break e;
        }
        if n == 0 {
            break raw.len();
        }
    };
    let mut header = Vec::with_capacity(end + end / 32);
    CrlfNormalizer::default().feed(&raw[..end], &mut header);
    Ok((header, end as u64))
}

/// Read a whole file with CRLF line ends.
fn read_whole(file: &std::fs::File, size_hint: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(usize::try_from(size_hint).unwrap_or(0));
    let mut buf = vec![0u8; CHUNK];
    let mut normalizer = CrlfNormalizer::default();
    let mut off = 0u64;
    loop {
        let n = file.read_at(&mut buf, off)?;
        if n == 0 {
            return Ok(out);
        }
        normalizer.feed(&buf[..n], &mut out);
        off += n as u64;
    }
}

/// The length with CRLF line ends of a file from `from`, and whether it holds NUL.
fn measure(file: &std::fs::File, from: u64) -> io::Result<(u64, bool)> {
    let mut buf = vec![0u8; CHUNK];
    let mut normalizer = CrlfNormalizer::default();
    if from > 0 {
        // The octet before decides whether a leading LF is bare.
        let mut prev = [0u8; 1];
        if file.read_at(&mut prev, from - 1)? == 1 {
            normalizer.measure(&prev);
        }
    }
    let (mut len, mut nul, mut off) = (0u64, false, from);
    loop {
        let n = file.read_at(&mut buf, off)?;
        if n == 0 {
            return Ok((len, nul));
        }
        len += normalizer.measure(&buf[..n]) as u64;
        nul |= buf[..n].contains(&0);
        off += n as u64;
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)?
}

impl<S: ImapStream> Session<S> {
    pub(super) async fn fetch(
        &mut self,
        uid_mode: bool,
        set: &SequenceSet,
        items: &FetchItems,
        modifiers: FetchModifiers,
    ) -> Done {
        if modifiers != FetchModifiers::default() {
            return Done::not_supported("CONDSTORE");
        }
        let mut attrs = items.expand();
        let Some(sources) = attrs.iter().map(source).collect::<Option<Vec<_>>>() else {
            return Done::not_supported("FETCH item");
        };
        if uid_mode && !attrs.contains(&FetchAttr::Uid) {
            attrs.insert(0, FetchAttr::Uid);
        }
        let need = sources
            .iter()
            .map(|s| match s {
                Source::Index | Source::Stream { from_start: true } => Need::Nothing,
                Source::Header | Source::Stream { from_start: false } => Need::Header,
                Source::Whole => Need::Whole,
            })
            .max()
            .unwrap_or(Need::Nothing);
        let streams = sources.iter().any(|s| matches!(s, Source::Stream { .. }));
        let sel = self.sel();
        let wants_seen = !sel.read_only && attrs.iter().any(marks_seen);
        let uids: Vec<u32> = sel.resolve(uid_mode, set).into_iter().collect();
        let mut missing = false;
        for uid in uids {
            let sel = self.sel();
            let Some(seq) = sel.view.seq(uid) else {
                continue;
            };
            let Some(meta) = sel.mailbox.message(uid).cloned() else {
                missing = true;
                continue;
            };
            let pieces = match self.pieces(&attrs, &meta, need, streams).await {
                Ok(p) => p,
                Err(Failure::Gone) => {
                    missing = true;
                    continue;
                }
                Err(Failure::UnknownCte) => {
                    return Done::no(Some(Code::UnknownCte), "Unknown Content-Transfer-Encoding");
                }
            };
            let (meta, seen_now) = self.mark_seen(wants_seen, meta).await;
            let flags_asked = attrs.contains(&FetchAttr::Flags);
            if let Err(e) = self
                .send_fetch(seq, pieces, &meta, seen_now && !flags_asked)
                .await
            {
                tracing::debug!(error = %e, "connection lost during FETCH");
                return Done::no(Some(Code::Unavailable), "FETCH interrupted");
            }
        }
        if missing {
            Done::no(Some(Code::ExpungeIssued), "Some messages were expunged")
        } else {
            Done::ok("FETCH completed")
        }
    }

    /// Set `\Seen` when asked and not set yet; the message's metadata after it, and whether
    /// it changed.
    async fn mark_seen(&mut self, wanted: bool, meta: MessageMeta) -> (MessageMeta, bool) {
        if !wanted || meta.flags.contains(&StoreFlag::Seen) {
            return (meta, false);
        }
        let sel = self.sel();
        let mut flags = meta.flags.clone();
        flags.push(StoreFlag::Seen);
        flags.sort();
        if let Err(e) = sel
            .mailbox
            .set_flags(meta.uid, &flags, &meta.keywords)
            .await
        {
            tracing::warn!(error = %e, uid = meta.uid, "cannot set \\Seen");
            return (meta, false);
        }
        match sel.mailbox.message(meta.uid) {
            Some(m) => (m.clone(), true),
            None => (meta, false),
        }
    }

    /// Write one `* n FETCH (...)` into the output buffer, flushing it whenever it fills.
    async fn send_fetch(
        &mut self,
        seq: u32,
        pieces: Vec<Piece>,
        meta: &MessageMeta,
        add_flags: bool,
    ) -> io::Result<()> {
        self.out
            .extend_from_slice(format!("* {seq} FETCH (").as_bytes());
        let extra = add_flags.then_some(Piece::Flags);
        for (i, piece) in pieces.into_iter().chain(extra).enumerate() {
            if i > 0 {
                self.out.push(b' ');
            }
            match piece {
                Piece::Value(v) => write_fetch_item(&mut self.out, &v),
                Piece::Flags => {
                    write_fetch_item(&mut self.out, &FetchValue::Flags(wire_flags(meta)));
                }
                Piece::Long {
                    item,
                    data,
                    literal8,
                } => {
                    write_fetch_literal_head(&mut self.out, &item, data.len() as u64, literal8);
                    for chunk in data.chunks(CHUNK) {
                        self.out.extend_from_slice(chunk);
                        self.flush_if_full().await?;
                    }
                }
                Piece::File {
                    item,
                    file,
                    from,
                    len,
                    keep_nul,
                    literal8,
                } => {
                    write_fetch_literal_head(&mut self.out, &item, len, literal8);
                    self.send_file(file, from, len, keep_nul).await?;
                }
            }
        }
        self.out.extend_from_slice(b")\r\n");
        self.flush_if_full().await
    }

    async fn flush_if_full(&mut self) -> io::Result<()> {
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Send exactly `len` octets: the file from `from` with CRLF line ends (NUL as 0x80
    /// unless `keep_nul`), read and sent a chunk at a time.
    async fn send_file(
        &mut self,
        file: Arc<std::fs::File>,
        from: u64,
        len: u64,
        keep_nul: bool,
    ) -> io::Result<()> {
        let mut normalizer = CrlfNormalizer::default();
        if from > 0 {
            let f = file.clone();
            let prev = blocking(move || {
                let mut b = [0u8; 1];
                let n = f.read_at(&mut b, from - 1)?;
                Ok(b[..n].to_vec())
            })
            .await?;
            normalizer.measure(&prev);
        }
        let (mut sent, mut off) = (0u64, from);
        while sent < len {
            let f = file.clone();
            let chunk = blocking(move || {
                let mut buf = vec![0u8; CHUNK];
                let n = f.read_at(&mut buf, off)?;
                buf.truncate(n);
                Ok(buf)
            })
            .await?;
            if chunk.is_empty() {
                break;
            }
            off += chunk.len() as u64;
            let start = self.out.len();
            normalizer.feed(&chunk, &mut self.out);
            if !keep_nul {
                replace_nul(&mut self.out[start..]);
            }
            let produced = (self.out.len() - start) as u64;
            if sent + produced > len {
                self.out.truncate(start + (len - sent) as usize);
                sent = len;
            } else {
                sent += produced;
            }
            self.flush_if_full().await?;
        }
        if sent < len {
            // The file changed under us; the literal must still have its announced size.
            tracing::warn!(from, len, sent, "message file shorter than measured");
            self.out
                .resize(self.out.len() + (len - sent) as usize, b' ');
        }
        Ok(())
    }

    /// Read what the items need of one message and answer each of them.
    async fn pieces(
        &mut self,
        attrs: &[FetchAttr],
        meta: &MessageMeta,
        need: Need,
        streams: bool,
    ) -> Result<Vec<Piece>, Failure> {
        let file = if need > Need::Nothing || streams {
            match self.sel().mailbox.open_message(meta.uid).await {
                Ok(f) => Some(Arc::new(f)),
                Err(StoreError::MessageNotFound(_)) => return Err(Failure::Gone),
                Err(e) => {
                    tracing::warn!(error = %e, uid = meta.uid, "cannot open message");
                    return Err(Failure::Gone);
                }
            }
        } else {
            None
        };
        let text_stream = attrs
            .iter()
            .any(|a| source(a) == Some(Source::Stream { from_start: false }));
        let mut content = None;
        let mut raw_body_start = 0;
        if let Some(f) = &file {
            if need == Need::Whole {
                let (f, hint) = (f.clone(), meta.vsize);
                let bytes = blocking(move || read_whole(&f, hint))
                    .await
                    .map_err(io_gone)?;
                content = Some(Content {
                    bytes,
                    whole: true,
                    structure: None,
                });
            }
            if need == Need::Header || text_stream {
                let f = f.clone();
                let (header, raw_len) = blocking(move || read_header(&f)).await.map_err(io_gone)?;
                raw_body_start = raw_len;
                if content.is_none() {
                    content = Some(Content {
                        bytes: header,
                        whole: false,
                        structure: None,
                    });
                }
            }
        }
        let mut pieces = Vec::with_capacity(attrs.len() + 1);
        for attr in attrs {
            let piece = match (source(attr), &file) {
                (Some(Source::Stream { from_start }), Some(f)) => {
                    let from = if from_start { 0 } else { raw_body_start };
                    stream_piece(attr, f.clone(), from).await?
                }
                _ => answer(attr, meta, content.as_mut())?,
            };
            pieces.push(piece);
        }
        Ok(pieces)
    }
}

/// A streamed item: the file measured from `from`.
async fn stream_piece(
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
fn answer(
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
            string_piece(FetchValue::Rfc822Header(None), header.to_vec())
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
            let data = if !content.whole {
                // Only the header block was read: a header section of the message.
                let (header, body) = content.header_and_body();
                match &section.text {
                    Some(t) => message_text(header, body, t).into_owned(),
                    None => Vec::new(),
                }
            } else {
                let (raw, s) = content.whole();
                body_section(raw, s, section).into_owned()
            };
            let (mut data, origin) = cut(data, *partial);
            replace_nul(&mut data);
            string_piece(
                FetchValue::BodySection {
                    section: echoed(section),
                    origin,
                    data: None,
                },
                data,
            )
        }
        A::Binary { part, partial, .. } => {
            let (raw, s) = content.whole();
            let data = binary_section(raw, s, part)
                .map_err(|UnknownCte| Failure::UnknownCte)?
                .into_owned();
            let (data, origin) = cut(data, *partial);
            string_piece(
                FetchValue::Binary {
                    part: part.clone(),
                    origin,
                    data: None,
                },
                data,
            )
        }
        A::BinarySize { part } => {
            let (raw, s) = content.whole();
            let size = binary_section(raw, s, part)
                .map_err(|UnknownCte| Failure::UnknownCte)?
                .len() as u64;
            Piece::Value(FetchValue::BinarySize {
                part: part.clone(),
                size,
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
