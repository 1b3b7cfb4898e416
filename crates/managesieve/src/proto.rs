//! The ManageSieve wire format (RFC 5804 §4), sans I/O: [`Framer`] cuts the client's bytes
//! into commands (atoms, quoted strings, literals `{n+}` and `{n}`), within [`Limits`]; the
//! `write_*` helpers serialise responses.
//!
//! Both literal forms are taken without a continuation from the server: RFC 5804 clients send
//! `{n+}`, and ManageSieve has no continuation response; a client sending `{n}` (Dovecot takes
//! it too) sends the data right behind it. A literal larger than [`Limits::max_literal`] is read
//! and thrown away (up to [`Limits::max_discard`]; beyond, the connection is closed), and the
//! command is answered `NO (QUOTA/MAXSIZE)`.

/// Sizes the framer enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest command without its literals, in bytes.
    pub max_line: usize,
    /// Largest literal kept (the largest script plus some room).
    pub max_literal: u64,
    /// Largest literal read and discarded after refusing it; larger ones end the connection.
    pub max_discard: u64,
    /// Most arguments in one command.
    pub max_args: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 8192,
            max_literal: 1 << 20,
            max_discard: 64 << 20,
            max_args: 8,
        }
    }
}

/// One argument of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A bare word (command names, numbers).
    Atom(String),
    /// A quoted string or a literal, unescaped.
    Str(Vec<u8>),
}

impl Token {
    /// The string's bytes (an atom's too).
    pub fn bytes(&self) -> &[u8] {
        match self {
            Token::Atom(a) => a.as_bytes(),
            Token::Str(s) => s,
        }
    }
}

/// A command: its upper-cased name and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// `PUTSCRIPT`, `AUTHENTICATE`, ... (upper case).
    pub name: String,
    /// The arguments.
    pub args: Vec<Token>,
}

impl Command {
    /// A command from a framed line: the first token is its name.
    pub fn from_tokens(mut tokens: Vec<Token>) -> Result<Command, FrameError> {
        if tokens.is_empty() {
            return Err(FrameError::Syntax("Expected a command name"));
        }
        match tokens.remove(0) {
            Token::Atom(a) => Ok(Command {
                name: a.to_ascii_uppercase(),
                args: tokens,
            }),
            Token::Str(_) => Err(FrameError::Syntax("Expected a command name")),
        }
    }
}

/// Why a command could not be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not ManageSieve syntax (the line is skipped).
    #[error("{0}")]
    Syntax(&'static str),
    /// The command line is too long: the connection is closed.
    #[error("Command line too long")]
    LineTooLong,
    /// A literal over [`Limits::max_literal`] was discarded; `fatal` when it was over
    /// [`Limits::max_discard`] and the connection must close.
    #[error("Literal of {size} bytes is too large")]
    LiteralTooLarge {
        /// Its announced size.
        size: u64,
        /// Whether the connection must close.
        fatal: bool,
    },
}

impl FrameError {
    /// Whether the connection must be closed.
    pub fn is_fatal(&self) -> bool {
        match self {
            FrameError::LineTooLong => true,
            FrameError::LiteralTooLarge { fatal, .. } => *fatal,
            FrameError::Syntax(_) => false,
        }
    }
}

/// What the framer is doing with bytes that are not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Skip {
    None,
    /// Discard this many literal bytes (of a literal of the second size), then the rest of
    /// the line.
    Literal(u64, u64),
    /// Discard through the end of the line, then report this.
    Line(FrameError),
}

/// Cuts a byte stream into [`Command`]s.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    limits: Limits,
    skip: Skip,
}

enum Parse {
    Done(Vec<Token>, usize),
    Incomplete,
    Err(FrameError, usize),
    /// A literal too large: `(size, offset of its data)`.
    TooLarge(u64, usize),
}

impl Framer {
    /// A framer within `limits`.
    pub fn new(limits: Limits) -> Framer {
        Framer {
            buf: Vec::new(),
            limits,
            skip: Skip::None,
        }
    }

