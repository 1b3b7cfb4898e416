//! Checking a script before it is stored (PUTSCRIPT, CHECKSCRIPT, SETACTIVE) with the
//! interpreter's own compiler, so that what ManageSieve accepts is exactly what delivery runs.

/// Compile `source`: `Ok(warnings)`, or the error as `line 3, column 7: ...` (clients show the
/// position, RFC 5804 §2.6 leaves the text to the server).
pub(crate) fn check(source: &str, limits: &mailstack_sieve::Limits) -> Result<Vec<String>, String> {
    match mailstack_sieve::compile(source, limits) {
        Ok(_) => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}

/// The interpreter's limits for checking uploads: `[managesieve] max_script_size`, and the
/// redirect and action limits delivery runs with (`[lmtp_mda]`), announced as MAXREDIRECTS.
pub(crate) fn limits(config: &mailstack_config::Config) -> mailstack_sieve::Limits {
    let mut limits = mailstack_sieve::Limits::default();
    limits.max_script_bytes = config.managesieve.max_script_size.bytes() as usize;
    limits.max_redirects = config.lmtp_mda.sieve_max_redirects;
    limits.max_actions = config.lmtp_mda.sieve_max_actions;
    limits
}
