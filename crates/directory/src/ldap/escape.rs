//! Escaping of values put into LDAP search filters (RFC 4515) and distinguished names
//! (RFC 4514). Every value that comes from outside (an address, a login, a DN read from the
//! directory and used in a filter) goes through one of these before it reaches the server.

use std::fmt::Write;

/// Escape `s` for use as an assertion value inside an LDAP search filter (RFC 4515 §3).
///
/// `*`, `(`, `)`, `\` and NUL become `\2a`, `\28`, `\29`, `\5c`, `\00`; other control
/// characters (U+0001–U+001F, U+007F) are escaped the same way, so a value never changes the
/// structure of the filter and logs stay readable. Other UTF-8 is kept as is (RFC 4515 allows
/// it unescaped).
///
/// ```
/// use mailstack_directory::ldap::escape_filter_value;
/// assert_eq!(escape_filter_value("*)(uid=*"), r"\2a\29\28uid=\2a");
/// ```
pub fn escape_filter_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '*' | '(' | ')' | '\\' | '\0' => hex(&mut out, c as u8),
            c if c.is_ascii_control() => hex(&mut out, c as u8),
            c => out.push(c),
        }
    }
    out
}

/// Escape `s` for use as an attribute value in a distinguished name (RFC 4514 §2.4).
///
/// `"`, `+`, `,`, `;`, `<`, `>`, `\` and `=` get a backslash; a leading space or `#` and a
/// trailing space get a backslash; NUL and other ASCII control characters become `\hh`.
/// Other UTF-8 is kept as is.
///
/// ```
/// use mailstack_directory::ldap::escape_dn_value;
/// assert_eq!(escape_dn_value("Sue, Grabbit and Runn"), r"Sue\, Grabbit and Runn");
/// ```
pub fn escape_dn_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let last = s.chars().count().saturating_sub(1);
    for (i, c) in s.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '#' if i == 0 => out.push_str("\\#"),
            c if c.is_ascii_control() => hex(&mut out, c as u8),
            c => out.push(c),
        }
    }
    out
}

fn hex(out: &mut String, b: u8) {
    // Writing to a String cannot fail.
    let _ = write!(out, "\\{b:02x}");
}
