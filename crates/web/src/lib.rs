//! # mailstack-web
//!
//! The small HTTP service that lets mail clients and other mail servers find and trust us,
//! run as `mailctl web` behind Traefik (dcape) or any reverse proxy that terminates HTTPS:
//!
//! | path | for | standard |
//! |---|---|---|
//! | `/mail/config-v1.1.xml`, `/.well-known/autoconfig/mail/config-v1.1.xml` | Thunderbird, Evolution, K-9 | Mozilla autoconfig |
//! | `/autodiscover/autodiscover.xml` (GET or POST, any case) | Outlook | POX autodiscover |
//! | `/.well-known/mta-sts.txt` | sending MTAs | RFC 8461 |
//! | `/healthz`, `/readyz` | container health checks | |
//!
//! The answers are built from `[web]` and `[server] hostname` only; no directory lookup is
//! made, so the service cannot be used to probe which addresses exist.
//!
//! What this crate must not do: serve anything but these documents, or echo request data into
//! them unescaped (addresses are checked and XML-escaped).
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod documents;
pub mod service;

pub use documents::{MtaStsPolicy, mta_sts_id};
pub use service::{WebError, WebSettings, run_web, serve_web};
