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
//!                         which is flushed whenever it holds more than [`FLUSH_AT`] octets;
//!                         long strings go from their own buffer (or the file) in chunks
//! ```
//!
//! - [`items`]: what each item needs read, and its answer.
//! - [`read`]: reading the files (on the blocking pool).
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

mod items;
mod read;

use std::io;
use std::sync::Arc;

use mailstack_store::{Flag as StoreFlag, MessageMeta, StoreError};

use super::convert::wire_flags;
use super::reply::Done;
use super::{ImapStream, Session};
use crate::mime::crlf::CrlfNormalizer;
use crate::mime::section::replace_nul;
use crate::proto::{
    Code, FetchAttr, FetchItems, FetchModifiers, FetchValue, write_fetch_item,
    write_fetch_literal_head,
};
use crate::search::key::SequenceSet;
use items::{
    Content, Failure, Need, Piece, Source, answer, io_gone, marks_seen, source, stream_piece,
};
use read::{CHUNK, blocking, read_chunk, read_header, read_whole};

pub(in crate::session) use items::email_id;

/// The output buffer is flushed to the client once it holds this much.
const FLUSH_AT: usize = 64 * 1024;

impl<S: ImapStream> Session<S> {
    pub(super) async fn fetch(
        &mut self,
        uid_mode: bool,
        set: &SequenceSet,
        items: &FetchItems,
        modifiers: FetchModifiers,
    ) -> Done {
        let mut attrs = items.expand();
        if attrs.iter().any(|a| source(a).is_none()) {
            return Done::not_supported("FETCH item");
        }
        // CHANGEDSINCE (which adds MODSEQ to `attrs`) and VANISHED.
        let changed_since = match self.fetch_modifiers(set, modifiers, &mut attrs).await {
            Ok(c) => c,
            Err(done) => return done,
        };
        let condstore = self.enabled.condstore;
        let Some(sources) = attrs.iter().map(source).collect::<Option<Vec<_>>>() else {
            return Done::not_supported("FETCH item");
        };
        if uid_mode && !attrs.contains(&FetchAttr::Uid) {
            attrs.insert(0, FetchAttr::Uid);
        }
        let need = sources
            .iter()
            .map(|s| s.need())
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
            if changed_since.is_some_and(|since| meta.modseq <= since) {
                continue;
            }
            let (pieces, content) = match self.pieces(&attrs, &meta, need, streams).await {
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
            // `\Seen` set now: the response reports the flag change (with UID and MODSEQ under
            // CONDSTORE, RFC 7162 §3.1.4).
            let mut extra = Vec::new();
            if seen_now {
                if !attrs.contains(&FetchAttr::Flags) {
                    extra.push(Piece::Flags);
                }
                if condstore {
                    if !attrs.contains(&FetchAttr::Uid) {
                        extra.push(Piece::Value(FetchValue::Uid(meta.uid)));
                    }
                    if !attrs.contains(&FetchAttr::ModSeq) {
                        extra.push(Piece::Value(FetchValue::ModSeq(meta.modseq)));
                    }
                }
            }
            if let Err(e) = self
                .send_fetch(seq, pieces, content.as_ref(), &meta, extra)
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
        content: Option<&Content>,
        meta: &MessageMeta,
        extra: Vec<Piece>,
    ) -> io::Result<()> {
        self.out
            .extend_from_slice(format!("* {seq} FETCH (").as_bytes());
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
                Piece::Slice {
                    item,
                    range,
                    keep_nul,
                    literal8,
                } => {
                    let data = content.map_or(&[][..], |c| &c.bytes[range]);
                    write_fetch_literal_head(&mut self.out, &item, data.len() as u64, literal8);
                    for chunk in data.chunks(CHUNK) {
                        let start = self.out.len();
                        self.out.extend_from_slice(chunk);
                        if !keep_nul {
                            replace_nul(&mut self.out[start..]);
                        }
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
            let prev = blocking(move || read_chunk(&f, from - 1, 1)).await?;
            normalizer.measure(&prev);
        }
        let (mut sent, mut off) = (0u64, from);
        while sent < len {
            let f = file.clone();
            let chunk = blocking(move || read_chunk(&f, off, CHUNK)).await?;
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
    ) -> Result<(Vec<Piece>, Option<Content>), Failure> {
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
        Ok((pieces, content))
    }
}
