//! The Sieve lexer (RFC 5228 §2.2–§2.4, §8.1): turns script text into tokens with their line
//! and column. Comments (`#…` and `/* … */`) and white space are dropped here; quoted strings
//! have their escapes removed, multi-line `text:` strings are dot-unstuffed, and numbers carry
//! their K/M/G quantifier already applied.

use crate::error::CompileError;

/// A position in the script: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub(crate) line: u32,
    pub(crate) column: u32,
}

impl Pos {
    pub(crate) fn err(self, message: impl Into<String>) -> CompileError {
        CompileError {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

/// One token of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// An identifier (command or test name), as written.
    Ident(String),
    /// A tagged argument, without the colon, lowercased.
    Tag(String),
    /// A number with its quantifier applied.
    Number(u64),
    /// A quoted or multi-line string, unescaped.
    Str(String),
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `,`
    Comma,
    /// `;`
    Semi,
}

/// Splits `src` into tokens. Fails at the first lexical error.
pub(crate) fn tokenize(src: &str) -> Result<Vec<(Tok, Pos)>, CompileError> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    while let Some(t) = lx.next_token()? {
        out.push(t);
    }
    Ok(out)
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
}

impl Lexer {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.col,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.i + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.i).copied()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn next_token(&mut self) -> Result<Option<(Tok, Pos)>, CompileError> {
        loop {
            let Some(c) = self.peek() else {
                return Ok(None);
            };
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    self.bump();
                }
                '#' => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                '/' if self.peek_at(1) == Some('*') => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err(start.err("unterminated bracketed comment")),
                            Some('*') if self.peek() == Some('/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                _ => break,
            }
        }
        let pos = self.pos();
        let c = self.peek().unwrap_or(' ');
        let single = match c {
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            ',' => Some(Tok::Comma),
            ';' => Some(Tok::Semi),
            _ => None,
        };
        if let Some(t) = single {
            self.bump();
            return Ok(Some((t, pos)));
        }
        if c == '"' {
            return self.quoted(pos).map(|s| Some((Tok::Str(s), pos)));
        }
        if c == ':' {
            self.bump();
            let id = self.ident_chars();
            if id.is_empty() {
                return Err(pos.err("expected a tag name after ':'"));
            }
            return Ok(Some((Tok::Tag(id.to_ascii_lowercase()), pos)));
        }
        if c.is_ascii_digit() {
            return self.number(pos).map(|n| Some((Tok::Number(n), pos)));
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let id = self.ident_chars();
            if id.eq_ignore_ascii_case("text") && self.peek() == Some(':') {
                self.bump();
                return self.multiline(pos).map(|s| Some((Tok::Str(s), pos)));
            }
            return Ok(Some((Tok::Ident(id), pos)));
        }
        Err(pos.err(format!("unexpected character {c:?}")))
    }

    fn ident_chars(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                s.push(c);
                self.bump();
            } else {
                break;
            }
        }
        s
    }

    fn number(&mut self, pos: Pos) -> Result<u64, CompileError> {
        let mut n: u64 = 0;
        while let Some(c) = self.peek() {
            let Some(d) = c.to_digit(10) else { break };
            self.bump();
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d)))
                .ok_or_else(|| pos.err("number too large"))?;
        }
        let mult: u64 = match self.peek() {
            Some('k' | 'K') => 1 << 10,
            Some('m' | 'M') => 1 << 20,
            Some('g' | 'G') => 1 << 30,
            _ => 1,
        };
        if mult != 1 {
            self.bump();
        }
        if let Some(c) = self.peek()
            && (c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(self.pos().err(format!("unexpected {c:?} after number")));
        }
        n.checked_mul(mult)
            .ok_or_else(|| pos.err("number too large"))
    }

    /// A quoted string (RFC 5228 §2.4.2): `\\` and `\"` are escapes; any other backslash is
    /// dropped ("\a" is "a").
    fn quoted(&mut self, pos: Pos) -> Result<String, CompileError> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(pos.err("unterminated quoted string")),
                Some('"') => return Ok(s),
                Some('\\') => match self.bump() {
                    None => return Err(pos.err("unterminated quoted string")),
                    Some(c) => s.push(c),
                },
                Some('\r') if self.peek() == Some('\n') => {}
                Some('\n') => s.push_str("\r\n"),
                Some(c) => s.push(c),
            }
        }
    }

    /// A multi-line string (RFC 5228 §2.4.2): `text:` then optional blanks and an optional
    /// `#` comment up to the line end, then lines up to one consisting of a single `.`;
    /// a line starting with `..` loses one dot. Line ends are normalised to CRLF.
    fn multiline(&mut self, pos: Pos) -> Result<String, CompileError> {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' => {
                    self.bump();
                }
                '#' => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                '\r' if self.peek_at(1) == Some('\n') => {
                    self.bump();
                }
                '\n' => {
                    self.bump();
                    break;
                }
                _ => return Err(self.pos().err("expected end of line after \"text:\"")),
            }
        }
        let mut out = String::new();
        loop {
            if self.peek().is_none() {
                return Err(pos.err("unterminated multi-line string (missing \".\" line)"));
            }
            let mut line = String::new();
            let mut ended = false;
            while let Some(c) = self.bump() {
                if c == '\n' {
                    ended = true;
                    break;
                }
                line.push(c);
            }
            if line.ends_with('\r') {
                line.pop();
            }
            if line == "." {
                return Ok(out);
            }
            if !ended {
                return Err(pos.err("unterminated multi-line string (missing \".\" line)"));
            }
            let line = line
                .strip_prefix('.')
                .filter(|l| l.starts_with('.'))
                .unwrap_or(&line);
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
}

#[cfg(test)]
#[path = "lexer_tests.rs"]
mod tests;
