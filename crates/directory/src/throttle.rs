//! Slowing down password guessing, shared by every login of a process (IMAP, submission).
//!
//! Each failed login counts against the client's IP address and against the login name; the
//! answer to a failure is delayed by `base × n`, where `n` is the larger of the two counts
//! (capped at [`MAX_STEPS`]). A guesser who opens a new connection per try (per-connection
//! counters forget) or spreads tries over many addresses (per-IP counters miss it) is slowed
//! all the same, like Dovecot's `auth_penalty`. Counts are forgotten after [`FORGET_AFTER`]
//! without a failure; a successful login clears its name and its address.
//!
//! Only counters are kept, never a password; the table is bounded (oldest entries are dropped).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The delay grows with failures up to this many times the base delay.
pub const MAX_STEPS: u32 = 15;
/// Failures older than this are forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Most addresses and names remembered at once.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Ip(IpAddr),
    Login(String),
}

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    last: Instant,
}

/// Failed-login counters by client address and by login name. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct AuthThrottle {
    base: Duration,
    counts: Arc<Mutex<HashMap<Key, Count>>>,
}

impl AuthThrottle {
    /// A throttle whose first failure waits `base`.
    pub fn new(base: Duration) -> Self {
        AuthThrottle {
            base,
            counts: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn keys(ip: Option<IpAddr>, login: &str) -> Vec<Key> {
        let mut keys = vec![Key::Login(login.trim().to_lowercase())];
        if let Some(ip) = ip {
            keys.push(Key::Ip(ip));
        }
        keys
    }

    /// Count a failed login and return how long to wait before answering it.
    pub fn failed(&self, ip: Option<IpAddr>, login: &str) -> Duration {
        let now = Instant::now();
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= MAX_ENTRIES {
            counts.retain(|_, c| now.duration_since(c.last) < FORGET_AFTER);
            if counts.len() >= MAX_ENTRIES {
                let oldest = counts.values().map(|c| c.last).min();
                counts.retain(|_, c| Some(c.last) != oldest);
            }
        }
        let mut steps = 0;
        for key in Self::keys(ip, login) {
            let c = counts.entry(key).or_insert(Count {
                failures: 0,
                last: now,
            });
            if now.duration_since(c.last) >= FORGET_AFTER {
                c.failures = 0;
            }
            c.failures = c.failures.saturating_add(1);
            c.last = now;
            steps = steps.max(c.failures);
        }
        self.base * steps.min(MAX_STEPS)
    }

    /// A login succeeded: forget the failures of its name and of the client's address.
    pub fn succeeded(&self, ip: Option<IpAddr>, login: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for key in Self::keys(ip, login) {
            counts.remove(&key);
        }
    }

    /// Failures currently counted against an address (for logs and tests).
    pub fn failures_from(&self, ip: IpAddr) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts
            .get(&Key::Ip(ip))
            .filter(|c| c.last.elapsed() < FORGET_AFTER)
            .map_or(0, |c| c.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(10);

    fn ip(n: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, n]))
    }

    #[test]
    fn delay_grows_per_address_across_names() {
        let t = AuthThrottle::new(BASE);
        assert_eq!(t.failed(ip(1), "a@x"), BASE);
        assert_eq!(t.failed(ip(1), "b@x"), BASE * 2);
        assert_eq!(t.failed(ip(1), "c@x"), BASE * 3);
        assert_eq!(t.failures_from(ip(1).unwrap()), 3);
        // Another address guessing a fresh name starts at one step.
        assert_eq!(t.failed(ip(2), "d@x"), BASE);
    }

    #[test]
    fn delay_grows_per_name_across_addresses_and_case() {
        let t = AuthThrottle::new(BASE);
        assert_eq!(t.failed(ip(1), "Alice@X"), BASE);
        assert_eq!(t.failed(ip(2), "alice@x"), BASE * 2);
        assert_eq!(t.failed(ip(3), " alice@x "), BASE * 3);
    }

    #[test]
    fn delay_is_capped_and_success_clears() {
        let t = AuthThrottle::new(BASE);
        for _ in 0..40 {
            t.failed(ip(1), "a@x");
        }
        assert_eq!(t.failed(ip(1), "a@x"), BASE * MAX_STEPS);
        t.succeeded(ip(1), "a@x");
        assert_eq!(t.failures_from(ip(1).unwrap()), 0);
        assert_eq!(t.failed(ip(1), "a@x"), BASE);
    }

    #[test]
    fn table_stays_bounded() {
        let t = AuthThrottle::new(Duration::ZERO);
        for i in 0..(MAX_ENTRIES + 10) {
            t.failed(None, &format!("user{i}@x"));
        }
        assert!(t.counts.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
