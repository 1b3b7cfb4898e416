//! A lenient RFC 5322 / RFC 2045 tokenizer over a header value: white space and comments,
//! quoted strings, atoms and MIME tokens. It never fails: what does not fit is left for the
//! caller to skip.

/// A position in a header value.
pub(crate) struct Cursor<'a> {
    s: &'a [u8],
    pub(crate) pos: usize,
    /// The text of the last comment skipped (quoted pairs resolved).
    pub(crate) last_comment: Option<Vec<u8>>,
}

/// RFC 5322 specials (plus SP): what ends an atom.
fn is_special(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b':' | b';' | b'@' | b'\\' | b',' | b'.' | b'"'
    )
}

/// RFC 2045 tspecials: what ends a MIME token.
fn is_tspecial(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')'
            | b'<'
            | b'>'
            | b'@'
            | b','
            | b';'
            | b':'
            | b'\\'
            | b'"'
            | b'/'
            | b'['
            | b']'
            | b'?'
            | b'='
    )
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// An atom character; 8-bit octets count (UTF-8 in headers, as Dovecot accepts them).
fn is_atext(b: u8) -> bool {
    b > b' ' && b != 0x7f && !is_special(b)
}

/// A MIME token character (8-bit octets accepted).
fn is_token_char(b: u8) -> bool {
    b > b' ' && b != 0x7f && !is_tspecial(b)
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Cursor<'a> {
        Cursor {
            s,
            pos: 0,
            last_comment: None,
        }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Consume `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skip one octet (to make progress over junk).
    pub(crate) fn bump(&mut self) {
        self.pos = (self.pos + 1).min(self.s.len());
    }

    /// Skip white space and comments (nested, with quoted pairs); remember the last comment.
    pub(crate) fn skip_cfws(&mut self) {
        loop {
            while self.peek().is_some_and(is_ws) {
                self.pos += 1;
            }
            if self.peek() != Some(b'(') {
                return;
            }
            self.pos += 1;
            let mut depth = 1usize;
            let mut text = Vec::new();
            while let Some(b) = self.peek() {
                self.pos += 1;
                match b {
                    b'\\' => {
                        if let Some(n) = self.peek() {
                            self.pos += 1;
                            text.push(n);
                        }
                    }
                    b'(' => {
                        depth += 1;
                        text.push(b);
                    }
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                        text.push(b);
                    }
                    b'\r' | b'\n' => {}
                    _ => text.push(b),
                }
            }
            self.last_comment = Some(text);
        }
    }

    /// A quoted string's content (quoted pairs resolved, folding line ends dropped), when one
    /// starts here. An unterminated one runs to the end.
    pub(crate) fn quoted(&mut self) -> Option<Vec<u8>> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.pos += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => return Some(out),
                b'\\' => {
                    if let Some(n) = self.peek() {
                        self.pos += 1;
                        out.push(n);
                    }
                }
                b'\r' | b'\n' => {}
                _ => out.push(b),
            }
        }
        Some(out)
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// An atom (may be empty).
    pub(crate) fn atom(&mut self) -> &'a [u8] {
        self.take_while(is_atext)
    }

    /// A MIME token (may be empty).
    pub(crate) fn token(&mut self) -> &'a [u8] {
        self.take_while(is_token_char)
    }

    /// A word: an atom or a quoted string, after CFWS.
    pub(crate) fn word(&mut self) -> Option<Vec<u8>> {
        self.skip_cfws();
        if let Some(q) = self.quoted() {
            return Some(q);
        }
        let a = self.atom();
        (!a.is_empty()).then(|| a.to_vec())
    }

    /// A phrase (display name): words and dots, words joined by one space, dots kept where
    /// they are (`Bob Q. Public`).
    pub(crate) fn phrase(&mut self) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        loop {
            self.skip_cfws();
            if self.peek() == Some(b'.') {
                self.pos += 1;
                out.push(b'.');
                continue;
            }
            let Some(w) = self.word() else {
                return out;
            };
            if !out.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(&w);
        }
    }

    /// A value of a MIME parameter: a quoted string or a token (or, leniently, anything up to
    /// the next `;` or white space).
    pub(crate) fn param_value(&mut self) -> Vec<u8> {
        if let Some(q) = self.quoted() {
            return q;
        }
        let t = self.token();
        if !t.is_empty() {
            return t.to_vec();
        }
        self.take_while(|b| b != b';' && !is_ws(b)).to_vec()
    }
}
