//! The lexical layer: a cursor over one framed command with the RFC 9051 §9 primitives
//! (atom, astring, quoted, literal, number, sequence-set, date). Every read is checked: on
//! malformed input the cursor returns an error, it never indexes out of bounds.

use super::{ParseErrorKind, ParseLimits};
use crate::proto::command::{DateTime, Flag};
use crate::search::key::{Date, SeqBound, SequenceSet};

pub(super) type PResult<T> = Result<T, ParseErrorKind>;

/// `ATOM-CHAR`: any CHAR except atom-specials (RFC 9051 §9).
pub(crate) fn is_atom_char(b: u8) -> bool {
    matches!(b, 0x21..=0x7e)
        && !matches!(
            b,
            b'(' | b')' | b'{' | b' ' | b'%' | b'*' | b'"' | b'\\' | b']'
        )
}

/// `ASTRING-CHAR`: ATOM-CHAR or `]`.
pub(crate) fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// A tag character: ASTRING-CHAR except `+`.
pub(crate) fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// `list-char`: ATOM-CHAR, list-wildcards, resp-specials.
fn is_list_char(b: u8) -> bool {
    is_atom_char(b) || matches!(b, b'%' | b'*' | b']')
}

pub(super) fn syntax(what: &'static str) -> ParseErrorKind {
    ParseErrorKind::Syntax(what)
}

pub(super) fn utf8(bytes: Vec<u8>) -> PResult<String> {
    String::from_utf8(bytes).map_err(|_| ParseErrorKind::InvalidUtf8)
}

