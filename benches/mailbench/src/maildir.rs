//! Write a Maildir of many messages directly (fast; both servers index it themselves on first
//! access): `count` messages of 1–4 KiB in `cur/` with Maildir flags in their names (most
//! `\Seen`, some `\Flagged`), one large message (the full-body FETCH), and one message whose
//! `Subject` is the needle the header search looks for. The same seed gives byte-identical
//! files with identical names, so both systems get the same mailbox.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::message::{Filler, headers};

/// What to write.
#[derive(Debug, Clone)]
pub struct MaildirOptions {
    /// Messages in total (the large one included).
    pub count: usize,
    /// Size of the large message (the last one).
    pub large: usize,
    /// Subject of the message in the middle.
    pub needle: String,
    /// Seed of sizes and text.
    pub seed: u64,
    /// chown every file and directory to this uid:gid (the peer's mail user).
    pub owner: Option<(u32, u32)>,
}

/// The result line.
#[derive(Debug, Serialize)]
pub struct MaildirReport {
    /// Files written.
    pub messages: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Seconds it took.
    pub secs: f64,
}

/// Write the Maildir at `dir` (created with `cur/ new/ tmp/`).
pub fn generate(dir: &Path, o: &MaildirOptions) -> Result<MaildirReport> {
    let start = std::time::Instant::now();
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("create {}", dir.join(sub).display()))?;
    }
    let filler = Filler::new(o.large.max(8192) + 4096, b"\n", o.seed);
    let mut rng = fastrand::Rng::with_seed(o.seed);
    let mut bytes = 0u64;
    let mut buf = Vec::with_capacity(8192);
    let base_time = 1_764_000_000u64;
    for i in 0..o.count {
        let large = i + 1 == o.count;
        let subject = if i == o.count / 2 {
            o.needle.clone()
        } else {
            format!("Message {i} about topic {}", i % 97)
        };
        let size = if large {
            o.large
        } else {
            rng.usize(1024..4096)
        };
        buf.clear();
        let h = headers(
            i,
            &format!("sender{}@example.org", i % 113),
            "bench@bench.test",
            &subject,
            "\n",
        );
        buf.extend_from_slice(h.as_bytes());
        buf.extend_from_slice(filler.body(size.saturating_sub(h.len()), i));
        let flags = match i % 20 {
            0 => "FS",
            1..=3 => "",
            _ => "S",
        };
        let lines = buf.iter().filter(|&&b| b == b'\n').count();
        let name = format!(
            "{}.M{}P1V0000000000000801I{:08X}.mailbench,S={},W={}:2,{flags}",
            base_time + i as u64,
            i,
            i,
            buf.len(),
            buf.len() + lines
        );
        let path = dir.join("cur").join(name);
        let mut f =
            std::fs::File::create(&path).with_context(|| format!("create {}", path.display()))?;
        f.write_all(&buf)?;
        if let Some((uid, gid)) = o.owner {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
        bytes += buf.len() as u64;
    }
    if let Some((uid, gid)) = o.owner {
        let mut d = Some(dir);
        // The Maildir, its parents up to the user's directory, and its subdirectories.
        for sub in ["cur", "new", "tmp"] {
            std::os::unix::fs::chown(dir.join(sub), Some(uid), Some(gid))?;
        }
        for _ in 0..2 {
            let Some(p) = d else { break };
            std::os::unix::fs::chown(p, Some(uid), Some(gid))?;
            d = p.parent();
        }
    }
    Ok(MaildirReport {
        messages: o.count,
        bytes,
        secs: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_for_one_seed() {
        let t = std::env::temp_dir().join(format!("mailbench-test-{}", std::process::id()));
        let o = MaildirOptions {
            count: 20,
            large: 100_000,
            needle: "needle-1".into(),
            seed: 3,
            owner: None,
        };
        let a = generate(&t.join("a"), &o).unwrap();
        generate(&t.join("b"), &o).unwrap();
        assert_eq!(a.messages, 20);
        let list = |d: &str| {
            let mut v: Vec<_> = std::fs::read_dir(t.join(d).join("cur"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            v.sort();
            v
        };
        let (la, lb) = (list("a"), list("b"));
        assert_eq!(la.len(), 20);
        for (x, y) in la.iter().zip(&lb) {
            assert_eq!(x.file_name(), y.file_name());
            assert_eq!(std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
        }
        let needles = la
            .iter()
            .filter(|p| {
                String::from_utf8_lossy(&std::fs::read(p).unwrap()).contains("Subject: needle-1\n")
            })
            .count();
        assert_eq!(needles, 1);
        assert!(
            la.iter()
                .any(|p| std::fs::metadata(p).unwrap().len() >= 100_000)
        );
        std::fs::remove_dir_all(&t).unwrap();
    }
}
