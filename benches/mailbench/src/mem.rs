//! Memory of a server: the sum over its process tree (the process and every descendant) of
//! PSS and RSS from `/proc/<pid>/smaps_rollup`. PSS divides shared pages among the processes
//! sharing them, so Dovecot's many `imap` processes are not charged the shared libraries many
//! times over; for a single process (imap-server) PSS and RSS differ only by shared libraries.

use std::collections::HashMap;

use serde::Serialize;

/// Memory of a process tree, in KiB.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct TreeMemory {
    /// Processes counted.
    pub processes: usize,
    /// Sum of PSS.
    pub pss_kib: u64,
    /// Sum of RSS.
    pub rss_kib: u64,
}

/// The memory of `root` and its descendants.
pub fn tree_memory(root: u32) -> TreeMemory {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(ppid) = parent_of(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = TreeMemory::default();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        if let Some((pss, rss)) = rollup(pid) {
            out.processes += 1;
            out.pss_kib += pss;
            out.rss_kib += rss;
        }
        if let Some(c) = children.get(&pid) {
            todo.extend(c);
        }
    }
    out
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ...; comm may contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

fn rollup(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some((field("Pss:"), field("Rss:")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_process() {
        let m = super::tree_memory(std::process::id());
        assert!(m.processes >= 1);
        assert!(m.rss_kib > 0 && m.pss_kib > 0);
    }
}