    /// Add bytes read from the client.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Forget everything buffered (after STARTTLS: pipelined clear-text input is dropped).
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.skip = Skip::None;
    }

    /// Whether bytes are buffered.
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next complete line as tokens (a command, or a SASL response: see
    /// [`Command::from_tokens`]), or an error, or `None` when more bytes are needed.
    pub fn next_line(&mut self) -> Option<Result<Vec<Token>, FrameError>> {
        loop {
            match std::mem::replace(&mut self.skip, Skip::None) {
                Skip::None => {}
                Skip::Literal(left, size) => {
                    let n = (left as usize).min(self.buf.len());
                    self.buf.drain(..n);
                    let left = left - n as u64;
                    if left > 0 {
                        self.skip = Skip::Literal(left, size);
                        return None;
                    }
                    self.skip = Skip::Line(FrameError::LiteralTooLarge { size, fatal: false });
                    continue;
                }
                Skip::Line(report) => {
                    // The rest of the line may hold more literals; treat it simply.
                    match self.buf.iter().position(|&b| b == b'\n') {
                        Some(i) => {
                            self.buf.drain(..=i);
                            return Some(Err(report));
                        }
                        None => {
                            if self.buf.len() > self.limits.max_line {
                                self.buf.clear();
                                return Some(Err(FrameError::LineTooLong));
                            }
                            self.skip = Skip::Line(report);
                            return None;
                        }
                    }
                }
            }
            return match parse(&self.buf, &self.limits) {
                Parse::Incomplete => None,
                Parse::Done(cmd, used) => {
                    self.buf.drain(..used);
                    Some(Ok(cmd))
                }
                Parse::Err(e, used) => {
                    if e.is_fatal() {
                        self.buf.clear();
                        return Some(Err(e));
                    }
                    self.buf.drain(..used);
                    self.skip = Skip::Line(e);
                    continue;
                }
                Parse::TooLarge(size, data_at) => {
                    if size > self.limits.max_discard {
                        self.buf.clear();
                        return Some(Err(FrameError::LiteralTooLarge { size, fatal: true }));
                    }
                    self.buf.drain(..data_at);
                    self.skip = Skip::Literal(size, size);
                    continue;
                }
            };
        }
    }
}

fn is_atom_char(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'"' | b'{' | b'}' | b'(' | b')' | b'\\' | b'%' | b'*')
}

/// Parse one command from the front of `buf`.
fn parse(buf: &[u8], limits: &Limits) -> Parse {
    let mut i = 0;
    let mut line_bytes = 0usize;
    let mut tokens: Vec<Token> = Vec::new();
    // A syntax error skips the rest of the line.
    let syntax = |msg: &'static str, at: usize| Parse::Err(FrameError::Syntax(msg), at);
    loop {
        if line_bytes > limits.max_line {
            return Parse::Err(FrameError::LineTooLong, i);
        }
        let Some(&b) = buf.get(i) else {
            return Parse::Incomplete;
        };
        match b {
            b' ' => {
                i += 1;
                line_bytes += 1;
            }
            b'\r' | b'\n' => {
                let end = if b == b'\r' {
                    match buf.get(i + 1) {
                        None => return Parse::Incomplete,
                        Some(b'\n') => i + 2,
                        Some(_) => return syntax("Bare CR in command", i + 1),
                    }
                } else {
                    i + 1
                };
                if tokens.is_empty() {
                    // Empty line: ignore it and go on.
                    return match parse(&buf[end..], limits) {
                        Parse::Done(c, used) => Parse::Done(c, end + used),
                        Parse::Err(e, used) => Parse::Err(e, end + used),
                        Parse::TooLarge(s, at) => Parse::TooLarge(s, end + at),
                        Parse::Incomplete => Parse::Incomplete,
                    };
                }
                return Parse::Done(tokens, end);
            }
            b'"' => {
                let mut s = Vec::new();
                let mut j = i + 1;
                loop {
                    match buf.get(j) {
                        None => {
                            return if line_bytes + (j - i) > limits.max_line {
                                Parse::Err(FrameError::LineTooLong, j)
                            } else {
                                Parse::Incomplete
                            };
                        }
                        Some(b'"') => break,
                        Some(b'\\') => match buf.get(j + 1) {
                            None => return Parse::Incomplete,
                            Some(&c @ (b'"' | b'\\')) => {
                                s.push(c);
                                j += 2;
                            }
                            Some(_) => return syntax("Invalid escape in quoted string", j),
                        },
                        Some(b'\r' | b'\n') => return syntax("Line break in quoted string", j),
                        Some(&c) => {
                            s.push(c);
                            j += 1;
                        }
                    }
                }
                line_bytes += j + 1 - i;
                i = j + 1;
                tokens.push(Token::Str(s));
            }
            b'{' => {
                let Some(close) = buf[i..].iter().position(|&c| c == b'}') else {
                    if buf.len() - i > 32 {
                        return syntax("Invalid literal", i);
                    }
                    return Parse::Incomplete;
                };
                let inner = &buf[i + 1..i + close];
                let digits = inner.strip_suffix(b"+").unwrap_or(inner);
                let size: u64 = match std::str::from_utf8(digits)
                    .ok()
                    .filter(|d| {
                        !d.is_empty() && d.len() <= 12 && d.bytes().all(|c| c.is_ascii_digit())
                    })
                    .and_then(|d| d.parse().ok())
                {
                    Some(n) => n,
                    None => return syntax("Invalid literal", i + close),
                };
                let after = i + close + 1;
                let data_at = match (buf.get(after), buf.get(after + 1)) {
                    (Some(b'\r'), Some(b'\n')) => after + 2,
                    (Some(b'\n'), _) => after + 1,
                    (None, _) | (Some(b'\r'), None) => return Parse::Incomplete,
                    _ => return syntax("Literal must end its line", after),
                };
                if size > limits.max_literal {
                    return Parse::TooLarge(size, data_at);
                }
                let end = data_at + size as usize;
                if buf.len() < end {
                    return Parse::Incomplete;
                }
                tokens.push(Token::Str(buf[data_at..end].to_vec()));
                line_bytes += data_at - i;
                i = end;
            }
            _ if is_atom_char(b) => {
                let j = buf[i..]
                    .iter()
                    .position(|&c| !is_atom_char(c))
                    .map_or(buf.len(), |p| i + p);
                if j == buf.len() {
                    return if line_bytes + (j - i) > limits.max_line {
                        Parse::Err(FrameError::LineTooLong, j)
                    } else {
                        Parse::Incomplete
                    };
                }
                tokens.push(Token::Atom(
                    String::from_utf8_lossy(&buf[i..j]).into_owned(),
                ));
                line_bytes += j - i;
                i = j;
            }
            _ => return syntax("Invalid character in command", i),
        }
        if tokens.len() > limits.max_args + 1 {
            return syntax("Too many arguments", i);
        }
    }
}

