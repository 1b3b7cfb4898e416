//! Delivery status notifications (RFC 3464, RFC 3461 for NOTIFY/RET/ENVID/ORCPT), built with
//! mail-builder. A DSN is a `multipart/report; report-type=delivery-status` with three parts:
//! a human-readable text, the `message/delivery-status` fields, and the original headers
//! (`text/rfc822-headers`) or, with `RET=FULL`, the whole message (`message/rfc822`).

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;

use crate::spool::StoredEnvelope;
use crate::types::{Envelope, Notify, RecipientSpec};

/// What a DSN reports for one recipient (`Action:` of RFC 3464).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Failed,
    Delayed,
    Delivered,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
        }
    }
}

/// One recipient block of the delivery-status part.
#[derive(Debug, Clone)]
pub(crate) struct DsnRecipient {
    /// Index of the recipient in the envelope.
    pub(crate) index: usize,
    pub(crate) address: String,
    pub(crate) orcpt: Option<String>,
    pub(crate) action: Action,
    /// Enhanced status code (`5.1.1`).
    pub(crate) status: String,
    /// The peer's reply, verbatim (becomes `Diagnostic-Code: smtp; ...` if it is an SMTP reply).
    pub(crate) reply: Option<String>,
}

/// The enhanced status code in an SMTP reply (`550 5.1.1 User unknown` → `5.1.1`), or a
/// generic one for the reply's class.
pub(crate) fn status_of(reply: &str, fallback_class: char) -> String {
    let mut words = reply.split_whitespace();
    let code = words.next().unwrap_or("");
    if let Some(word) = words.next() {
        let parts: Vec<&str> = word.split('.').collect();
        if parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return word.to_string();
        }
    }
    let class = code.chars().next().filter(|c| matches!(c, '2' | '4' | '5'));
    format!("{}.0.0", class.unwrap_or(fallback_class))
}

/// Whether `reply` looks like an SMTP reply (three digits first).
fn is_smtp_reply(reply: &str) -> bool {
    let b = reply.as_bytes();
    b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit)
}

/// The header section of a message (through the first empty line, without it).
pub(crate) fn header_section(message: &[u8]) -> &[u8] {
    for (i, w) in message.windows(2).enumerate() {
        if w == b"\n\n" {
            return &message[..i + 1];
        }
        if i + 4 <= message.len() && &message[i..i + 4] == b"\r\n\r\n" {
            return &message[..i + 2];
        }
    }
    message
}

/// Build the DSN for `env` about `rcpts`; returns the envelope (from `<>` to the original
/// sender, NOTIFY=NEVER) and the message. The caller never calls this for a null sender.
pub(crate) fn build(
    hostname: &str,
    env: &StoredEnvelope,
    rcpts: &[DsnRecipient],
    original: &[u8],
    will_retry_until_ms: Option<u64>,
) -> (Envelope, Vec<u8>) {
    let delayed_only = rcpts.iter().all(|r| r.action == Action::Delayed);
    let any_failed = rcpts.iter().any(|r| r.action == Action::Failed);
    let subject = if any_failed {
        "Undelivered Mail Returned to Sender"
    } else if delayed_only {
        "Delayed Mail (still being retried)"
    } else {
        "Successful Mail Delivery Report"
    };

    let human = human_text(hostname, env, rcpts);
    let status = status_fields(hostname, env, rcpts, will_retry_until_ms);
    let returned = if env.ret_full && !delayed_only {
        MimePart::new("message/rfc822", original.to_vec())
            .transfer_encoding("8bit")
            .inline()
    } else {
        let mut headers = header_section(original).to_vec();
        if !headers.ends_with(b"\n") {
            headers.extend_from_slice(b"\r\n");
        }
        MimePart::new("text/rfc822-headers", headers)
            .transfer_encoding("8bit")
            .inline()
    };

    let report = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        vec![
            MimePart::new("text/plain", human),
            MimePart::new("message/delivery-status", status.into_bytes()).transfer_encoding("7bit"),
            returned,
        ],
    );
    let from = format!("MAILER-DAEMON@{hostname}");
    let message_id = format!("{}.dsn@{}", env.id, hostname);
    let bytes = MessageBuilder::new()
        .from(("Mail Delivery System", from.as_str()))
        .to(env.sender.as_str())
        .subject(subject)
        .message_id(message_id.as_str())
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(report)
        .write_to_vec()
        .unwrap_or_default();
    let envelope = Envelope {
        sender: String::new(),
        recipients: vec![RecipientSpec {
            address: env.sender.clone(),
            orcpt: None,
            notify: Notify::NEVER,
        }],
        env_id: None,
        ret_full: false,
        smtputf8: env.smtputf8,
        received_from: format!("DSN for {}", env.id),
    };
    (envelope, bytes)
}

fn human_text(hostname: &str, env: &StoredEnvelope, rcpts: &[DsnRecipient]) -> String {
    let mut t = format!(
        "This is the mail system at host {hostname}.\r\n\r\n\
         This is the delivery report for your message (queue id {}).\r\n\r\n",
        env.id
    );
    for r in rcpts {
        let what = match r.action {
            Action::Failed => "delivery failed permanently; the message was not delivered",
            Action::Delayed => "delivery is delayed; the mail system will keep trying",
            Action::Delivered => "delivered",
        };
        t.push_str(&format!("<{}>: {what}", r.address));
        if let Some(reply) = &r.reply {
            t.push_str(&format!(": {}", one_line(reply)));
        }
        t.push_str("\r\n");
    }
    t
}

fn status_fields(
    hostname: &str,
    env: &StoredEnvelope,
    rcpts: &[DsnRecipient],
    will_retry_until_ms: Option<u64>,
) -> String {
    let mut s = format!("Reporting-MTA: dns; {hostname}\r\n");
    if let Some(envid) = &env.env_id {
        s.push_str(&format!("Original-Envelope-Id: {}\r\n", one_line(envid)));
    }
    s.push_str(&format!(
        "X-Mailstack-Queue-ID: {}\r\nArrival-Date: {}\r\n",
        env.id,
        Date::new((env.arrival_ms / 1000) as i64).to_rfc822()
    ));
    let now = Date::now().to_rfc822();
    for r in rcpts {
        s.push_str("\r\n");
        if let Some(orcpt) = &r.orcpt {
            s.push_str(&format!("Original-Recipient: {}\r\n", one_line(orcpt)));
        }
        s.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n",
            r.address,
            r.action.as_str(),
            r.status
        ));
        if let Some(reply) = r.reply.as_deref().filter(|r| is_smtp_reply(r)) {
            s.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", one_line(reply)));
        }
        s.push_str(&format!("Last-Attempt-Date: {now}\r\n"));
        if r.action == Action::Delayed
            && let Some(until) = will_retry_until_ms
        {
            s.push_str(&format!(
                "Will-Retry-Until: {}\r\n",
                Date::new((until / 1000) as i64).to_rfc822()
            ));
        }
    }
    s
}

/// A reply or parameter on one line (multi-line replies joined with spaces, controls removed).
fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}
