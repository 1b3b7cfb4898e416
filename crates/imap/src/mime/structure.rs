//! The MIME part splitter: one pass over the message's lines, recording for every part where
//! its header starts, where its body starts and where it ends, with the number of line feeds
//! before each of those offsets (so a part's line count is a subtraction).
//!
//! It follows Dovecot's `message-parser` where the RFCs leave room, so that BODYSTRUCTURE and
//! part numbers come out the same:
//!
//! - A boundary line is `--` and a boundary of any open multipart as a *prefix* of the line; the
//!   longest matching boundary wins. The line end before a boundary line belongs to the
//!   boundary. A boundary of an outer multipart ends the inner parts.
//! - Preamble and epilogue belong to the multipart's body but to no child part.
//! - A multipart without a `boundary` parameter, or whose boundary never comes, has one empty
//!   `text/plain` child.
//! - `message/rfc822` holds a message: the child part that starts at its body (even when the
//!   part is transfer-encoded, against RFC 2046, as Dovecot does; BODYSTRUCTURE then shows
//!   an empty message). `message/global` is a leaf.
//! - In `multipart/digest` a part without Content-Type is `message/rfc822`; elsewhere it is
//!   `text/plain`.
//! - At most [`MAX_DEPTH`] parts are nested (a deeper multipart or message becomes
//!   `application/octet-stream`, parameters kept), and once [`MAX_PARTS`] parts exist no
//!   boundary is recognised any more, so hostile input costs one linear pass and bounded
//!   memory, and nothing recursing over the tree goes deeper than [`MAX_DEPTH`].

use super::header::{is_blank_line, line_end, strip_eol};
use super::params::{ContentType, MimeFields};

/// Deepest nesting of parts (the message itself is level 1), as Dovecot's
/// `max_nested_mime_parts`.
pub(crate) const MAX_DEPTH: usize = 100;
/// Most parts in one message, as Dovecot's `max_total_mime_parts`.
pub(crate) const MAX_PARTS: usize = 10_000;

/// An offset in the message and the number of LFs before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    /// Byte offset.
    pub(crate) off: usize,
    /// Line feeds before `off`.
    pub(crate) lines: usize,
}

/// What a part holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A leaf: its body is content.
    Leaf,
    /// A multipart: its children, in order (never empty once the parse is done).
    Multipart(Vec<usize>),
    /// A `message/rfc822`: the root part of the message in its body; `None` when a boundary
    /// cut the part's header short.
    Message(Option<usize>),
}

/// One MIME part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// Where its header starts.
    pub(crate) header: Mark,
    /// Where its body starts (after the empty line ending the header).
    pub(crate) body: Mark,
    /// Where its body ends.
    pub(crate) end: Mark,
    /// Its MIME fields as written.
    pub(crate) fields: MimeFields,
    /// Its effective type: the Content-Type, the default, or `application/octet-stream` past
    /// the nesting limit.
    pub(crate) content_type: ContentType,
    /// What it holds.
    pub(crate) kind: Kind,
}

impl Part {
    /// The header block's byte range.
    pub(crate) fn header_range(&self) -> std::ops::Range<usize> {
        self.header.off..self.body.off
    }

    /// The body's byte range.
    pub(crate) fn body_range(&self) -> std::ops::Range<usize> {
        self.body.off..self.end.off
    }

    /// The body's size in octets.
    pub(crate) fn body_size(&self) -> usize {
        self.end.off - self.body.off
    }

    /// The number of LFs in the body.
    pub(crate) fn body_lines(&self) -> usize {
        self.end.lines - self.body.lines
    }
}

/// The parts of one message; `parts[0]` is the message itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Structure {
    /// All parts, parents before their children.
    pub(crate) parts: Vec<Part>,
}

impl Structure {
    /// Split `raw` (a whole message) into its parts. Never fails and never panics.
    pub(crate) fn parse(raw: &[u8]) -> Structure {
        let mut s = Splitter {
            raw,
            parts: Vec::new(),
            open: Vec::new(),
            boundaries: Vec::new(),
            in_header: None,
        };
        s.start_part(Mark::default(), false);
        let mut pos = 0;
        let mut lines = 0;
        let mut after_boundary = false;
        while pos < raw.len() {
            let end = line_end(raw, pos);
            let line = &raw[pos..end];
            let here = Mark { off: pos, lines };
            let ends_lf = line.ends_with(b"\n");
            let next = Mark {
                off: end,
                lines: lines + usize::from(ends_lf),
            };
            let boundary = s.boundary_line(strip_eol(line), here, next, after_boundary);
            if !boundary
                && let Some(p) = s.in_header
                && is_blank_line(line)
            {
                s.end_header(p, next, true);
            }
            after_boundary = boundary;
            pos = end;
            lines = next.lines;
        }
        s.finish(Mark {
            off: raw.len(),
            lines,
        });
        Structure { parts: s.parts }
    }

    /// The message itself.
    pub(crate) fn root(&self) -> &Part {
        &self.parts[0]
    }
}

/// A boundary of an open multipart.
struct Boundary {
    /// The boundary parameter (without `--`).
    delimiter: Vec<u8>,
    /// The multipart.
    part: usize,
    /// Its index in `Splitter::open`.
    depth: usize,
}

struct Splitter<'a> {
    raw: &'a [u8],
    parts: Vec<Part>,
    /// Parts not yet ended, outermost first.
    open: Vec<usize>,
    /// Boundaries of open multiparts whose closing delimiter has not come, outermost first.
    boundaries: Vec<Boundary>,
    /// The part whose header is being read.
    in_header: Option<usize>,
}

