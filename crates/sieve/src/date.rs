//! Dates for the `date` extension (RFC 5260) and for vacation replies: a UTC timestamp with a
//! zone offset, civil-calendar conversion (proleptic Gregorian), RFC 5260 date-parts and zone
//! syntax. Written here (a few dozen lines) instead of pulling a date crate into the tree.

/// A point in time with the zone it is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix: i64,
    /// Offset of the local zone from UTC, in minutes (e.g. -300 for `-0500`).
    pub offset_minutes: i32,
}

/// Civil fields of a [`DateTime`] in its own zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    /// 0 = Sunday.
    pub(crate) weekday: u32,
    /// Days since 1970-01-01 in the local zone.
    pub(crate) days: i64,
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl DateTime {
    /// The same instant in another zone.
    pub fn with_offset(self, offset_minutes: i32) -> DateTime {
        DateTime {
            unix: self.unix,
            offset_minutes,
        }
    }

    pub(crate) fn civil(&self) -> Civil {
        let local = self.unix + i64::from(self.offset_minutes) * 60;
        let days = local.div_euclid(86400);
        let secs = local.rem_euclid(86400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
            weekday: (days + 4).rem_euclid(7) as u32,
            days,
        }
    }

    /// The zone as `+hhmm` / `-hhmm`.
    pub(crate) fn zone(&self) -> String {
        let o = self.offset_minutes;
        let sign = if o < 0 { '-' } else { '+' };
        format!("{sign}{:02}{:02}", o.abs() / 60, o.abs() % 60)
    }

    /// RFC 5322 date-time, e.g. `Mon, 01 Aug 2005 14:30:00 -0500`.
    pub fn to_rfc5322(&self) -> String {
        let c = self.civil();
        const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        const MO: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} {}",
            WD[c.weekday as usize],
            c.day,
            MO[(c.month - 1) as usize],
            c.year,
            c.hour,
            c.minute,
            c.second,
            self.zone()
        )
    }

    /// One RFC 5260 §4.2 date-part; `None` for an unknown part name.
    pub(crate) fn part(&self, name: &str) -> Option<String> {
        let c = self.civil();
        Some(match name.to_ascii_lowercase().as_str() {
            "year" => format!("{:04}", c.year),
            "month" => format!("{:02}", c.month),
            "day" => format!("{:02}", c.day),
            "date" => format!("{:04}-{:02}-{:02}", c.year, c.month, c.day),
            "julian" => (c.days - days_from_civil(1858, 11, 17)).to_string(),
            "hour" => format!("{:02}", c.hour),
            "minute" => format!("{:02}", c.minute),
            "second" => format!("{:02}", c.second),
            "time" => format!("{:02}:{:02}:{:02}", c.hour, c.minute, c.second),
            "iso8601" => {
                let z = self.zone();
                format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}:{}",
                    c.year,
                    c.month,
                    c.day,
                    c.hour,
                    c.minute,
                    c.second,
                    &z[..3],
                    &z[3..]
                )
            }
            "std11" => self.to_rfc5322(),
            "zone" => self.zone(),
            "weekday" => c.weekday.to_string(),
            _ => return None,
        })
    }
}

/// True for the date-part names of RFC 5260 §4.2.
pub(crate) fn is_date_part(s: &str) -> bool {
    [
        "year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601",
        "std11", "zone", "weekday",
    ]
    .contains(&s.to_ascii_lowercase().as_str())
}

/// Parses a `:zone` argument, `+hhmm` or `-hhmm`, to minutes.
pub(crate) fn parse_zone(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 5 || !(b[0] == b'+' || b[0] == b'-') || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let h: i32 = s[1..3].parse().ok()?;
    let m: i32 = s[3..5].parse().ok()?;
    if m >= 60 || h > 23 {
        return None;
    }
    let v = h * 60 + m;
    Some(if b[0] == b'-' { -v } else { v })
}

/// Parses an RFC 5322 date (as in a `Date:` header); `None` when it is not a date.
pub(crate) fn parse_rfc5322(raw: &str) -> Option<DateTime> {
    let mut buf = raw.trim().as_bytes().to_vec();
    buf.extend_from_slice(b"\r\n");
    let v = mail_parser::parsers::MessageStream::new(&buf).parse_date();
    let mail_parser::HeaderValue::DateTime(d) = v else {
        return None;
    };
    if d.month == 0
        || d.month > 12
        || d.day == 0
        || d.day > 31
        || d.hour > 23
        || d.minute > 59
        || d.second > 60
    {
        return None;
    }
    let off =
        (i32::from(d.tz_hour) * 60 + i32::from(d.tz_minute)) * if d.tz_before_gmt { -1 } else { 1 };
    let days = days_from_civil(i64::from(d.year), u32::from(d.month), u32::from(d.day));
    let local =
        days * 86400 + i64::from(d.hour) * 3600 + i64::from(d.minute) * 60 + i64::from(d.second);
    Some(DateTime {
        unix: local - i64::from(off) * 60,
        offset_minutes: off,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_roundtrip_and_parts() {
        // 2005-08-01T14:30:00-05:00
        let d = parse_rfc5322("Mon, 1 Aug 2005 14:30:00 -0500").unwrap();
        assert_eq!(d.offset_minutes, -300);
        assert_eq!(d.part("date").unwrap(), "2005-08-01");
        assert_eq!(d.part("time").unwrap(), "14:30:00");
        assert_eq!(d.part("weekday").unwrap(), "1");
        assert_eq!(d.part("zone").unwrap(), "-0500");
        assert_eq!(d.part("iso8601").unwrap(), "2005-08-01T14:30:00-05:00");
        assert_eq!(d.part("std11").unwrap(), "Mon, 01 Aug 2005 14:30:00 -0500");
        let u = d.with_offset(0);
        assert_eq!(u.part("hour").unwrap(), "19");
        // MJD of 1858-11-17 is 0, of 2000-01-01 is 51544
        let y2k = DateTime {
            unix: 946_684_800,
            offset_minutes: 0,
        };
        assert_eq!(y2k.part("julian").unwrap(), "51544");
        assert_eq!(parse_zone("+0130"), Some(90));
        assert_eq!(parse_zone("-1200"), Some(-720));
        assert_eq!(parse_zone("0100"), None);
        assert!(parse_rfc5322("not a date").is_none());
    }
}
