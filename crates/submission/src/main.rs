//! NAME
//!     submission — authenticated mail submission (RFC 6409) for Thunderbird, mutt, Evolution
//!     and Roundcube.
//!
//! SYNOPSIS
//!     submission [--config PATH] [--log-format text|json]
//!
//! DESCRIPTION
//!     Accepts mail from logged-in users only, checks that the envelope sender and the `From:`
//!     are theirs, applies per-user rate limits, completes `Message-ID:`/`Date:`, signs with
//!     DKIM and hands the message to smtp-mta's relay listener, answering `250` only after
//!     smtp-mta queued it. It keeps no queue of its own.
//!
//! LISTENS ON
//!     `[submission] listen` (default `[::]:587`, STARTTLS), `tls_listen` (default `[::]:465`,
//!     implicit TLS) and `admin_listen` (default 127.0.0.1:9587: /healthz /readyz /metrics).
//!
//! TALKS TO
//!     the directory (`[directory]`), smtp-mta's relay listener (`relay_address`), the DKIM
//!     keys in `dkim_dir`.
//!
//! SECURITY
//!     AUTH only over TLS (`538 5.7.11` before STARTTLS unless `allow_plaintext_auth`); failed
//!     logins are slowed per client address and per login name and the connection is closed
//!     after `max_auth_failures`; a user may send only as their own addresses (`553 5.7.1`).
//!
//! STANDARDS
//!     RFC 6409 (submission), RFC 8314 (implicit TLS), RFC 4954 (AUTH), RFC 4616 (PLAIN),
//!     RFC 3207 (STARTTLS), RFC 6376 (DKIM), RFC 3461 (DSN parameters passed on).
//!
//! CONFIGURATION
//!     `[submission]`, `[tls]`, `[directory]`: every key with its default is in docs/config.md.
//!     Environment: `MAILSTACK_LOG`, `MAILSTACK_<SECTION>__<KEY>` overrides.
//!
//! SEE ALSO
//!     smtp-mta(8), mailctl(8), docs/admin.md
fn main() -> std::process::ExitCode {
    mailstack_telemetry::run_service(
        "submission",
        "The submission server of mailstack (ports 587 and 465).",
        |config, shutdown| async move {
            mailstack_smtp::service::run_submission(&config, shutdown).await
        },
    )
}