/// A cursor over a framed command.
pub(super) struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
    pub(super) limits: &'a ParseLimits,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(input: &'a [u8], limits: &'a ParseLimits) -> Self {
        Cursor {
            input,
            pos: 0,
            limits,
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    pub(super) fn rest(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or(&[])
    }

    pub(super) fn end(&self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(syntax("unexpected characters at end of command"))
        }
    }

    pub(super) fn expect(&mut self, b: u8, what: &'static str) -> PResult<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(syntax(what))
        }
    }

    pub(super) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn sp(&mut self) -> PResult<()> {
        self.expect(b' ', "expected a space")
    }

    /// Whether the next token is the case-insensitive keyword `kw` (followed by a delimiter);
    /// consumes it if so.
    pub(super) fn keyword(&mut self, kw: &str) -> bool {
        let end = self.pos + kw.len();
        match self.input.get(self.pos..end) {
            Some(s) if s.eq_ignore_ascii_case(kw.as_bytes()) => {
                let next = self.input.get(end).copied();
                if next.is_none_or(|b| !is_astring_char(b) || b == b']') {
                    self.pos = end;
                    true
                } else {
                    false
                }
            }
            _ => false,
        }
    }

    /// Bytes while `pred` holds (possibly none).
    pub(super) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    /// `atom`.
    pub(super) fn atom(&mut self) -> PResult<&'a [u8]> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            Err(syntax("expected an atom"))
        } else {
            Ok(a)
        }
    }

    /// An atom as an upper-cased string.
    pub(super) fn atom_upper(&mut self) -> PResult<String> {
        Ok(String::from_utf8_lossy(self.atom()?).to_ascii_uppercase())
    }

    /// `astring`.
    pub(super) fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    Err(syntax("expected a string"))
                } else {
                    Ok(a.to_vec())
                }
            }
        }
    }

    /// `astring` as UTF-8.
    pub(super) fn astring_utf8(&mut self) -> PResult<String> {
        utf8(self.astring()?)
    }

    /// `string`: quoted or literal.
    pub(super) fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => Ok(self.literal(false)?.0),
            _ => Err(syntax("expected a string")),
        }
    }

    /// `nstring`.
    pub(super) fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.keyword("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// `quoted`; 8-bit octets are accepted (UTF8=ACCEPT's utf8-quoted), CR, LF and NUL not.
    pub(super) fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"', "expected a quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(syntax("unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err(syntax("bad escape in quoted string")),
                    }
                }
                Some(0) => return Err(ParseErrorKind::Nul),
                Some(b'\r' | b'\n') => return Err(syntax("CR or LF in quoted string")),
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `literal` (or `literal8` when `binary_ok`): `[~]{n[+]}` CRLF and n octets.
    /// Returns the data and whether it was a literal8. NUL is refused in a plain literal.
    pub(super) fn literal(&mut self, binary_ok: bool) -> PResult<(Vec<u8>, bool)> {
        let binary = self.eat(b'~');
        if binary && !binary_ok {
            return Err(syntax("literal8 not allowed here"));
        }
        self.expect(b'{', "expected a literal")?;
        let n = self.number64()?;
        self.eat(b'+');
        self.expect(b'}', "bad literal announcement")?;
        self.expect(b'\r', "literal announcement must end the line")?;
        self.expect(b'\n', "literal announcement must end the line")?;
        let n = usize::try_from(n).map_err(|_| syntax("literal longer than the command"))?;
        let end = self
            .pos
            .checked_add(n)
            .ok_or(syntax("literal longer than the command"))?;
        let data = self
            .input
            .get(self.pos..end)
            .ok_or(syntax("literal longer than the command"))?;
        if !binary && data.contains(&0) {
            return Err(ParseErrorKind::Nul);
        }
        self.pos = end;
        Ok((data.to_vec(), binary))
    }

    /// `number64`: 1*DIGIT, at most 2^63-1.
    pub(super) fn number64(&mut self) -> PResult<u64> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(syntax("expected a number"));
        }
        digits
            .iter()
            .try_fold(0u64, |acc, &d| {
                acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or(syntax("number too large"))
    }

    /// `number`: 32 bits.
    pub(super) fn number(&mut self) -> PResult<u32> {
        u32::try_from(self.number64()?).map_err(|_| syntax("number too large"))
    }

    /// `nz-number`.
    pub(super) fn nz_number(&mut self) -> PResult<u32> {
        match self.number()? {
            0 => Err(syntax("zero is not allowed here")),
            n => Ok(n),
        }
    }

    /// `mod-sequence-value`: 1..2^63-1.
    pub(super) fn mod_seq(&mut self) -> PResult<u64> {
        match self.number64()? {
            0 => Err(syntax("zero is not allowed here")),
            n => Ok(n),
        }
    }

    /// `sequence-set` or `$`.
    pub(super) fn sequence_set(&mut self) -> PResult<SequenceSet> {
        if self.eat(b'$') {
            return Ok(SequenceSet::Saved);
        }
        let mut ranges = Vec::new();
        loop {
            if ranges.len() >= self.limits.max_sequence_ranges {
                return Err(ParseErrorKind::SequenceTooLong);
            }
            let from = self.seq_bound()?;
            let to = if self.eat(b':') {
                self.seq_bound()?
            } else {
                from
            };
            ranges.push((from, to));
            if !self.eat(b',') {
                return Ok(SequenceSet::Ranges(ranges));
            }
        }
    }

    fn seq_bound(&mut self) -> PResult<SeqBound> {
        if self.eat(b'*') {
            Ok(SeqBound::Largest)
        } else {
            Ok(SeqBound::Value(self.nz_number()?))
        }
    }

    /// `date`: `1-Feb-2026`, optionally quoted.
    pub(super) fn date(&mut self) -> PResult<Date> {
        let quoted = self.eat(b'"');
        let date = self.date_text(false)?;
        if quoted {
            self.expect(b'"', "unterminated date")?;
        }
        Ok(date)
    }

    fn date_text(&mut self, fixed: bool) -> PResult<Date> {
        let day = if fixed && self.eat(b' ') {
            let d = self.take_while(|b| b.is_ascii_digit());
            if d.len() != 1 {
                return Err(syntax("bad day"));
            }
            u32::from(d[0] - b'0')
        } else {
            let d = self.take_while(|b| b.is_ascii_digit());
            if d.is_empty() || d.len() > 2 {
                return Err(syntax("bad day"));
            }
            d.iter().fold(0, |acc, &c| acc * 10 + u32::from(c - b'0'))
        };
        self.expect(b'-', "bad date")?;
        let month = self.month()?;
        self.expect(b'-', "bad date")?;
        let y = self.take_while(|b| b.is_ascii_digit());
        if y.len() != 4 {
            return Err(syntax("bad year"));
        }
        let year = y
            .iter()
            .fold(0u16, |acc, &c| acc * 10 + u16::from(c - b'0'));
        if day == 0 || day > days_in_month(year, month) {
            return Err(syntax("bad day"));
        }
        Ok(Date {
            year,
            month,
            day: day as u8,
        })
    }

    fn month(&mut self) -> PResult<u8> {
        const MONTHS: [&[u8]; 12] = [
            b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN", b"JUL", b"AUG", b"SEP", b"OCT", b"NOV",
            b"DEC",
        ];
        let m = self
            .input
            .get(self.pos..self.pos + 3)
            .ok_or(syntax("bad month"))?;
        let i = MONTHS
            .iter()
            .position(|x| x.eq_ignore_ascii_case(m))
            .ok_or(syntax("bad month"))?;
        self.pos += 3;
        Ok(i as u8 + 1)
    }

    /// `date-time`: `"17-Jul-1996 02:44:25 -0700"`.
    pub(super) fn date_time(&mut self) -> PResult<DateTime> {
        self.expect(b'"', "expected a date-time")?;
        let date = self.date_text(true)?;
        self.sp()?;
        let hour = self.two_digits(23)?;
        self.expect(b':', "bad time")?;
        let minute = self.two_digits(59)?;
        self.expect(b':', "bad time")?;
        let second = self.two_digits(60)?;
        self.sp()?;
        let sign: i16 = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(syntax("bad zone")),
        };
        self.pos += 1;
        let zh = self.two_digits(99)?;
        let zm = self.two_digits(59)?;
        self.expect(b'"', "unterminated date-time")?;
        let zone_minutes = sign * (i16::from(zh) * 60 + i16::from(zm));
        Ok(DateTime {
            date,
            hour,
            minute,
            second,
            zone_minutes,
        })
    }

    fn two_digits(&mut self, max: u8) -> PResult<u8> {
        match self.input.get(self.pos..self.pos + 2) {
            Some([a, b]) if a.is_ascii_digit() && b.is_ascii_digit() => {
                let v = (a - b'0') * 10 + (b - b'0');
                if v > max {
                    return Err(syntax("bad time"));
                }
                self.pos += 2;
                Ok(v)
            }
            _ => Err(syntax("bad time")),
        }
    }

    /// `list-mailbox`: 1*list-char or a string.
    pub(super) fn list_mailbox(&mut self) -> PResult<String> {
        match self.peek() {
            Some(b'"' | b'{') => utf8(self.string()?),
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    return Err(syntax("expected a mailbox pattern"));
                }
                utf8(a.to_vec())
            }
        }
    }

    /// `flag`: `\System`, `\Extension` or a keyword atom.
    pub(super) fn flag(&mut self) -> PResult<Flag> {
        let start = self.pos;
        self.eat(b'\\');
        self.atom()?;
        let text = String::from_utf8_lossy(&self.input[start..self.pos]).into_owned();
        Ok(Flag::from_text(&text))
    }

    /// `flag-list`: `(` [flag *(SP flag)] `)`.
    pub(super) fn flag_list(&mut self) -> PResult<Vec<Flag>> {
        self.expect(b'(', "expected a flag list")?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            flags.push(self.flag()?);
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    /// A parenthesised, space-separated, non-empty list of `item`.
    pub(super) fn paren_list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        self.expect(b'(', "expected '('")?;
        let mut out = Vec::new();
        loop {
            out.push(item(self)?);
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    /// Like [`Self::paren_list`] but `()` is allowed.
    pub(super) fn paren_list0<T>(
        &mut self,
        item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        if self.input.get(self.pos..self.pos + 2) == Some(b"()") {
            self.pos += 2;
            return Ok(Vec::new());
        }
        self.paren_list(item)
    }
}

fn days_in_month(year: u16, month: u8) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        _ => 28,
    }
}
