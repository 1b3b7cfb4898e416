//! Per-user sending limits of submission: messages and recipients per time window, counted
//! in fixed windows like Postfix's anvil (`smtpd_client_message_rate_limit`,
//! `smtpd_client_recipient_rate_limit` per `anvil_rate_time_unit`), but per authenticated user
//! rather than per client address: an office behind one NAT address is many users, and a
//! stolen password is one user on many addresses.
//!
//! Counts live in memory (one submission process is the one place users send through); the
//! table is bounded, idle users are dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most users tracked at once; past it, users whose window has ended are dropped first.
const MAX_USERS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    messages: usize,
    recipients: usize,
}

/// What a limit check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Within the limits (and counted).
    Allowed,
    /// Over the limit; the window ends in this long.
    Exceeded(Duration),
}

/// Message and recipient counters per user. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    window: Duration,
    max_messages: usize,
    max_recipients: usize,
    users: Arc<Mutex<HashMap<String, Window>>>,
}

impl RateLimiter {
    /// Limits per `window`; `0` disables a limit.
    pub fn new(window: Duration, max_messages: usize, max_recipients: usize) -> Self {
        RateLimiter {
            window,
            max_messages,
            max_recipients,
            users: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Count one more message of `user` (at MAIL), unless that exceeds the limit.
    pub fn message(&self, user: &str) -> RateVerdict {
        self.count(user, |w| &mut w.messages, self.max_messages)
    }

    /// Count one more recipient of `user` (at RCPT), unless that exceeds the limit.
    pub fn recipient(&self, user: &str) -> RateVerdict {
        self.count(user, |w| &mut w.recipients, self.max_recipients)
    }

    fn count(
        &self,
        user: &str,
        counter: impl Fn(&mut Window) -> &mut usize,
        limit: usize,
    ) -> RateVerdict {
        if limit == 0 {
            return RateVerdict::Allowed;
        }
        let now = Instant::now();
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if users.len() >= MAX_USERS && !users.contains_key(user) {
            users.retain(|_, w| now.duration_since(w.started) < self.window);
            if users.len() >= MAX_USERS {
                users.clear();
            }
        }
        let w = users.entry(user.to_string()).or_insert(Window {
            started: now,
            messages: 0,
            recipients: 0,
        });
        if now.duration_since(w.started) >= self.window {
            *w = Window {
                started: now,
                messages: 0,
                recipients: 0,
            };
        }
        let remaining = self.window.saturating_sub(now.duration_since(w.started));
        let n = counter(w);
        if *n >= limit {
            return RateVerdict::Exceeded(remaining);
        }
        *n += 1;
        RateVerdict::Allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_apply_per_user_and_reset_with_the_window() {
        let r = RateLimiter::new(Duration::from_millis(200), 2, 3);
        assert_eq!(r.message("a@x"), RateVerdict::Allowed);
        assert_eq!(r.message("a@x"), RateVerdict::Allowed);
        assert!(matches!(r.message("a@x"), RateVerdict::Exceeded(_)));
        assert_eq!(
            r.message("b@x"),
            RateVerdict::Allowed,
            "other users are not affected"
        );
        for _ in 0..3 {
            assert_eq!(r.recipient("a@x"), RateVerdict::Allowed);
        }
        assert!(matches!(r.recipient("a@x"), RateVerdict::Exceeded(_)));
        std::thread::sleep(Duration::from_millis(220));
        assert_eq!(r.message("a@x"), RateVerdict::Allowed);
        assert_eq!(r.recipient("a@x"), RateVerdict::Allowed);
    }

    #[test]
    fn zero_means_unlimited() {
        let r = RateLimiter::new(Duration::from_secs(60), 0, 0);
        for _ in 0..1000 {
            assert_eq!(r.message("a@x"), RateVerdict::Allowed);
            assert_eq!(r.recipient("a@x"), RateVerdict::Allowed);
        }
    }
}
