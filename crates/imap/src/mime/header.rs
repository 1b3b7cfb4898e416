//! Header blocks: where a header ends, its fields (with folded continuation lines), unfolded
//! values, and the `HEADER.FIELDS` / `HEADER.FIELDS.NOT` selections.

/// The length of the header block at the start of `buf`, through the empty line that ends it;
/// `None` when there is no empty line (then the whole of `buf` is header). A message that starts
/// with an empty line has an empty header of length 2 (CRLF) or 1 (LF).
pub(crate) fn header_len(buf: &[u8]) -> Option<usize> {
    let mut pos = 0;
    while pos < buf.len() {
        let end = line_end(buf, pos);
        if is_blank_line(&buf[pos..end]) {
            return Some(end);
        }
        pos = end;
    }
    None
}

/// The offset just past the line starting at `pos` (after its LF, or the end of `buf`).
pub(crate) fn line_end(buf: &[u8], pos: usize) -> usize {
    match buf[pos..].iter().position(|&b| b == b'\n') {
        Some(i) => pos + i + 1,
        None => buf.len(),
    }
}

/// A line (with its line end) that is empty: CRLF or a bare LF.
pub(crate) fn is_blank_line(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// A line without its CRLF or LF.
pub(crate) fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    /// The name, without the colon and the white space before it. A line without a colon
    /// is a field whose name is the whole line and whose value is empty.
    pub(crate) name: &'a [u8],
    /// The value after the colon, continuation lines included, without the final line end.
    pub(crate) value: &'a [u8],
    /// The whole field as it is in the message, final line end included.
    pub(crate) raw: &'a [u8],
}

impl Field<'_> {
    /// Whether the field's name is `name` (ASCII case-insensitive).
    pub(crate) fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// The fields of a header block (the block may include the empty line that ends it; nothing
/// after an empty line is read).
pub(crate) fn fields(header: &[u8]) -> Fields<'_> {
    Fields {
        buf: header,
        pos: 0,
    }
}

/// Iterator over the fields of a header block; see [`fields`].
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let buf = self.buf;
        loop {
            if self.pos >= buf.len() {
                return None;
            }
            let start = self.pos;
            let first_end = line_end(buf, start);
            let first = &buf[start..first_end];
            if is_blank_line(first) {
                self.pos = buf.len();
                return None;
            }
            // Continuation lines belong to this field.
            let mut end = first_end;
            while end < buf.len() && matches!(buf[end], b' ' | b'\t') {
                end = line_end(buf, end);
            }
            self.pos = end;
            if matches!(first[0], b' ' | b'\t') {
                // A continuation line without a field before it: skip it.
                continue;
            }
            let raw = &buf[start..end];
            let body = strip_eol(raw);
            let first_line = strip_eol(first);
            return Some(match first_line.iter().position(|&b| b == b':') {
                Some(colon) => Field {
                    name: trim_end(&first_line[..colon]),
                    value: &body[colon + 1..],
                    raw,
                },
                None => Field {
                    name: first_line,
                    value: &[],
                    raw,
                },
            });
        }
    }
}

fn trim_end(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .rposition(|&b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    &s[..end]
}

/// A field value as ENVELOPE and BODYSTRUCTURE give it (like Dovecot): line ends of folded
/// lines removed (the white space after them kept), leading white space removed, trailing
/// white space kept.
pub(crate) fn unfold(value: &[u8]) -> Vec<u8> {
    let start = value
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(value.len());
    value[start..]
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect()
}

/// `HEADER.FIELDS (names)` (or `.NOT` when `exclude`): the matching fields in message order,
/// each as it is in the message, then an empty line (for `.NOT` only when the header block has
/// one, as Dovecot does). Names compare case-insensitively.
pub(crate) fn select_fields(header: &[u8], names: &[String], exclude: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields(header) {
        let listed = names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(field.name));
        if listed != exclude {
            out.extend_from_slice(field.raw);
            if !field.raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    if !exclude || header_len(header).is_some() {
        out.extend_from_slice(b"\r\n");
    }
    out
}
