//! `mailctl dkim keygen|activate|show`: the DKIM keys submission signs with, in
//! `<[submission] dkim_dir>/<domain>/<selector>.key` (PKCS#8 PEM, mode 0600) and the active
//! selector in `<dkim_dir>/<domain>/selector`; prints the DNS TXT record to publish.
//!
//! Keys are written atomically (temporary file, fsync, hard link to the final name, which fails
//! when the name exists: a key is never overwritten) and the selector file is replaced by
//! rename. submission notices a new selector within 10 seconds, without a restart.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use mailstack_smtp::dkim::{self, KeyAlgorithm, KeyFile};

use crate::cli::{DkimAction, DkimAlgo};
use crate::dns_cmd::txt_record;

pub(crate) fn run(config: &Path, action: DkimAction) -> anyhow::Result<ExitCode> {
    let cfg = crate::config_cmd::load(config)?;
    let dir = PathBuf::from(&cfg.submission.dkim_dir);
    match action {
        DkimAction::Keygen {
            domain,
            selector,
            algo,
            activate,
        } => keygen(&dir, &domain, selector, algo, activate),
        DkimAction::Activate {
            domain,
            selectors,
            force,
            resolver,
        } => activate_cmd(&dir, &domain, &selectors, force, resolver.as_deref()),
        DkimAction::Show { domain, selector } => show(&dir, &domain, selector),
    }
}

/// The domain as a key directory name: lower case, without a trailing dot, checked.
pub(crate) fn domain_arg(raw: &str) -> anyhow::Result<String> {
    let domain = raw.trim_end_matches('.').to_ascii_lowercase();
    if !dkim::is_valid_domain(&domain) {
        bail!(
            "{raw:?} is not a domain name (letters, digits and '-' in labels separated by '.'; \
             internationalized names in their xn-- form)"
        );
    }
    Ok(domain)
}

fn selector_arg(raw: &str) -> anyhow::Result<String> {
    let selector = raw.to_ascii_lowercase();
    if !dkim::is_valid_selector(&selector) {
        bail!(
            "{raw:?} is not a DKIM selector (letters, digits and '-' in labels separated by '.')"
        );
    }
    Ok(selector)
}

/// `s202611` (RSA) or `e202611` (Ed25519): the key type and the month it was made, so that a
/// monthly or yearly rotation never reuses a name.
pub(crate) fn default_selector(algorithm: KeyAlgorithm, now: SystemTime) -> String {
    let days = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64 / 86_400;
    let (year, month) = year_month(days);
    let prefix = match algorithm {
        KeyAlgorithm::Rsa => 's',
        KeyAlgorithm::Ed25519 => 'e',
    };
    format!("{prefix}{year:04}{month:02}")
}

/// Year and month of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
fn year_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month)
}

