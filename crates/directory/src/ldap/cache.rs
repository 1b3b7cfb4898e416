//! A small TTL cache for lookup answers: found values live for the positive TTL, "not found"
//! for the negative TTL. Errors are never cached; neither are passwords or login results.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; past that, expired entries are dropped, and if that is not enough
/// the whole cache is cleared (simple, and a full cache of live entries is rare).
const MAX_ENTRIES: usize = 100_000;

pub(super) struct TtlCache<V> {
    positive: Duration,
    negative: Duration,
    map: Mutex<HashMap<String, (Instant, Option<V>)>>,
}

impl<V: Clone> TtlCache<V> {
    pub(super) fn new(positive: Duration, negative: Duration) -> Self {
        TtlCache {
            positive,
            negative,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(answer)` on a live hit (the answer itself may be "not found"), `None` on a miss.
    pub(super) fn get(&self, key: &str) -> Option<Option<V>> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some((until, v)) if Instant::now() < *until => Some(v.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remember `value` (or its absence) under `key`, unless the TTL for it is zero.
    pub(super) fn put(&self, key: &str, value: Option<V>) {
        let ttl = if value.is_some() {
            self.positive
        } else {
            self.negative
        };
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (until, _)| now < *until);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key.to_string(), (now + ttl, value));
    }
}
