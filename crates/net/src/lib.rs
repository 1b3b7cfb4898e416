//! Network plumbing shared by every mailstack service: listeners, accepted
//! connections, connection limits, graceful shutdown and TLS with
//! certificate hot reload.
//!
//! # What this crate does
//!
//! * [`ListenAddr`] parses listen addresses from the configuration
//!   (`0.0.0.0:25`, `[::]:993`, `unix:/run/mailstack/lmtp.sock`) and
//!   [`Listener::bind`] turns them into sockets, with errors an administrator
//!   can act on (`cannot listen on 0.0.0.0:25: permission denied (ports below
//!   1024 need root or CAP_NET_BIND_SERVICE)`).
//! * [`serve`] / [`Server`] is the one accept loop: it enforces
//!   [`ServerLimits`] (total and per IP), spawns one task per connection,
//!   tells the handler whether the connection is [`Admission::Accepted`] or
//!   over a limit (so the protocol can say `421 4.7.0 Too many connections`),
//!   counts connections in [`ConnectionStats`], and on [`Shutdown`] stops
//!   accepting, waits up to a grace period, then aborts what is left.
//! * [`Connection`] is any accepted stream (TCP, unix, TLS over either);
//!   [`Connection::start_tls`] serves both STARTTLS and implicit TLS.
//! * [`ReloadingTlsAcceptor`] loads a PEM certificate chain and key, serves
//!   TLS 1.2/1.3 with the aws-lc-rs provider, and follows the files when they
//!   are renewed; [`generate_self_signed`] / [`ensure_self_signed`] create a
//!   certificate for a first start.
//!
//! # Wiring in a service
//!
//! ```no_run
//! use std::time::Duration;
//! use mailstack_net::{shutdown_on_signals, Admission, ListenAddr, Listener, Server, ServerLimits};
//! use tokio::io::AsyncWriteExt;
//!
//! # async fn run() -> Result<(), mailstack_net::NetError> {
//! let shutdown = shutdown_on_signals();
//! let listener = Listener::bind(&"0.0.0.0:25".parse::<ListenAddr>()?)?;
//! let server = Server::new(vec![listener], ServerLimits::default());
//! let stats = server.stats();
//! // e.g. metrics.gauge_fn("mailstack_smtp_connections_active", "...", move || stats.active() as i64);
//! # let _ = stats;
//! server
//!     .run(shutdown.clone(), Duration::from_secs(30), |mut conn, peer, admission, shutdown| async move {
//!         if let Admission::OverLimit(_) = admission {
//!             let _ = conn.write_all(b"421 4.7.0 Too many connections\r\n").await;
//!             return;
//!         }
//!         // run the SMTP session; between transactions check `shutdown.is_triggered()`
//!         # let _ = (peer, shutdown);
//!     })
//!     .await;
//! # Ok(()) }
//! ```
//!
//! # What this crate must not do
//!
//! * It knows no mail protocol: it never reads or writes protocol bytes on a
//!   connection (refusal texts belong to the handler), and it depends on no
//!   other mailstack crate (it is a base crate, like `config` and `telemetry`).
//! * It never installs a process-wide rustls crypto provider and never pulls
//!   in `ring`: the aws-lc-rs provider is passed explicitly.
//! * It never deletes a file that is not a stale unix socket, and never
//!   overwrites certificate files except through [`generate_self_signed`].

#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

mod addr;
mod connection;
mod error;
mod implicit;
mod listener;
mod selfsigned;
mod server;
mod shutdown;
mod stream;
mod tls;

pub use addr::ListenAddr;
pub use connection::{Connection, Peer, TlsInfo};
pub use error::{NetError, describe_listen_error};
pub use implicit::{ImplicitTls, TLS_HANDSHAKE_TIMEOUT};
pub use listener::Listener;
pub use selfsigned::{ensure_self_signed, generate_self_signed};
pub use server::{
    Admission, ConnectionStats, OverLimit, REJECT_TIMEOUT, Server, ServerLimits, serve,
};
pub use shutdown::{Shutdown, shutdown_on_signals};
pub use stream::SessionStream;
pub use tls::{DEFAULT_CHECK_INTERVAL, ReloadingTlsAcceptor, TlsConfigSource, WATCH_INTERVAL};

/// Re-exported so that protocol crates name the same types without their
/// own dependency on tokio-rustls.
pub use tokio_rustls::TlsAcceptor;
