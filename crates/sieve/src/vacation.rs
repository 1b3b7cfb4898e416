//! The `vacation` extension (RFC 5230, with RFC 6131 `:seconds`): deciding whether a reply may
//! be sent (RFC 3834 and RFC 5230 §4.5 rules, applied here, inside the interpreter) and
//! building the reply message (RFC 5230 §5).

use std::time::Duration;

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;

use crate::date::DateTime;
use crate::interp::Envelope;
use crate::message::{self, Message};
use crate::{Limits, validate};

/// Everything the host needs to send one vacation reply and to enforce "one reply per sender
/// per period": it must remember `(handle, to)` for `period` and skip the reply when that
/// pair was answered within the period (RFC 5230 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacationAction {
    /// Whom to answer: the envelope sender of the original message.
    pub to: String,
    /// How long to suppress further replies to `to` for this `handle`.
    pub period: Duration,
    /// The reply's identity for the period tracking: `:handle`, or (RFC 5230 §4.2) derived
    /// from the `:subject`, `:from`, `:mime` and reason arguments.
    pub handle: String,
    /// Subject of the reply: `:subject`, else `"Auto: "` + the original subject.
    pub subject: String,
    /// `:from` (an address, possibly with a display name); `None` = the recipient's own
    /// address.
    pub from: Option<String>,
    /// The reason: plain text, or with `:mime` a MIME entity (its own headers and body).
    pub reason: String,
    /// `:mime` was given.
    pub mime: bool,
    /// The original `Message-ID` (with angle brackets), for In-Reply-To and References.
    pub in_reply_to: Option<String>,
    /// The original `References` value, to extend.
    pub references: Option<String>,
}

/// Expanded arguments of one `vacation` command.
pub(crate) struct Args {
    pub(crate) period_secs: Option<u64>,
    pub(crate) subject: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) addresses: Vec<String>,
    pub(crate) mime: bool,
    pub(crate) handle: Option<String>,
    pub(crate) reason: String,
}

/// Local parts of senders that never get automatic replies (as Pigeonhole).
fn is_system_sender(addr: &str) -> bool {
    let local = addr
        .rsplit_once('@')
        .map(|(l, _)| l)
        .unwrap_or(addr)
        .to_ascii_lowercase();
    matches!(local.as_str(), "mailer-daemon" | "listserv" | "majordomo")
        || local.starts_with("owner-")
        || local.ends_with("-request")
}

fn fnv64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Applies RFC 3834 / RFC 5230 §4.5 and returns the reply to send, or why none is sent.
pub(crate) fn decide(
    a: Args,
    msg: &Message<'_>,
    env: &Envelope,
    user_addresses: &[String],
    limits: &Limits,
) -> Result<VacationAction, String> {
    let sender = env.from.trim();
    if sender.is_empty() {
        return Err("the envelope sender is <>".into());
    }
    if is_system_sender(sender) {
        return Err(format!("{sender} is a system or list address"));
    }
    if let Some(v) = msg.header_texts("auto-submitted").first()
        && !v.trim().to_ascii_lowercase().starts_with("no")
    {
        return Err(format!("the message is Auto-Submitted: {v}"));
    }
    if let Some(v) = msg.header_texts("precedence").first() {
        let v = v.trim().to_ascii_lowercase();
        if matches!(v.as_str(), "bulk" | "list" | "junk") {
            return Err(format!("the message has Precedence: {v}"));
        }
    }
    for h in msg.headers() {
        let n = h.name.to_ascii_lowercase();
        if n.starts_with("list-") {
            return Err(format!(
                "the message has a {} header (mailing list)",
                h.name
            ));
        }
    }
    let mut mine: Vec<String> = user_addresses
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    mine.extend(
        a.addresses
            .iter()
            .map(|s| validate::mailbox_of(s).to_ascii_lowercase()),
    );
    if !env.to.is_empty() {
        mine.push(env.to.to_ascii_lowercase());
    }
    if mine.iter().any(|m| m.eq_ignore_ascii_case(sender)) {
        return Err("the sender is one of the user's own addresses".into());
    }
    let mut addressed = false;
    for h in ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"] {
        for raw in msg.raw_values(h) {
            for addr in message::parse_addresses(raw) {
                if mine.contains(&addr.to_ascii_lowercase()) {
                    addressed = true;
                }
            }
        }
    }
    if !addressed {
        return Err("none of the user's addresses is in To/Cc/Bcc".into());
    }

    let mut period = a.period_secs.unwrap_or(limits.vacation_default_period_secs);
    period = period.max(limits.vacation_min_period_secs);
    if limits.vacation_max_period_secs > 0 {
        period = period.min(limits.vacation_max_period_secs);
    }
    let handle = match a.handle {
        Some(h) => h,
        None => format!(
            "auto-{:016x}",
            fnv64(&format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{}",
                a.subject.as_deref().unwrap_or(""),
                a.from.as_deref().unwrap_or(""),
                a.mime,
                a.reason
            ))
        ),
    };
    // a :from built from variables may not be an address: fall back to the user's address
    let from = a
        .from
        .filter(|f| validate::valid_address(&validate::mailbox_of(f)));
    let subject = match a.subject {
        Some(s) => s,
        None => match msg.subject() {
            Some(s) if !s.trim().is_empty() => format!("Auto: {}", s.trim()),
            _ => "Automated reply".to_string(),
        },
    };
    Ok(VacationAction {
        to: sender.to_string(),
        period: Duration::from_secs(period),
        handle,
        subject,
        from,
        reason: a.reason,
        mime: a.mime,
        in_reply_to: msg.message_id(),
        references: msg
            .header_texts("references")
            .into_iter()
            .next()
            .filter(|s| !s.is_empty()),
    })
}

