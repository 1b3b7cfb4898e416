//! NAME
//!     mailbench — load generator of the mailstack benchmarks
//!
//! SYNOPSIS
//!     mailbench smtp --addr HOST:PORT --messages N --concurrency C --size 10k|2k-2M ...
//!     mailbench imap --addr HOST:PORT --user U --password P ...
//!     mailbench idle --addr HOST:PORT --connections K --server-pid PID ...
//!     mailbench maildir --dir PATH --count N ...
//!
//! DESCRIPTION
//!     Drives any SMTP/IMAP server on a loopback port (mailstack, Postfix + Dovecot) and prints
//!     one JSON object with the measurements; `benches/run` starts the servers and makes the
//!     table (docs/benchmarks.md).
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use mailbench::message::SizeSpec;

#[derive(Parser)]
#[command(
    name = "mailbench",
    about = "Load generator of the mailstack benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send N messages over C concurrent SMTP sessions; with --maildir-root wait for delivery.
    Smtp {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 1000)]
        messages: usize,
        #[arg(long, default_value_t = 10)]
        concurrency: usize,
        /// `10k`, or a log-uniform range `2k-2M`.
        #[arg(long, default_value = "10k")]
        size: SizeSpec,
        #[arg(long, default_value_t = 10)]
        users: usize,
        #[arg(long, default_value = "user")]
        user_prefix: String,
        #[arg(long, default_value = "bench.test")]
        domain: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        maildir_root: Option<PathBuf>,
        /// Seconds to wait for delivery.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Timed SELECT, FETCH 1:*, UID SEARCH HEADER and a large FETCH (cold, then warm rounds).
    Imap {
        #[arg(long)]
        addr: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        password: String,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        #[arg(long, default_value = "Subject")]
        header: String,
        #[arg(long, default_value = "needle-4242")]
        value: String,
        /// Bytes: the first message at least this large is fetched in full.
        #[arg(long, default_value_t = 5_000_000)]
        large: u64,
    },
    /// K connections in IDLE; server memory before and after.
    Idle {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        users: usize,
        #[arg(long, default_value = "user")]
        user_prefix: String,
        #[arg(long, default_value = "bench.test")]
        domain: String,
        #[arg(long)]
        password: String,
        #[arg(long, default_value_t = 50)]
        parallel: usize,
        #[arg(long)]
        server_pid: u32,
        /// Seconds to wait before measuring.
        #[arg(long, default_value_t = 2)]
        settle: u64,
    },
    /// Write a Maildir of `count` messages (identical for one seed).
    Maildir {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 100_000)]
        count: usize,
        /// Bytes of the large message.
        #[arg(long, default_value = "10M")]
        large: String,
        #[arg(long, default_value = "needle-4242")]
        needle: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// `uid:gid` owning the files.
        #[arg(long)]
        owner: Option<String>,
    },
}

fn main() -> Result<()> {
    mailbench::limits::raise_nofile();
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new()?;
    let json = match cli.cmd {
        Cmd::Smtp {
            addr,
            messages,
            concurrency,
            size,
            users,
            user_prefix,
            domain,
            seed,
            maildir_root,
            timeout,
        } => serde_json::to_string(&rt.block_on(mailbench::smtp::run(
            mailbench::smtp::SmtpOptions {
                addr,
                messages,
                concurrency,
                size,
                users,
                user_prefix,
                domain,
                seed,
                maildir_root,
                timeout: Duration::from_secs(timeout),
            },
        ))?)?,
        Cmd::Imap {
            addr,
            user,
            password,
            mailbox,
            rounds,
            header,
            value,
            large,
        } => serde_json::to_string(&rt.block_on(mailbench::imap::run(
            &mailbench::imap::ImapOptions {
                addr,
                user,
                password,
                mailbox,
                rounds,
                header,
                value,
                large,
            },
        ))?)?,
        Cmd::Idle {
            addr,
            connections,
            users,
            user_prefix,
            domain,
            password,
            parallel,
            server_pid,
            settle,
        } => serde_json::to_string(&rt.block_on(mailbench::idle::run(
            &mailbench::idle::IdleOptions {
                addr,
                connections,
                users,
                user_prefix,
                domain,
                password,
                parallel,
                server_pid,
                settle: Duration::from_secs(settle),
            },
        ))?)?,
        Cmd::Maildir {
            dir,
            count,
            large,
            needle,
            seed,
            owner,
        } => {
            let owner = owner
                .map(|o| -> Result<(u32, u32)> {
                    let (u, g) = o
                        .split_once(':')
                        .ok_or_else(|| anyhow::anyhow!("--owner wants uid:gid"))?;
                    Ok((u.parse()?, g.parse()?))
                })
                .transpose()?;
            let large = mailbench::message::parse_size(&large)?;
            serde_json::to_string(&mailbench::maildir::generate(
                &dir,
                &mailbench::maildir::MaildirOptions {
                    count,
                    large,
                    needle,
                    seed,
                    owner,
                },
            )?)?
        }
    };
    println!("{json}");
    Ok(())
}
