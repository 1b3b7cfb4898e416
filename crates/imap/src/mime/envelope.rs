//! ENVELOPE (RFC 3501 §7.4.2, RFC 9051 §7.5.2) from a header block, as Dovecot builds it:
//! strings are the unfolded field values with RFC 2047 encoded words left encoded (leading
//! white space removed); the last Date, Subject, In-Reply-To and Message-ID field counts, while
//! address fields that occur more than once add up; Sender and Reply-To default to From when
//! they are missing or hold no address.

use super::address::parse_address_list;
use super::header::{fields, unfold};
use crate::proto::Envelope;

/// The envelope of a message whose header block is `header`.
pub(crate) fn envelope(header: &[u8]) -> Envelope {
    let mut e = Envelope::default();
    for f in fields(header) {
        let name = f.name;
        let string = || Some(unfold(f.value));
        if name.eq_ignore_ascii_case(b"Date") {
            e.date = string();
        } else if name.eq_ignore_ascii_case(b"Subject") {
            e.subject = string();
        } else if name.eq_ignore_ascii_case(b"In-Reply-To") {
            e.in_reply_to = string();
        } else if name.eq_ignore_ascii_case(b"Message-ID") {
            e.message_id = string();
        } else {
            let list = if name.eq_ignore_ascii_case(b"From") {
                &mut e.from
            } else if name.eq_ignore_ascii_case(b"Sender") {
                &mut e.sender
            } else if name.eq_ignore_ascii_case(b"Reply-To") {
                &mut e.reply_to
            } else if name.eq_ignore_ascii_case(b"To") {
                &mut e.to
            } else if name.eq_ignore_ascii_case(b"Cc") {
                &mut e.cc
            } else if name.eq_ignore_ascii_case(b"Bcc") {
                &mut e.bcc
            } else {
                continue;
            };
            list.extend(parse_address_list(f.value));
        }
    }
    if e.sender.is_empty() {
        e.sender = e.from.clone();
    }
    if e.reply_to.is_empty() {
        e.reply_to = e.from.clone();
    }
    e
}
