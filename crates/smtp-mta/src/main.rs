//! NAME
//!     smtp-mta — the MX: inbound SMTP for the local domains, the durable queue, delivery of
//!     local mail to lmtp-mda over LMTP and of other mail to the world over SMTP.
//!
//! SYNOPSIS
//!     smtp-mta [--config PATH] [--log-format text|json]
//!
//! DESCRIPTION
//!     Accepts mail on port 25 for the local domains' known users only (`550 5.1.1` for
//!     unknown users, `554 5.7.1` for other domains: never an open relay), checks SPF, DKIM,
//!     DMARC and ARC and records them in `Authentication-Results:`, adds `Received:` (with the
//!     TLS details), and answers `250` only once the message is fsynced in the queue. The queue
//!     delivers local recipients to lmtp-mda and the others to their domain's MX hosts (or a
//!     smarthost) with STARTTLS, MTA-STS and DANE, retrying temporary failures with backoff and
//!     returning permanent failures and expired messages to the sender as DSNs (RFC 3464). The
//!     internal relay listener accepts mail for any domain from trusted networks (submission
//!     hands mail in there).
//!
//! LISTENS ON
//!     `[smtp_mta] listen` (default `[::]:25`), `relay_listen` (default 127.0.0.1:10025, for
//!     `relay_networks` only) and `admin_listen` (default 127.0.0.1:9025: /healthz /readyz
//!     /metrics).
//!
//! TALKS TO
//!     the directory (`[directory]`), the queue spool (`[queue] dir`), lmtp-mda
//!     (`[smtp_mta] lmtp_address`), DNS for SPF/DKIM/DMARC/ARC, MX, TLSA and MTA-STS
//!     (`dns_resolver`, default the system resolver; DANE needs a validating one such as
//!     unbound), remote MX hosts on port 25 and `mta-sts.DOMAIN` over HTTPS, and the milters
//!     of `[smtp_mta] milters` / `relay_milters` (rspamd, clamav-milter...) over TCP or unix
//!     sockets, one connection per SMTP connection (Sendmail milter protocol 6).
//!
//! SECURITY
//!     Reads untrusted input from the Internet: command lines, message size, recipients,
//!     errors, junk commands, connections (total and per IP) and idle time are bounded; bare CR
//!     or LF in DATA is refused (SMTP smuggling); input pipelined before STARTTLS is discarded
//!     (CVE-2011-0411). Port 25 needs CAP_NET_BIND_SERVICE (the container grants it); run as an
//!     unprivileged user owning the queue directory.
//!
//! STANDARDS
//!     RFC 5321 (SMTP), RFC 3207 (STARTTLS), RFC 2920 (PIPELINING), RFC 6152 (8BITMIME),
//!     RFC 6531 (SMTPUTF8), RFC 1870 (SIZE), RFC 3030 (CHUNKING), RFC 3461/3464 (DSN),
//!     RFC 3463 (enhanced status codes), RFC 7208 (SPF), RFC 6376 (DKIM), RFC 7489 (DMARC),
//!     RFC 8617 (ARC), RFC 8601 (Authentication-Results), RFC 2033 (LMTP, as a client),
//!     RFC 7505 (null MX), RFC 8461 (MTA-STS), RFC 7672 (DANE for SMTP), RFC 4954 (AUTH to a
//!     smarthost); the Sendmail milter protocol, version 6 (libmilter, Postfix `milter8.c`).
//!
//! CONFIGURATION
//!     `[smtp_mta]`, `[queue]`, `[tls]`, `[directory]`, `[server]`: every key with its default
//!     is in docs/config.md (`mailctl config defaults`). Environment: `MAILSTACK_LOG`,
//!     `MAILSTACK_<SECTION>__<KEY>` overrides.
//!
//! SEE ALSO
//!     lmtp-mda(8), mailctl(8) (`mailctl queue ...`), docs/admin.md
fn main() -> std::process::ExitCode {
    mailstack_telemetry::run_service(
        "smtp-mta",
        "The MX of mailstack: inbound SMTP, the durable queue, delivery over LMTP.",
        |config, shutdown| async move { mailstack_smtp::service::run_smtp_mta(&config, shutdown).await },
    )
}
