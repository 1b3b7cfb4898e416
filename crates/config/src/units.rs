//! Value types that admins write by hand: sizes (`25M`) and durations (`30s`, `5m`, `5d`).
//! Both also accept a plain integer (bytes, seconds) and print back in the short form.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A size in bytes, written as an integer or with a `K`/`M`/`G`/`T` suffix (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024)
    }
}

impl FromStr for ByteSize {
    type Err = String;
    /// Whole bytes, optionally with `K`, `M`, `G` or `T` (powers of 1024, any case, optionally
    /// followed by `B`: `512MB`), surrounding spaces ignored: `1500`, `25M`, `1g`.
    fn from_str(text: &str) -> Result<Self, String> {
        let s = text.trim();
        let s = s
            .strip_suffix(['B', 'b'])
            .filter(|rest| rest.ends_with(|c: char| c.is_ascii_alphabetic()))
            .unwrap_or(s);
        let (digits, mult) = match s.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => {
                let m: u64 = match c.to_ascii_uppercase() {
                    'B' => 1,
                    'K' => 1 << 10,
                    'M' => 1 << 20,
                    'G' => 1 << 30,
                    'T' => 1 << 40,
                    _ => {
                        return Err(format!(
                            "unknown suffix {c:?} for a size (use K, M, G or T)"
                        ));
                    }
                };
                (&s[..i], m)
            }
            _ => (s, 1),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{text:?} is not a size (e.g. 1048576, 512K, 25M, 1G)"
            ));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{text:?} is too large"))?;
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("{text:?} is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (suffix, m) in [
            ("T", 1u64 << 40),
            ("G", 1 << 30),
            ("M", 1 << 20),
            ("K", 1 << 10),
        ] {
            if n >= m && n.is_multiple_of(m) {
                return write!(f, "{}{suffix}", n / m);
            }
        }
        write!(f, "{n}")
    }
}

/// A duration, written as seconds or with an `s`/`m`/`h`/`d` suffix (`30s`, `5m`, `5d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DurationSpec(pub Duration);

impl DurationSpec {
    /// `n` seconds.
    pub const fn secs(n: u64) -> Self {
        DurationSpec(Duration::from_secs(n))
    }
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for DurationSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("{s:?} is not a duration (e.g. 30s, 5m, 2h, 5d)");
        let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
            let v: u64 = n.trim().parse().map_err(|_| bad())?;
            return Ok(DurationSpec(Duration::from_millis(v)));
        } else {
            match s.chars().last() {
                Some('s') => (&s[..s.len() - 1], 1),
                Some('m') => (&s[..s.len() - 1], 60),
                Some('h') => (&s[..s.len() - 1], 3600),
                Some('d') => (&s[..s.len() - 1], 86400),
                Some(c) if c.is_ascii_digit() => (s, 1),
                _ => return Err(bad()),
            }
        };
        let v: u64 = num.trim().parse().map_err(|_| bad())?;
        v.checked_mul(mult)
            .map(|secs| DurationSpec(Duration::from_secs(secs)))
            .ok_or_else(bad)
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_millis() != 0 || d.as_secs() == 0 && !d.is_zero() {
            return write!(f, "{}ms", d.as_millis());
        }
        let s = d.as_secs();
        for (suffix, m) in [("d", 86400u64), ("h", 3600), ("m", 60)] {
            if s >= m && s.is_multiple_of(m) {
                return write!(f, "{}{suffix}", s / m);
            }
        }
        write!(f, "{s}s")
    }
}

macro_rules! int_or_string_serde {
    ($t:ty, $expect:literal) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expect)
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$t, E> {
                        u64::try_from(v)
                            .map_err(|_| E::custom("must not be negative"))
                            .and_then(|v| v.to_string().parse().map_err(E::custom))
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$t, E> {
                        v.to_string().parse().map_err(E::custom)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$t, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_any(V)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }
    };
}

int_or_string_serde!(
    ByteSize,
    "a size: bytes as an integer, or a string like \"25M\""
);
int_or_string_serde!(
    DurationSpec,
    "a duration: seconds as an integer, or a string like \"5m\""
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!("25M".parse::<ByteSize>().unwrap(), ByteSize(25 << 20));
        assert_eq!("1024".parse::<ByteSize>().unwrap(), ByteSize(1024));
        assert_eq!("2g".parse::<ByteSize>().unwrap(), ByteSize(2 << 30));
        assert!("12X".parse::<ByteSize>().is_err());
        assert!("M".parse::<ByteSize>().is_err());
        assert!("99999999999T".parse::<ByteSize>().is_err());
        assert!("1 G".parse::<ByteSize>().is_err());
        assert!("+5".parse::<ByteSize>().is_err());
        assert_eq!("512MB".parse::<ByteSize>().unwrap(), ByteSize(512 << 20));
        assert_eq!(ByteSize(25 << 20).to_string(), "25M");
        assert_eq!(ByteSize(1000).to_string(), "1000");
    }

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(
            "30s".parse::<DurationSpec>().unwrap(),
            DurationSpec::secs(30)
        );
        assert_eq!(
            "5m".parse::<DurationSpec>().unwrap(),
            DurationSpec::secs(300)
        );
        assert_eq!(
            "5d".parse::<DurationSpec>().unwrap(),
            DurationSpec::secs(432000)
        );
        assert_eq!(
            "250ms".parse::<DurationSpec>().unwrap().get(),
            Duration::from_millis(250)
        );
        assert_eq!(
            "42".parse::<DurationSpec>().unwrap(),
            DurationSpec::secs(42)
        );
        assert!("5 weeks".parse::<DurationSpec>().is_err());
        assert_eq!(DurationSpec::secs(3600).to_string(), "1h");
        assert_eq!(DurationSpec::secs(90).to_string(), "90s");
        assert_eq!(
            DurationSpec(Duration::from_millis(250)).to_string(),
            "250ms"
        );
    }
}