fn strip_id(s: &str) -> &str {
    s.trim().trim_start_matches('<').trim_end_matches('>')
}

/// Builds the reply of RFC 5230 §5 for `v`, from `own_address` (used when the script gave no
/// `:from`), dated `now`. Headers: From, To, Subject, Date, Message-ID, In-Reply-To,
/// References, `Auto-Submitted: auto-replied`, MIME-Version; the body is the reason (UTF-8
/// text), or with `:mime` the reason as a MIME entity. The host sends it with envelope
/// sender `<>` (RFC 5230 §5.1 / RFC 3834 §3.3).
pub fn build_vacation_reply(v: &VacationAction, own_address: &str, now: DateTime) -> Vec<u8> {
    let from = v.from.clone().unwrap_or_else(|| own_address.to_string());
    let domain = validate::mailbox_of(&from)
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| "localhost".into());
    let id = format!(
        "vacation.{}.{:016x}@{domain}",
        now.unix,
        fnv64(&format!("{}{}{}", v.to, v.handle, now.unix))
    );
    let mut b = MessageBuilder::new()
        .from(address(&from))
        .to(Address::new_address(None::<&str>, v.to.clone()))
        .subject(v.subject.clone())
        .header("Date", Raw::new(now.to_rfc5322()))
        .message_id(MessageId::new(id))
        .header("Auto-Submitted", Raw::new("auto-replied"))
        // as Pigeonhole: keep other auto-responders (Exchange) from answering the answer
        .header("Precedence", Raw::new("bulk"))
        .header("X-Auto-Response-Suppress", Raw::new("All"));
    if let Some(orig) = &v.in_reply_to {
        let orig_id = strip_id(orig).to_string();
        b = b.in_reply_to(MessageId::new(orig_id.clone()));
        let mut refs: Vec<String> = v
            .references
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(|r| strip_id(r).to_string())
            .filter(|r| !r.is_empty())
            .collect();
        refs.push(orig_id);
        b = b.references(MessageId::new_list(refs.into_iter()));
    }
    if v.mime {
        let mut out = Vec::new();
        let headers_only = b.header("MIME-Version", Raw::new("1.0"));
        // serialize the header block, then append the entity as written by the user
        let mut head = headers_only
            .text_body("")
            .write_to_vec()
            .unwrap_or_default();
        // cut everything from the builder's own Content-Type on
        if let Some(p) = find(&head, b"Content-Type:") {
            head.truncate(p);
        }
        out.extend_from_slice(&head);
        let entity = v.reason.replace("\r\n", "\n").replace('\n', "\r\n");
        out.extend_from_slice(entity.as_bytes());
        if !entity.ends_with("\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        return out;
    }
    b.body(MimePart::new("text/plain; charset=utf-8", v.reason.clone()))
        .write_to_vec()
        .unwrap_or_default()
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w.eq_ignore_ascii_case(n))
}

fn address(s: &str) -> Address<'static> {
    let addr = validate::mailbox_of(s);
    let name = match s.rfind('<') {
        Some(i) if s.ends_with('>') => {
            let n = s[..i].trim().trim_matches('"').trim();
            (!n.is_empty()).then(|| n.to_string())
        }
        _ => None,
    };
    Address::new_address(name, addr)
}
