//! Between the wire's types and the store's: flags, dates, mailbox names.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailstack_store::{Flag as StoreFlag, MessageMeta, decode_mutf7};

use super::reply::Done;
use crate::proto::{DateTime, Flag, SpecialUse};
use crate::search::key::Date;

/// Flags a STORE or APPEND asks for, split into system flags and keywords. `\Recent` is
/// ignored (it cannot be set); an unknown `\Extension` is refused.
pub(super) fn split_flags(flags: &[Flag]) -> Result<(Vec<StoreFlag>, Vec<String>), Done> {
    let mut sys = Vec::new();
    let mut kws = Vec::new();
    for f in flags {
        match f {
            Flag::Seen => sys.push(StoreFlag::Seen),
            Flag::Answered => sys.push(StoreFlag::Answered),
            Flag::Flagged => sys.push(StoreFlag::Flagged),
            Flag::Deleted => sys.push(StoreFlag::Deleted),
            Flag::Draft => sys.push(StoreFlag::Draft),
            Flag::Recent => {}
            Flag::Keyword(k) => kws.push(k.clone()),
            Flag::Extension(_) => return Err(Done::bad("Unknown system flag")),
        }
    }
    sys.sort();
    sys.dedup();
    kws.sort();
    kws.dedup();
    Ok((sys, kws))
}

/// A message's flags for a FETCH response.
pub(super) fn wire_flags(meta: &MessageMeta) -> Vec<Flag> {
    let mut out: Vec<Flag> = meta
        .flags
        .iter()
        .map(|f| match f {
            StoreFlag::Seen => Flag::Seen,
            StoreFlag::Answered => Flag::Answered,
            StoreFlag::Flagged => Flag::Flagged,
            StoreFlag::Deleted => Flag::Deleted,
            StoreFlag::Draft => Flag::Draft,
        })
        .collect();
    out.extend(meta.keywords.iter().map(|k| Flag::Keyword(k.clone())));
    out
}

/// The special-use attribute of the store as the wire type.
pub(super) fn special_use(u: mailstack_store::SpecialUse) -> SpecialUse {
    use mailstack_store::SpecialUse as S;
    match u {
        S::Drafts => SpecialUse::Drafts,
        S::Sent => SpecialUse::Sent,
        S::Trash => SpecialUse::Trash,
        S::Junk => SpecialUse::Junk,
        S::Archive => SpecialUse::Archive,
    }
}

/// A client's mailbox name (modified UTF-7 on the wire) as the store's UTF-8 name. Names that
/// could leave the Maildir (`..`, `/`, `\`, control characters) are refused here already; the
/// store refuses them again.
pub(super) fn mailbox_name(wire: &str) -> Result<String, Done> {
    let invalid = || Done::no(Some(crate::proto::Code::Cannot), "Invalid mailbox name");
    if wire.eq_ignore_ascii_case("INBOX") {
        return Ok("INBOX".to_string());
    }
    let name = decode_mutf7(wire).map_err(|_| invalid())?;
    let name = name.strip_suffix('.').unwrap_or(&name).to_string();
    if name.is_empty()
        || name.contains("..")
        || name.contains('/')
        || name.contains('\\')
        || name.chars().any(char::is_control)
    {
        return Err(invalid());
    }
    Ok(name)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// INTERNALDATE of a message (seconds since the epoch), in UTC.
pub(super) fn internal_date(secs: i64) -> DateTime {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    DateTime {
        date: Date {
            year: year.clamp(0, 9999) as u16,
            month,
            day,
        },
        hour: (rem / 3600) as u8,
        minute: (rem % 3600 / 60) as u8,
        second: (rem % 60) as u8,
        zone_minutes: 0,
    }
}

/// APPEND's date-time as a file time; `None` before 1970.
pub(super) fn system_time(dt: &DateTime) -> Option<SystemTime> {
    let days = days_from_civil(
        i64::from(dt.date.year),
        i64::from(dt.date.month),
        i64::from(dt.date.day),
    );
    let secs = days * 86_400
        + i64::from(dt.hour) * 3600
        + i64::from(dt.minute) * 60
        + i64::from(dt.second)
        - i64::from(dt.zone_minutes) * 60;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for secs in [0i64, 951_782_400, 1_767_225_599, 4_102_444_800] {
            let dt = internal_date(secs);
            let back = system_time(&dt).unwrap();
            assert_eq!(back, UNIX_EPOCH + Duration::from_secs(secs as u64));
        }
        let dt = internal_date(951_782_400); // 2000-02-29 00:00:00
        assert_eq!((dt.date.year, dt.date.month, dt.date.day), (2000, 2, 29));
    }

    #[test]
    fn names() {
        assert_eq!(mailbox_name("inbox").unwrap(), "INBOX");
        assert_eq!(mailbox_name("&AMQ-rger").unwrap(), "Ärger");
        assert_eq!(mailbox_name("Work.").unwrap(), "Work");
        assert!(mailbox_name("../x").is_err());
        assert!(mailbox_name("a/b").is_err());
        assert!(mailbox_name("a..b").is_err());
    }
}
