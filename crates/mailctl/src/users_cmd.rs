//! `mailctl user|alias|group|auth`: edits of the static users file (under its lock, validated,
//! written atomically) and login checks against the configured directory.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use mailstack_directory::AuthOutcome;
use mailstack_directory::password::hash_password;
use mailstack_directory::static_file::{UsersFile, edit_users_file, parse_quota};

use crate::cli::{
    AliasAction, AuthAction, DirectoryAction, GroupAction, PasswordInput, UserAction,
};
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
        let dir = mailstack_smtp::service::open_directory(&cfg).await?;
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

pub(crate) fn directory(config: &Path, action: DirectoryAction) -> anyhow::Result<ExitCode> {
    let DirectoryAction::Test { address } = action;
    let cfg = config_cmd::load(config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let dir = mailstack_smtp::service::open_directory(&cfg).await?;
        let answered = |dir: &dyn mailstack_directory::Directory| {
            dir.last_server().unwrap_or_else(|| dir.describe())
        };
        let normalized = match mailstack_directory::normalize_address(&address) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(1));
            }
        };
        let entry = match dir.lookup(&normalized).await {
            Ok(e) => e,
            Err(e) => {
                eprintln!("directory failure: {e} ({})", answered(dir.as_ref()));
                return Ok(ExitCode::from(2));
            }
        };
        match &entry {
            Some(mailstack_directory::Entry::User(u)) => {
                println!("{normalized}: user {}", u.address)
            }
            Some(mailstack_directory::Entry::Alias(t)) => {
                println!("{normalized}: alias -> {}", t.join(", "))
            }
            Some(mailstack_directory::Entry::Group(m)) => {
                println!("{normalized}: group of {}", m.join(", "))
            }
            None => {
                println!("{normalized}: no entry of its own (subaddress and catch-all rules apply)")
            }
        }
        let limits = mailstack_directory::ExpandLimits {
            max_depth: cfg.directory.max_expansion_depth,
            ..Default::default()
        };
        let x = match mailstack_directory::expand(dir.as_ref(), &normalized, &limits).await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("directory failure: {e} ({})", answered(dir.as_ref()));
                return Ok(ExitCode::from(2));
            }
        };
        for (u, via) in &x.users {
            let quota = u
                .quota_bytes
                .map_or("unlimited".to_string(), |q| q.to_string());
            println!(
                "  delivers to {} (via {via}; uid {}; quota {quota}; host {}; aliases {})",
                u.address,
                u.uid.as_deref().unwrap_or("-"),
                u.host.as_deref().unwrap_or("this node"),
                if u.aliases.is_empty() {
                    "-".to_string()
                } else {
                    u.aliases.join(",")
                },
            );
        }
        for r in &x.remote {
            println!("  remote target {r}");
        }
        for u in &x.unknown {
            println!("  unknown {u}");
        }
        if x.truncated {
            println!("  (expansion truncated by the depth or recipient limit)");
        }
        println!("answered by {}", answered(dir.as_ref()));
        Ok(if x.users.is_empty() && x.remote.is_empty() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}
