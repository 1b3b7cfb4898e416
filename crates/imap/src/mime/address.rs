//! Address lists for ENVELOPE (RFC 5322 §3.4 with groups), parsed leniently the way Dovecot's
//! `message_address_parse` does: display names keep RFC 2047 encoded words as they are, quoted
//! strings lose their quotes, a comment names an address that has no display name, a source
//! route becomes the `adl`, a missing local part or domain is `MISSING_MAILBOX` /
//! `MISSING_DOMAIN`, a group is `(NIL NIL name NIL)` ... `(NIL NIL NIL NIL)`.

use super::lex::Cursor;
use crate::proto::Address;

/// Placeholder for an address without a local part (as Dovecot writes it).
const MISSING_MAILBOX: &[u8] = b"MISSING_MAILBOX";
/// Placeholder for an address without a domain.
const MISSING_DOMAIN: &[u8] = b"MISSING_DOMAIN";

/// The addresses of an (unfolded or folded) address field value.
pub(crate) fn parse_address_list(value: &[u8]) -> Vec<Address> {
    let mut c = Cursor::new(value);
    let mut out = Vec::new();
    loop {
        c.skip_cfws();
        if c.at_end() {
            return out;
        }
        if c.eat(b',') || c.eat(b';') {
            continue;
        }
        let start = c.pos;
        let name = c.phrase();
        c.skip_cfws();
        if c.peek() == Some(b':') {
            c.bump();
            group(&mut c, name, &mut out);
            continue;
        }
        c.pos = start;
        mailbox(&mut c, &mut out);
    }
}

/// The members of a group after `name:`, through `;` (or the end).
fn group(c: &mut Cursor<'_>, name: Vec<u8>, out: &mut Vec<Address>) {
    out.push(Address {
        name: None,
        adl: None,
        mailbox: Some(name),
        host: None,
    });
    loop {
        c.skip_cfws();
        if c.at_end() || c.eat(b';') {
            break;
        }
        if c.eat(b',') {
            continue;
        }
        mailbox(c, out);
    }
    out.push(Address::default());
}

fn non_empty(v: Vec<u8>) -> Option<Vec<u8>> {
    (!v.is_empty()).then_some(v)
}

/// One mailbox: `name <addr>`, `addr (comment)`, or junk up to the next `,`/`;`.
fn mailbox(c: &mut Cursor<'_>, out: &mut Vec<Address>) {
    let start = c.pos;
    c.last_comment = None;
    let phrase = c.phrase();
    c.skip_cfws();
    if c.eat(b'<') {
        let (adl, local, domain) = angle_addr(c);
        c.skip_cfws();
        let name = non_empty(phrase).or_else(|| c.last_comment.take().and_then(non_empty));
        out.push(address(name, adl, local, domain));
        return;
    }
    c.pos = start;
    c.last_comment = None;
    let local = local_part(c);
    c.skip_cfws();
    let domain = if c.eat(b'@') { Some(domain(c)) } else { None };
    c.skip_cfws();
    if c.at_end() || matches!(c.peek(), Some(b',' | b';')) {
        let name = c.last_comment.take().and_then(non_empty);
        out.push(address(name, None, local, domain.unwrap_or_default()));
        return;
    }
    // Not an address: its words are a name without an address.
    c.pos = start;
    let mut name = Vec::new();
    while !c.at_end() && !matches!(c.peek(), Some(b',' | b';')) {
        let w = c.phrase();
        if !w.is_empty() {
            if !name.is_empty() {
                name.push(b' ');
            }
            name.extend_from_slice(&w);
        } else {
            c.bump();
        }
    }
    out.push(address(non_empty(name), None, Vec::new(), Vec::new()));
}

fn address(
    name: Option<Vec<u8>>,
    adl: Option<Vec<u8>>,
    local: Vec<u8>,
    domain: Vec<u8>,
) -> Address {
    Address {
        name,
        adl,
        mailbox: Some(if local.is_empty() {
            MISSING_MAILBOX.to_vec()
        } else {
            local
        }),
        host: Some(if domain.is_empty() {
            MISSING_DOMAIN.to_vec()
        } else {
            domain
        }),
    }
}

/// After `<`: `[@route,@route:]local@domain>`.
fn angle_addr(c: &mut Cursor<'_>) -> (Option<Vec<u8>>, Vec<u8>, Vec<u8>) {
    c.skip_cfws();
    let mut adl = None;
    if c.peek() == Some(b'@') {
        let mut route = Vec::new();
        while let Some(b) = c.peek() {
            if b == b':' || b == b'>' {
                break;
            }
            c.bump();
            if !matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                route.push(b);
            }
        }
        if c.eat(b':') {
            adl = non_empty(route);
        }
    }
    let local = local_part(c);
    c.skip_cfws();
    let domain = if c.eat(b'@') { domain(c) } else { Vec::new() };
    // Skip anything else up to and including `>`.
    while let Some(b) = c.peek() {
        c.bump();
        if b == b'>' {
            break;
        }
    }
    (adl, local, domain)
}

/// A local part: words joined by dots, quoted strings unquoted.
fn local_part(c: &mut Cursor<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut want_word = true;
    loop {
        c.skip_cfws();
        if c.eat(b'.') {
            out.push(b'.');
            want_word = true;
            continue;
        }
        if !want_word {
            return out;
        }
        match c.word() {
            Some(w) => {
                out.extend_from_slice(&w);
                want_word = false;
            }
            None => return out,
        }
    }
}

/// A domain: a dot-atom or a `[domain literal]`.
fn domain(c: &mut Cursor<'_>) -> Vec<u8> {
    c.skip_cfws();
    let mut out = Vec::new();
    if c.peek() == Some(b'[') {
        while let Some(b) = c.peek() {
            c.bump();
            if !matches!(b, b'\r' | b'\n') {
                out.push(b);
            }
            if b == b']' {
                break;
            }
        }
        return out;
    }
    loop {
        if c.eat(b'.') {
            out.push(b'.');
            continue;
        }
        let a = c.atom();
        if a.is_empty() {
            return out;
        }
        out.extend_from_slice(a);
        // A comment or white space ends the domain unless a dot follows it.
        let save = c.pos;
        c.skip_cfws();
        if c.peek() != Some(b'.') {
            c.pos = save;
            return out;
        }
    }
}
