//! Named readiness checks behind `/readyz`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

#[derive(Debug, Default)]
struct State {
    checks: BTreeMap<String, bool>,
    shutting_down: bool,
}

/// Cloneable readiness state of the service.
///
/// The service registers each dependency as a named check (`set("queue",
/// false)` at start, `set("queue", true)` once the spool is open) and flips it
/// when the dependency fails or recovers. Ready means: every check is true
/// and [`set_shutting_down`](Self::set_shutting_down) was not called. With no
/// checks at all the service is ready.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    state: Arc<RwLock<State>>,
}

impl Readiness {
    /// Ready, with no checks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or adds) the check `name`.
    pub fn set(&self, name: &str, ok: bool) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        match state.checks.get_mut(name) {
            Some(value) => *value = ok,
            None => {
                state.checks.insert(name.to_owned(), ok);
            }
        }
    }

    /// Marks the service as shutting down: not ready from now on, so that a
    /// load balancer stops sending new connections.
    pub fn set_shutting_down(&self) {
        self.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .shutting_down = true;
    }

    /// True when every check passes and the service is not shutting down.
    pub fn is_ready(&self) -> bool {
        self.failing().is_empty()
    }

    /// The reasons the service is not ready, in a stable order: the failing
    /// check names (sorted), then `shutting down` if applicable.
    pub fn failing(&self) -> Vec<String> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let mut failing: Vec<String> = state
            .checks
            .iter()
            .filter(|(_, ok)| !**ok)
            .map(|(name, _)| name.clone())
            .collect();
        if state.shutting_down {
            failing.push("shutting down".to_owned());
        }
        failing
    }
}

#[cfg(test)]
#[path = "readiness_tests.rs"]
mod tests;
