//! The threads that verify passwords: a few dedicated threads, each with its own argon2 memory
//! block reused from one verification to the next.
//!
//! argon2id with the default parameters needs a 19 MiB work area. Run in
//! `tokio::task::spawn_blocking`, every concurrent login took a blocking-pool thread (up to
//! 512) and allocated its own 19 MiB: a burst of logins (10 000 IDLE clients reconnecting after
//! a restart) grew the process by gigabytes, and glibc kept most of it after the logins were
//! done (a freed 19 MiB block raises its mmap threshold, so later blocks come from the
//! per-thread heaps and stay there), which showed as ~19 MiB "per idle IMAP connection".
//!
//! Here at most [`workers`] verifications run at once (one per CPU, at most 4; more would
//! only queue for the CPU anyway), each worker allocates its work area once, and what the
//! process holds for argon2 is bounded by `workers × m` whatever the number of logins.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, LazyLock, Mutex};

use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use crate::DirectoryError;

struct Job {
    phc: String,
    password: String,
    reply: oneshot::Sender<bool>,
}

static QUEUE: LazyLock<Mutex<Sender<Job>>> = LazyLock::new(|| Mutex::new(start()));

/// How many verifier threads run: one per CPU, 1 to 4.
pub(crate) fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

fn start() -> Sender<Job> {
    let (tx, rx) = channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..workers() {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || worker(&rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a password verifier thread");
        }
    }
    tx
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let guard = rx.lock().unwrap_or_else(|e| e.into_inner());
            guard.recv()
        };
        let Ok(job) = job else { return };
        let ok = verify_with(&job.phc, &job.password, &mut memory);
        let _ = job.reply.send(ok);
    }
}

/// Verify on a verifier thread (see the module doc). `Unavailable` only when no verifier thread
/// runs (the process could not start one).
pub(crate) async fn verify(phc: String, password: String) -> Result<bool, DirectoryError> {
    let (reply, answer) = oneshot::channel();
    let sent = QUEUE.lock().unwrap_or_else(|e| e.into_inner()).send(Job {
        phc,
        password,
        reply,
    });
    if sent.is_err() {
        return Err(DirectoryError::Unavailable(
            "no password verifier thread".into(),
        ));
    }
    answer
        .await
        .map_err(|_| DirectoryError::Unavailable("password verifier thread ended".into()))
}

/// [`super::verify_password`] with the work area `memory` (grown when the hash needs more).
pub(super) fn verify_with(phc: &str, password: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version {
        Some(v) => match Version::try_from(v) {
            Ok(v) => v,
            Err(_) => return false,
        },
        None => Version::default(),
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt.as_ref(), parsed.hash.as_ref()) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = [0u8; Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let ctx = Argon2::new(algorithm, version, params);
    if ctx
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
        .is_err()
    {
        return false;
    }
    // Output's equality is constant-time.
    Output::new(out).is_ok_and(|o| &o == expected)
}
