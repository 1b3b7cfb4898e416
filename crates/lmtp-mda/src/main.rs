//! NAME
//!     lmtp-mda — the LMTP delivery agent: writes mail into the Maildir++ store.
//!
//! SYNOPSIS
//!     lmtp-mda [--config PATH] [--log-format text|json]
//!
//! DESCRIPTION
//!     Speaks LMTP (RFC 2033) to smtp-mta (or Postfix). Each RCPT is resolved in the directory
//!     (aliases, groups, `user+tag`, catch-all) and answered at once; after DATA there is one
//!     reply per accepted recipient. A message is in new/ and fsynced (file and directory)
//!     before its `250`. Directory or disk trouble is a `4xx`, so the MTA keeps the mail queued.
//!
//! LISTENS ON
//!     `[lmtp_mda] listen` (default `[::]:24`; `unix:/path` for a unix socket), and the admin
//!     HTTP listener `[lmtp_mda] admin_listen` (default 127.0.0.1:9024: /healthz /readyz /metrics).
//!
//! TALKS TO
//!     the directory (`[directory]`: the static users file), the store (`[store] root`: Maildir++
//!     files, `maildirsize`, `dovecot-uidlist` and the SQLite index of each mailbox).
//!
//! SECURITY
//!     Reads untrusted input from its LMTP peers: command lines are bounded
//!     (`max_line_length`), messages are bounded (`max_message_size`), bare CR/LF are refused
//!     by default, mailbox paths are validated by the store. Run it as the mail user that owns
//!     the store; it needs no other privilege (use a port above 1024 or a unix socket).
//!
//! STANDARDS
//!     RFC 2033 (LMTP), RFC 5321 (SMTP), RFC 2920 (PIPELINING), RFC 6152 (8BITMIME),
//!     RFC 2034 / RFC 3463 (enhanced status codes), RFC 1870 (SIZE).
//!
//! CONFIGURATION
//!     `[lmtp_mda]`, `[directory]`, `[store]`, `[server]`: every key with its default is in
//!     docs/config.md (`mailctl config defaults`). Environment: `MAILSTACK_LOG` (default
//!     `info`), `MAILSTACK_<SECTION>__<KEY>` overrides.
//!
//! SEE ALSO
//!     mailctl(8), docs/admin.md, docs/config.md
fn main() -> std::process::ExitCode {
    mailstack_telemetry::run_service(
        "lmtp-mda",
        "The LMTP delivery agent of mailstack: writes mail into the Maildir++ store.",
        |config, shutdown| async move { mailstack_smtp::service::run_lmtp(&config, shutdown).await },
    )
}
