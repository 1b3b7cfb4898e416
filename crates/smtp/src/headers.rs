//! Trace headers the delivery agents add (`Return-Path`, `Delivered-To`, `Received`) and the
//! RFC 5322 date they need.

use std::time::{SystemTime, UNIX_EPOCH};

/// `Thu, 26 Nov 2026 02:24:38 +0000` for `t` (always UTC).
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let wd = WEEKDAYS[days.rem_euclid(7) as usize];
    format!(
        "{wd}, {day} {} {year} {h:02}:{m:02}:{s:02} +0000",
        MONTHS[(month - 1) as usize]
    )
}

/// The `Received:` field smtp-mta and submission prepend (RFC 5321 §4.4): the client's EHLO
/// name and address (left out with `hide_client`, as submission may), our name, the protocol
/// (`ESMTPS`, `ESMTPSA`, RFC 3848), the transaction id, the TLS parameters and, for a single
/// recipient, `for <rcpt>`.
pub fn received_header(
    env: &crate::session::Envelope,
    hostname: &str,
    single_recipient: Option<&str>,
    hide_client: bool,
) -> String {
    let mut h = if hide_client {
        "Received: by ".to_string()
    } else {
        let ip = env
            .client_ip
            .map_or_else(|| "unix".to_string(), |ip| ip.to_string());
        let helo = if env.helo.is_empty() {
            "unknown"
        } else {
            &env.helo
        };
        format!("Received: from {} ([{ip}])\r\n\tby ", header_safe(helo))
    };
    h.push_str(&format!(
        "{} (mailstack) with {} id {}",
        header_safe(hostname),
        env.protocol,
        env.id
    ));
    if let (Some(tls), false) = (&env.tls, hide_client) {
        h.push_str(&format!("\r\n\t(using {})", header_safe(tls)));
    }
    if let Some(rcpt) = single_recipient {
        h.push_str(&format!("\r\n\tfor <{}>", header_safe(rcpt)));
    }
    h.push_str(&format!("; {}\r\n", rfc5322_date(SystemTime::now())));
    h
}

/// Strip characters that would break a header line (CR, LF, other controls).
pub fn header_safe(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// The lines an LMTP delivery prepends for one final recipient.
pub fn lmtp_trace_headers(
    sender: &str,
    final_recipient: &str,
    helo: &str,
    peer: &str,
    hostname: &str,
    id: &str,
    now: SystemTime,
) -> String {
    format!(
        "Return-Path: <{}>\r\nDelivered-To: {}\r\nReceived: from {} ({})\r\n\tby {} (mailstack) with LMTP id {}\r\n\tfor <{}>; {}\r\n",
        header_safe(sender),
        header_safe(final_recipient),
        header_safe(if helo.is_empty() { "unknown" } else { helo }),
        header_safe(peer),
        header_safe(hostname),
        id,
        header_safe(final_recipient),
        rfc5322_date(now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 1 Jan 1970 00:00:00 +0000");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_659_878);
        assert_eq!(rfc5322_date(t), "Thu, 26 Nov 2026 02:24:38 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc5322_date(leap), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn trace_headers_cannot_be_injected() {
        let h = lmtp_trace_headers(
            "a@b\r\nBcc: x",
            "u@d",
            "h",
            "1.2.3.4",
            "mx",
            "ID",
            UNIX_EPOCH,
        );
        assert!(h.starts_with("Return-Path: <a@bBcc: x>\r\nDelivered-To: u@d\r\n"));
    }
}
