//! NAME
//!     mailctl — the administrator's tool for mailstack.
//!
//! SYNOPSIS
//!     mailctl [--config PATH] <command> ...
//!     mailctl up                      run the whole stack here with the embedded defaults
//!     mailctl config check|defaults|reference
//!     mailctl user add|del|passwd|list      mailctl alias add|del|list      mailctl group add|del|list
//!     mailctl auth test LOGIN         mailctl directory test ADDRESS
//!     mailctl mailbox status|messages ADDRESS
//!     mailctl queue list|show ID|flush|hold ID|release ID|delete ID
//!     mailctl dkim keygen DOMAIN [--selector S] [--algo rsa|ed25519] [--activate]
//!     mailctl dkim activate DOMAIN SELECTOR...   mailctl dkim show DOMAIN [--selector S]
//!     mailctl dns DOMAIN [--mx HOST]
//!     mailctl web                     serve autoconfig, autodiscover and the MTA-STS policy
//!
//! DESCRIPTION
//!     Edits the static users file safely (lock, validate, atomic rename), checks the config,
//!     inspects mailboxes, and runs every service in one process for a first try (`up`).
//!     Passwords are read from a prompt or `--password-stdin`, never from the command line.
//!
//! LISTENS ON
//!     nothing, except under `mailctl up` (the dev ports of every service) and `mailctl web`
//!     (`[web] listen`, HTTP).
//!
//! TALKS TO
//!     the config file, the users file (`[directory] users_file`), the store (`[store] root`),
//!     smtp-mta's spool (`[queue] dir`), the DKIM keys (`[submission] dkim_dir`).
//!
//! SECURITY
//!     Run as the user owning the users file and the store. Writes the users file with mode 0600,
//!     DKIM private keys with mode 0600 (run `dkim keygen` as the user submission runs as).
//!
//! CONFIGURATION
//!     `--config` (default /etc/mailstack/mailstack.toml; when that does not exist and
//!     ./var/mailstack.toml does, that one: the `mailctl up` layout).
//!
//! SEE ALSO
//!     lmtp-mda(8), docs/admin.md, docs/config.md
mod cli;
mod config_cmd;
mod dkim_cmd;
mod dns_cmd;
mod mailbox_cmd;
mod queue_cmd;
mod up;
mod users_cmd;
mod web_cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Args::parse();
    let config = args.config_path();
    let result = match args.command {
        cli::Command::Up(up) => up::run(&config, up, args.log_format),
        cli::Command::Config { action } => config_cmd::run(&config, action),
        cli::Command::User { action } => users_cmd::user(&config, action),
        cli::Command::Alias { action } => users_cmd::alias(&config, action),
        cli::Command::Group { action } => users_cmd::group(&config, action),
        cli::Command::Auth { action } => users_cmd::auth(&config, action),
        cli::Command::Directory { action } => users_cmd::directory(&config, action),
        cli::Command::Mailbox { action } => mailbox_cmd::run(&config, action),
        cli::Command::Queue { action } => queue_cmd::run(&config, action),
        cli::Command::Dkim { action } => dkim_cmd::run(&config, action),
        cli::Command::Dns(dns) => dns_cmd::run(&config, dns),
        cli::Command::Web => web_cmd::run(&config, args.log_format),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mailctl: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