/// A string as a quoted string, or as a literal `{n}` when it holds line breaks, NULs,
/// non-UTF-8 or is long (RFC 5804 §4: quoted strings are at most 1024 octets).
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    let quotable = s.len() <= 1024
        && std::str::from_utf8(s).is_ok()
        && !s.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0);
    if quotable {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    }
}

/// How a command ended (RFC 5804 §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `OK`
    Ok,
    /// `NO`
    No,
    /// `BYE` (the connection closes).
    Bye,
}

/// A response code (RFC 5804 §1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// `AUTH-TOO-WEAK`
    AuthTooWeak,
    /// `ENCRYPT-NEEDED`: no password in clear text.
    EncryptNeeded,
    /// `QUOTA/MAXSCRIPTS`
    QuotaMaxScripts,
    /// `QUOTA/MAXSIZE`
    QuotaMaxSize,
    /// `TRYLATER`: a temporary failure (directory, disk).
    TryLater,
    /// `ACTIVE`: the script is active.
    Active,
    /// `NONEXISTENT`: no such script.
    Nonexistent,
    /// `ALREADYEXISTS`
    AlreadyExists,
    /// `TAG "..."` (NOOP).
    Tag(Vec<u8>),
    /// `WARNINGS`: the script was stored, with warnings in the text.
    Warnings,
}

impl Code {
    fn write(&self, out: &mut Vec<u8>) {
        let word: &str = match self {
            Code::AuthTooWeak => "AUTH-TOO-WEAK",
            Code::EncryptNeeded => "ENCRYPT-NEEDED",
            Code::QuotaMaxScripts => "QUOTA/MAXSCRIPTS",
            Code::QuotaMaxSize => "QUOTA/MAXSIZE",
            Code::TryLater => "TRYLATER",
            Code::Active => "ACTIVE",
            Code::Nonexistent => "NONEXISTENT",
            Code::AlreadyExists => "ALREADYEXISTS",
            Code::Warnings => "WARNINGS",
            Code::Tag(t) => {
                out.extend_from_slice(b"TAG ");
                write_string(out, t);
                return;
            }
        };
        out.extend_from_slice(word.as_bytes());
    }
}

/// `OK|NO|BYE [(CODE)] ["text"]` CRLF.
pub fn write_status(out: &mut Vec<u8>, status: Status, code: Option<&Code>, text: &str) {
    out.extend_from_slice(match status {
        Status::Ok => b"OK",
        Status::No => b"NO",
        Status::Bye => b"BYE",
    });
    if let Some(code) = code {
        out.extend_from_slice(b" (");
        code.write(out);
        out.push(b')');
    }
    if !text.is_empty() {
        out.push(b' ');
        write_string(out, text.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests;
