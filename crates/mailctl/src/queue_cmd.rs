//! `mailctl queue list|show|flush|hold|release|delete`: smtp-mta's spool, edited under the same
//! per-message lock the scheduler takes, so it is safe while smtp-mta runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use mailstack_queue::admin;

use crate::cli::QueueAction;

fn age(t: SystemTime) -> String {
    match SystemTime::now().duration_since(t) {
        Ok(d) if d.as_secs() >= 3600 => {
            format!("{}h{}m ago", d.as_secs() / 3600, d.as_secs() % 3600 / 60)
        }
        Ok(d) => format!("{}m{}s ago", d.as_secs() / 60, d.as_secs() % 60),
        Err(e) => format!("in {}s", e.duration().as_secs()),
    }
}

pub(crate) fn run(config: &Path, action: QueueAction) -> anyhow::Result<ExitCode> {
    let cfg = crate::config_cmd::load(config)?;
    let dir = PathBuf::from(&cfg.queue.dir);
    match action {
        QueueAction::List => {
            let entries = admin::list(&dir)?;
            for e in &entries {
                let sender = if e.sender.is_empty() { "<>" } else { &e.sender };
                let held = match (&e.held, &e.hold_reason) {
                    (true, Some(reason)) => format!(" (held: {reason})"),
                    (true, None) => " (held)".to_string(),
                    _ => String::new(),
                };
                println!(
                    "{}{held}  {} bytes  arrived {}  next attempt {}  attempts {}  from {sender}",
                    e.id,
                    e.size,
                    age(e.arrival),
                    age(e.next_attempt),
                    e.attempts
                );
                for r in &e.pending {
                    match &r.last_reply {
                        Some(reply) => println!("    {}  ({reply})", r.address),
                        None => println!("    {}", r.address),
                    }
                }
            }
            println!("-- {} message(s) in the queue", entries.len());
        }
        QueueAction::Show { id } => {
            let (entry, content) = admin::show(&dir, &id)?;
            println!("id: {}", entry.id);
            println!("sender: <{}>", entry.sender);
            for r in &entry.pending {
                println!("pending: {}", r.address);
            }
            println!("held: {}", entry.held);
            if let Some(reason) = &entry.hold_reason {
                println!("hold reason: {reason}");
            }
            println!();
            print!("{}", String::from_utf8_lossy(&content));
        }
        QueueAction::Flush => {
            admin::request_flush(&dir)?;
            println!("flush requested: smtp-mta tries every queued message now");
        }
        QueueAction::Hold { id } => {
            admin::hold(&dir, &id)?;
            println!("{id} held");
        }
        QueueAction::Release { id } => {
            admin::release(&dir, &id)?;
            println!("{id} released");
        }
        QueueAction::Delete { id } => {
            admin::delete(&dir, &id)?;
            println!("{id} deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}
