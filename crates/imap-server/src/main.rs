//! NAME
//!     imap-server — IMAP4rev1/IMAP4rev2 over the mailstack store, for Thunderbird, mutt,
//!     Evolution and Roundcube.
//!
//! SYNOPSIS
//!     imap-server [--config PATH] [--log-format text|json]
//!
//! DESCRIPTION
//!     Serves the users' Maildir++ folders (Dovecot's layout: a Dovecot Maildir copied in is
//!     served with the same UIDs) with logins against the directory. One task per connection,
//!     no process or thread per client; one inotify watcher for the whole process tells idling
//!     clients about new mail within a second of its delivery by lmtp-mda.
//!
//! LISTENS ON
//!     `[imap] listen` (default `[::]:143`, STARTTLS), `tls_listen` (default `[::]:993`,
//!     implicit TLS) and `admin_listen` (default 127.0.0.1:9143: /healthz /readyz /metrics).
//!
//! TALKS TO
//!     the directory (`[directory]`), the store (`[store] root`).
//!
//! SECURITY
//!     Passwords only over TLS (`LOGINDISABLED` before STARTTLS unless
//!     `allow_plaintext_auth`); failed logins are slowed per client address and per login name;
//!     command lines, literals, nesting and connections (total and per IP) are bounded;
//!     mailbox names that would leave the user's Maildir are refused. Run as an unprivileged
//!     user that owns the store (port 143/993 need CAP_NET_BIND_SERVICE).
//!
//! STANDARDS
//!     RFC 3501 (IMAP4rev1), RFC 9051 (IMAP4rev2), RFC 8314 (implicit TLS), RFC 4978
//!     (COMPRESS), RFC 2177 (IDLE), RFC 4616 (SASL PLAIN); the extensions the session announces
//!     in CAPABILITY, listed in docs/admin.md.
//!
//! CONFIGURATION
//!     `[imap]`, `[store]`, `[tls]`, `[directory]`: every key with its default is in
//!     docs/config.md (`mailctl config defaults`). Environment: `MAILSTACK_LOG`,
//!     `MAILSTACK_<SECTION>__<KEY>` overrides.
//!
//! SEE ALSO
//!     lmtp-mda(8), mailctl(8), docs/admin.md
fn main() -> std::process::ExitCode {
    mailstack_telemetry::run_service(
        "imap-server",
        "The IMAP server of mailstack.",
        |config, shutdown| async move { mailstack_imap::service::run_imap(&config, shutdown).await },
    )
}
