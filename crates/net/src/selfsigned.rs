//! Self-signed certificates for a first start (`mailctl up`) and tests.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::NetError;

/// Generates a self-signed certificate for `hostnames` (subject alternative
/// names; `localhost` when empty) and writes it to `cert_path` (mode 0644)
/// and its private key to `key_path` (mode 0600), creating parent
/// directories. Each file is written to a temporary name and renamed, so a
/// reader (such as a [`ReloadingTlsAcceptor`](crate::ReloadingTlsAcceptor))
/// never sees half a file. Existing files are replaced; the key is written
/// first.
pub fn generate_self_signed(
    hostnames: &[String],
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), NetError> {
    let names = if hostnames.is_empty() {
        vec!["localhost".to_owned()]
    } else {
        hostnames.to_vec()
    };
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)?;
    write_atomically(key_path, signing_key.serialize_pem().as_bytes(), 0o600)?;
    write_atomically(cert_path, cert.pem().as_bytes(), 0o644)?;
    tracing::info!(cert = %cert_path.display(), key = %key_path.display(), ?hostnames, "generated a self-signed certificate");
    Ok(())
}

/// Generates a self-signed certificate with [`generate_self_signed`] unless
/// both files already exist. Returns whether it generated one. When only one
/// of the two exists (an interrupted earlier run), both are regenerated and
/// a warning is logged.
pub fn ensure_self_signed(
    hostnames: &[String],
    cert_path: &Path,
    key_path: &Path,
) -> Result<bool, NetError> {
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => Ok(false),
        (false, false) => generate_self_signed(hostnames, cert_path, key_path).map(|()| true),
        (cert, _) => {
            let (present, missing) = if cert {
                (cert_path, key_path)
            } else {
                (key_path, cert_path)
            };
            tracing::warn!(
                present = %present.display(),
                missing = %missing.display(),
                "incomplete certificate pair; generating a new self-signed pair"
            );
            generate_self_signed(hostnames, cert_path, key_path).map(|()| true)
        }
    }
}

fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), NetError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|source| NetError::Write {
            path: dir.to_owned(),
            source,
        })?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // `mode` above is filtered by the umask; set it exactly.
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|source| {
        let _ = fs::remove_file(&tmp);
        NetError::Write {
            path: path.to_owned(),
            source,
        }
    })
}
