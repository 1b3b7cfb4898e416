//! NAME
//!     imap-server — IMAP4rev1/IMAP4rev2 over the mailstack store, for Thunderbird, mutt,
//!     Evolution and Roundcube, and ManageSieve for their Sieve filters.
//!
//! SYNOPSIS
//!     imap-server [--config PATH] [--log-format text|json]
//!
//! DESCRIPTION
//!     Serves the users' Maildir++ folders (Dovecot's layout: a Dovecot Maildir copied in is
//!     served with the same UIDs) with logins against the directory. One task per connection,
//!     no process or thread per client; one inotify watcher for the whole process tells idling
//!     clients about new mail within a second of its delivery by lmtp-mda. ManageSieve
//!     (RFC 5804) runs in the same process on its own listener: users' Sieve scripts are stored
//!     in Dovecot Pigeonhole's layout in their homes, and lmtp-mda runs them at delivery.
//!
//! LISTENS ON
//!     `[imap] listen` (default `[::]:143`, STARTTLS), `tls_listen` (default `[::]:993`,
//!     implicit TLS) and `admin_listen` (default 127.0.0.1:9143: /healthz /readyz /metrics,
//!     ManageSieve's included); `[managesieve] listen` (default `[::]:4190`, STARTTLS) and
//!     `tls_listen` (default none).
//!
//! TALKS TO
//!     the directory (`[directory]`), the store (`[store] root`: Maildirs, and Sieve scripts in
//!     `<home>/sieve/`, the active one linked from `<home>/.dovecot.sieve`).
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
//!     in CAPABILITY, listed in docs/admin.md. RFC 5804 (ManageSieve).
//!
//! CONFIGURATION
//!     `[imap]`, `[managesieve]`, `[store]`, `[tls]`, `[directory]`: every key with its default is in
//!     docs/config.md (`mailctl config defaults`). Environment: `MAILSTACK_LOG`,
//!     `MAILSTACK_<SECTION>__<KEY>` overrides.
//!
//! SEE ALSO
//!     lmtp-mda(8), mailctl(8), docs/admin.md, docs/sieve.md
use mailstack_imap::service::{Shared, run_imap_with};
use mailstack_managesieve::service::run_managesieve;

/// Why imap-server stopped with an error.
#[derive(Debug, thiserror::Error)]
enum ServerError {
    #[error(transparent)]
    Imap(#[from] mailstack_imap::service::ServiceError),
    #[error(transparent)]
    ManageSieve(#[from] mailstack_managesieve::service::ServiceError),
}

fn main() -> std::process::ExitCode {
    mailstack_telemetry::run_service(
        "imap-server",
        "The IMAP and ManageSieve server of mailstack.",
        |config, shutdown| async move {
            let shared = Shared::open(&config).await?;
            let sieve = mailstack_managesieve::service::Shared {
                directory: shared.directory.clone(),
                store: shared.store.clone(),
                metrics: shared.metrics.clone(),
                readiness: shared.readiness.clone(),
                throttle: shared.throttle.clone(),
            };
            // One service failing to start stops the other: the error is seen at once.
            let (imap, managesieve) = tokio::join!(
                async {
                    let r = run_imap_with(&config, shutdown.clone(), shared).await;
                    if r.is_err() {
                        shutdown.trigger();
                    }
                    r
                },
                async {
                    let r = run_managesieve(&config, shutdown.clone(), sieve).await;
                    if r.is_err() {
                        shutdown.trigger();
                    }
                    r
                },
            );
            imap?;
            managesieve?;
            Ok::<(), ServerError>(())
        },
    )
}