impl Splitter<'_> {
    /// Start a part whose header begins at `at`.
    fn start_part(&mut self, at: Mark, in_digest: bool) -> usize {
        let idx = self.parts.len();
        self.parts.push(Part {
            header: at,
            body: at,
            end: at,
            fields: MimeFields::default(),
            content_type: if in_digest {
                ContentType::message_rfc822()
            } else {
                ContentType::text_plain()
            },
            kind: Kind::Leaf,
        });
        self.open.push(idx);
        self.in_header = Some(idx);
        idx
    }

    /// Handle a line that may be a boundary; `true` when it was one. `after_boundary`: the
    /// line before was a boundary line too.
    fn boundary_line(
        &mut self,
        content: &[u8],
        here: Mark,
        next: Mark,
        after_boundary: bool,
    ) -> bool {
        if self.boundaries.is_empty() || self.parts.len() >= MAX_PARTS {
            return false;
        }
        let Some(rest) = content.strip_prefix(b"--") else {
            return false;
        };
        // The longest boundary that starts the line; among equals the innermost.
        let mut best: Option<usize> = None;
        for (i, b) in self.boundaries.iter().enumerate().rev() {
            if rest.starts_with(&b.delimiter)
                && best.is_none_or(|j| self.boundaries[j].delimiter.len() < b.delimiter.len())
            {
                best = Some(i);
            }
        }
        let Some(i) = best else {
            return false;
        };
        let (multipart, depth) = (self.boundaries[i].part, self.boundaries[i].depth);
        let closing = rest[self.boundaries[i].delimiter.len()..].starts_with(b"--");
        // The line end before a boundary line belongs to the boundary (RFC 2046), except
        // (as in Dovecot) the line end of a boundary line, of a header line of a part still
        // reading its header, and of the header of a part whose body is still empty.
        let keep = after_boundary
            || match self.in_header {
                Some(p) => self.parts[p].header.off < here.off,
                None => self
                    .open
                    .last()
                    .is_some_and(|&p| self.parts[p].body.off >= here.off),
            };
        let end = if keep { here } else { self.before_line(here) };
        while self.open.len() > depth + 1 {
            if let Some(p) = self.open.pop() {
                self.close(p, end);
            }
        }
        self.boundaries.truncate(i + 1);
        if closing {
            self.boundaries.pop();
            self.in_header = None;
        } else {
            let digest = self.parts[multipart]
                .content_type
                .is("multipart", Some("digest"));
            let child = self.start_part(next, digest);
            if let Kind::Multipart(children) = &mut self.parts[multipart].kind {
                children.push(child);
            }
        }
        true
    }

    /// The mark before the line end that precedes the line at `here`.
    fn before_line(&self, here: Mark) -> Mark {
        if here.off == 0 {
            return here;
        }
        let eol = if here.off >= 2 && self.raw[here.off - 2] == b'\r' {
            2
        } else {
            1
        };
        Mark {
            off: here.off - eol,
            lines: here.lines.saturating_sub(1),
        }
    }

    /// The header of `p` ended; its body starts at `body`. Decide what the part holds; with
    /// `may_open` false (the part is being closed) a container gets no children here.
    fn end_header(&mut self, p: usize, body: Mark, may_open: bool) {
        self.in_header = None;
        let fields = MimeFields::parse(&self.raw[self.parts[p].header.off..body.off]);
        let depth = self.open.len();
        let full = self.parts.len() >= MAX_PARTS;
        let part = &mut self.parts[p];
        part.body = body;
        if let Some(ct) = &fields.content_type {
            part.content_type = ct.clone();
        }
        part.fields = fields;
        let multipart = part.content_type.is("multipart", None);
        let message = part.content_type.is("message", Some("rfc822"));
        if !multipart && !message {
            return;
        }
        if depth >= MAX_DEPTH || full {
            part.content_type.main = b"application".to_vec();
            part.content_type.sub = b"octet-stream".to_vec();
            return;
        }
        if multipart {
            part.kind = Kind::Multipart(Vec::new());
            let boundary = part.content_type.param("boundary").map(<[u8]>::to_vec);
            if let Some(delimiter) = boundary.filter(|b| !b.is_empty() && may_open) {
                self.boundaries.push(Boundary {
                    delimiter,
                    part: p,
                    depth: depth - 1,
                });
            }
            return;
        }
        if !may_open {
            part.kind = Kind::Message(None);
            return;
        }
        let child = self.start_part(body, false);
        self.parts[p].kind = Kind::Message(Some(child));
    }

    /// End part `p` at `end` (not before its header start).
    fn close(&mut self, p: usize, end: Mark) {
        if self.in_header == Some(p) {
            let at = if end.off < self.parts[p].header.off {
                self.parts[p].header
            } else {
                end
            };
            self.end_header(p, at, false);
        }
        let part = &mut self.parts[p];
        part.end = if end.off < part.header.off {
            part.header
        } else {
            end
        };
        if part.body.off > part.end.off {
            part.body = part.end;
        }
        let at = part.body;
        if matches!(&part.kind, Kind::Multipart(c) if c.is_empty()) {
            let child = self.parts.len();
            self.parts.push(Part {
                header: at,
                body: at,
                end: at,
                fields: MimeFields::default(),
                content_type: ContentType::text_plain(),
                kind: Kind::Leaf,
            });
            if let Kind::Multipart(children) = &mut self.parts[p].kind {
                children.push(child);
            }
        }
    }

    /// End of the message: finish a header being read, then end every open part.
    fn finish(&mut self, eof: Mark) {
        while let Some(p) = self.in_header {
            self.end_header(p, eof, true);
        }
        while let Some(p) = self.open.pop() {
            self.close(p, eof);
        }
    }
}