fn keygen(
    dir: &Path,
    domain: &str,
    selector: Option<String>,
    algo: DkimAlgo,
    activate: bool,
) -> anyhow::Result<ExitCode> {
    let domain = domain_arg(domain)?;
    let algorithm = match algo {
        DkimAlgo::Rsa => KeyAlgorithm::Rsa,
        DkimAlgo::Ed25519 => KeyAlgorithm::Ed25519,
    };
    let selector = match selector {
        Some(s) => selector_arg(&s)?,
        None => default_selector(algorithm, SystemTime::now()),
    };
    let key_path = dkim::key_path(dir, &domain, &selector);
    if key_path.exists() {
        bail!(
            "{} exists: a key is never overwritten (choose another --selector)",
            key_path.display()
        );
    }
    // A selector file that cannot be read is left alone unless --activate replaces it.
    let previous = match dkim::active_selectors(dir, &domain) {
        Ok(previous) => previous,
        Err(e) if activate => {
            eprintln!("mailctl: warning: {e} (replaced)");
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    let generated = dkim::generate_key(algorithm)?;
    let domain_dir = dir.join(&domain);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&domain_dir)
        .with_context(|| format!("cannot create {}", domain_dir.display()))?;
    write_new(&key_path, generated.pem.as_bytes())?;

    let selector_path = dkim::selector_path(dir, &domain);
    // Only the first key of a domain (no selector file yet) becomes active by itself; an empty
    // selector file means the administrator stopped signing on purpose.
    let now_active = activate || !selector_path.exists();
    let key = &generated.key;
    println!(
        "; DKIM key of {domain}, selector {selector}: {}, written to {}",
        describe(key),
        key_path.display()
    );
    if now_active {
        // The new key takes the place of the active key of its type; others keep signing.
        let mut active = Vec::new();
        let mut replaced = Vec::new();
        for old in previous {
            match KeyFile::read(&dkim::key_path(dir, &domain, &old)) {
                Ok(k) if k.algorithm() != algorithm => active.push(old),
                _ => replaced.push(old),
            }
        }
        active.push(selector.clone());
        write_selectors(&selector_path, &active)?;
        if replaced.is_empty() {
            println!(
                "; active: submission signs with it within 10 s. Publish the record below now."
            );
        } else {
            let replaced = replaced.join(", ");
            println!(
                "; active now instead of {replaced}: submission signs with it within 10 s. \
                 Publish the record below at once; keep the old record for a week."
            );
        }
    } else {
        let now = match previous.as_slice() {
            [] => "no key signs now".to_string(),
            keys => format!("{} signs", keys.join(", ")),
        };
        println!(
            "; not active ({now}). Publish the record below, wait until it is visible, then: \
             mailctl dkim activate {domain} SELECTOR... (the keys that shall sign)"
        );
    }
    if algorithm == KeyAlgorithm::Ed25519 {
        println!(
            "; Ed25519 (RFC 8463) is not verified by every receiver yet: sign with an RSA key \
             too (publish both records, activate both selectors)."
        );
    }
    print!(
        "{}",
        txt_record(&dkim_name(&selector, &domain), &key.dns_record())
    );
    Ok(ExitCode::SUCCESS)
}

fn write_selectors(path: &Path, selectors: &[String]) -> anyhow::Result<()> {
    replace(path, format!("{}\n", selectors.join(" ")).as_bytes(), 0o644)
}

fn activate_cmd(
    dir: &Path,
    domain: &str,
    selectors: &[String],
    force: bool,
    resolver: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let domain = domain_arg(domain)?;
    if selectors.len() > dkim::MAX_ACTIVE {
        bail!("at most {} keys sign at once", dkim::MAX_ACTIVE);
    }
    let mut keys = Vec::new();
    for selector in selectors {
        let selector = selector_arg(selector)?;
        if keys.iter().any(|(s, _)| *s == selector) {
            continue;
        }
        let key = KeyFile::read(&dkim::key_path(dir, &domain, &selector))?;
        keys.push((selector, key));
    }
    if !force {
        let problems = crate::dns_cmd::unpublished(&domain, &keys, resolver)?;
        if !problems.is_empty() {
            bail!(
                "not activated: receivers could not verify the signatures yet:\n  {}\n\
                 Publish the records (mailctl dkim show {domain} --selector S), wait for them to \
                 be visible, and run this again (--force skips the check).",
                problems.join("\n  ")
            );
        }
    }
    let names: Vec<String> = keys.iter().map(|(s, _)| s.clone()).collect();
    write_selectors(&dkim::selector_path(dir, &domain), &names)?;
    println!(
        "; {domain}: {} active; submission signs with it within 10 s. The records must be \
         published:",
        names.join(" and ")
    );
    for (selector, key) in &keys {
        println!("; selector {selector}: {}", describe(key));
        print!(
            "{}",
            txt_record(&dkim_name(selector, &domain), &key.dns_record())
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn show(dir: &Path, domain: &str, selector: Option<String>) -> anyhow::Result<ExitCode> {
    let domain = domain_arg(domain)?;
    let active = dkim::active_selectors(dir, &domain)?;
    let selectors = match selector {
        Some(s) => vec![selector_arg(&s)?],
        None if active.is_empty() => bail!(
            "{domain} has no active DKIM key in {} (create one: mailctl dkim keygen {domain})",
            dir.join(&domain).display()
        ),
        None => active.clone(),
    };
    for selector in selectors {
        let key = KeyFile::read(&dkim::key_path(dir, &domain, &selector))?;
        let state = if active.contains(&selector) {
            "active"
        } else {
            "not active"
        };
        println!(
            "; DKIM key of {domain}, selector {selector}: {}, {state}",
            describe(&key)
        );
        print!(
            "{}",
            txt_record(&dkim_name(&selector, &domain), &key.dns_record())
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn describe(key: &KeyFile) -> String {
    match key.algorithm() {
        KeyAlgorithm::Rsa => format!("rsa-{}", key.bits()),
        KeyAlgorithm::Ed25519 => "ed25519".to_string(),
    }
}

/// `<selector>._domainkey.<domain>.`
pub(crate) fn dkim_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}.")
}

/// A temporary file next to `path`, created with `mode`.
fn write_temp(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<PathBuf> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let written = file.write_all(data).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", tmp.display()));
    }
    Ok(tmp)
}

fn sync_dir(path: &Path) {
    if let Some(parent) = path.parent()
        && let Ok(dir) = fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

/// Writes a new file atomically; fails if `path` exists (also when another run raced us).
fn write_new(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let tmp = write_temp(path, data, 0o600)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(path);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} exists: a key is never overwritten (choose another --selector)",
            path.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
    }
}

/// Replaces a file atomically (rename over it).
fn replace(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = write_temp(path, data, mode)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot replace {}", path.display()));
    }
    sync_dir(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn default_selectors_name_type_and_month() {
        // 2026-11-26 and the last second of 2026-02-28 / first of 2024-03-01 (leap year).
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(
            default_selector(KeyAlgorithm::Rsa, at(1_795_685_014)),
            "s202611"
        );
        assert_eq!(
            default_selector(KeyAlgorithm::Ed25519, at(1_772_323_199)),
            "e202602"
        );
        assert_eq!(
            default_selector(KeyAlgorithm::Rsa, at(1_709_251_200)),
            "s202403"
        );
        assert_eq!(default_selector(KeyAlgorithm::Rsa, at(0)), "s197001");
    }

    #[test]
    fn domains_are_normalized_and_checked() {
        assert_eq!(domain_arg("Example.COM.").unwrap(), "example.com");
        for bad in ["../x", "a/b", "..", "", "exa mple.com", "a..b"] {
            assert!(domain_arg(bad).is_err(), "{bad:?}");
        }
    }
}
