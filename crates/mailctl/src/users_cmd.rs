//! `mailctl user|alias|group|auth`: edits of the static users file (under its lock, validated,
//! written atomically) and login checks against the configured directory.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use mailstack_directory::AuthOutcome;
use mailstack_directory::password::hash_password;
use mailstack_directory::static_file::{UsersFile, edit_users_file, parse_quota};

use crate::cli::{AliasAction, AuthAction, GroupAction, PasswordInput, UserAction};
use crate::config_cmd;

fn users_file(config: &Path) -> anyhow::Result<PathBuf> {
    let cfg = config_cmd::load(config)?;
    if cfg.directory.backend != "static" {
        bail!(
            "the directory backend is {:?}: users are managed there, not by mailctl",
            cfg.directory.backend
        );
    }
    Ok(PathBuf::from(cfg.directory.users_file))
}

/// Read a password: first line of stdin with `--password-stdin`, else a prompt (twice).
fn read_password(input: &PasswordInput, confirm: bool) -> anyhow::Result<String> {
    let pw = if input.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let pw = rpassword::prompt_password("Password: ")
            .context("cannot read the password (no terminal? use --password-stdin)")?;
        if confirm {
            let again = rpassword::prompt_password("Password again: ")?;
            if again != pw {
                bail!("the passwords differ");
            }
        }
        pw
    };
    if pw.is_empty() {
        bail!("empty password");
    }
    Ok(pw)
}

pub(crate) fn user(config: &Path, action: UserAction) -> anyhow::Result<ExitCode> {
    let path = users_file(config)?;
    match action {
        UserAction::Add {
            address,
            quota,
            password,
        } => {
            let quota = quota.map(|q| parse_quota(&q)).transpose()?;
            let phc = hash_password(&read_password(&password, true)?)?;
            edit_users_file(&path, |f| f.add_user(&address, &phc, quota))?;
            println!("added {address}");
        }
        UserAction::Del { address } => {
            edit_users_file(&path, |f| f.remove_user(&address))?;
            println!("removed {address} (mail in the store is kept)");
        }
        UserAction::Passwd { address, password } => {
            let phc = hash_password(&read_password(&password, true)?)?;
            edit_users_file(&path, |f| f.set_password(&address, &phc))?;
            println!("password of {address} changed");
        }
        UserAction::List => {
            let f = UsersFile::load(&path)?;
            for u in f.users() {
                let quota = u.quota.map_or("unlimited".to_string(), |q| q.0.to_string());
                let mut line = format!("{}\tquota={quota}", u.address);
                if !u.aliases.is_empty() {
                    line.push_str(&format!("\taliases={}", u.aliases.join(",")));
                }
                if u.disabled {
                    line.push_str("\tdisabled");
                }
                println!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn alias(config: &Path, action: AliasAction) -> anyhow::Result<ExitCode> {
    let path = users_file(config)?;
    match action {
        AliasAction::Add { address, targets } => {
            edit_users_file(&path, |f| f.add_alias(&address, &targets))?;
            println!("added alias {address} -> {}", targets.join(", "));
        }
        AliasAction::Del { address } => {
            edit_users_file(&path, |f| f.remove_alias(&address))?;
            println!("removed alias {address}");
        }
        AliasAction::List => {
            let f = UsersFile::load(&path)?;
            for a in f.aliases() {
                println!("{}\t{}", a.address, a.targets.join(","));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn group(config: &Path, action: GroupAction) -> anyhow::Result<ExitCode> {
    let path = users_file(config)?;
    match action {
        GroupAction::Add { address, members } => {
            edit_users_file(&path, |f| f.add_group(&address, &members))?;
            println!("added group {address} ({} members)", members.len());
        }
        GroupAction::Del { address } => {
            edit_users_file(&path, |f| f.remove_group(&address).map(|_| ()))?;
            println!("removed group {address}");
        }
        GroupAction::List => {
            let f = UsersFile::load(&path)?;
            for g in f.groups() {
                println!("{}\t{}", g.address, g.members.join(","));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn auth(config: &Path, action: AuthAction) -> anyhow::Result<ExitCode> {
    let AuthAction::Test { login, password } = action;
    let cfg = config_cmd::load(config)?;
    let pw = read_password(&password, false)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let dir = mailstack_smtp::service::open_directory(&cfg)?;
        match dir.authenticate(&login, &pw).await {
            Ok(AuthOutcome::Accepted(user)) => {
                println!("accepted: {} ({})", user.address, dir.describe());
                Ok(ExitCode::SUCCESS)
            }
            Ok(AuthOutcome::Rejected) => {
                println!("rejected ({})", dir.describe());
                Ok(ExitCode::from(1))
            }
            Err(e) => {
                eprintln!("directory failure: {e}");
                Ok(ExitCode::from(2))
            }
        }
    })
}
