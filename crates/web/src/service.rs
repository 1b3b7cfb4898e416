//! `mailctl web`: the HTTP listener(s) of `[web]` and the routes of [`crate::documents`].

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mailstack_config::Config;
use mailstack_net::Shutdown;
use tokio::net::TcpListener;

use crate::documents::{self, MtaStsPolicy};

/// Why the web service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// A listener could not be bound.
    #[error(transparent)]
    Listen(#[from] mailstack_telemetry::TelemetryError),
    /// A setting is unusable.
    #[error("{0}")]
    Setting(String),
}

/// What the documents say.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The host clients connect to for IMAP and submission.
    pub mail_host: String,
    /// The MTA-STS policy served.
    pub policy: MtaStsPolicy,
}

impl WebSettings {
    /// The settings `[web]` and `[server]` give.
    pub fn from_config(config: &Config) -> Result<WebSettings, WebError> {
        let web = &config.web;
        let mail_host = if web.mail_host.is_empty() {
            config.hostname()
        } else {
            web.mail_host.clone()
        }
        .to_ascii_lowercase();
        if !documents::plausible_domain(&mail_host) {
            return Err(WebError::Setting(format!(
                "web.mail_host: {mail_host:?} is not a host name"
            )));
        }
        let mx = if web.mta_sts_mx.is_empty() {
            vec![mail_host.clone()]
        } else {
            web.mta_sts_mx.clone()
        };
        Ok(WebSettings {
            mail_host,
            policy: MtaStsPolicy {
                mode: web.mta_sts_mode.clone(),
                mx,
                max_age: web.mta_sts_max_age.get().as_secs(),
            },
        })
    }
}

/// Run the web service on `[web] listen` until `shutdown`.
pub async fn run_web(config: &Config, shutdown: Shutdown) -> Result<(), WebError> {
    let settings = WebSettings::from_config(config)?;
    let mut listeners = Vec::new();
    for addr in &config.web.listen {
        listeners.push(mailstack_telemetry::bind_admin(addr).await?);
    }
    tracing::info!(listen = ?config.web.listen, mail_host = %settings.mail_host, "web ready");
    let settings = Arc::new(settings);
    let tasks: Vec<_> = listeners
        .into_iter()
        .map(|l| tokio::spawn(serve_web(l, settings.clone(), shutdown.clone())))
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    tracing::info!("web stopped");
    Ok(())
}

/// Serve the routes on `listener` until `shutdown`.
pub async fn serve_web(listener: TcpListener, settings: Arc<WebSettings>, shutdown: Shutdown) {
    let app = Router::new()
        .route("/mail/config-v1.1.xml", get(autoconfig))
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(autoconfig),
        )
        .route(
            "/autodiscover/autodiscover.xml",
            get(autodiscover_get).post(autodiscover),
        )
        .route(
            "/Autodiscover/Autodiscover.xml",
            get(autodiscover_get).post(autodiscover),
        )
        .route("/.well-known/mta-sts.txt", get(mta_sts))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ok\n" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(settings);
    let stop = async move { shutdown.triggered().await };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "web listener failed");
    }
}

fn xml(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/xml; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}

fn bad_request(why: &'static str) -> Response {
    (StatusCode::BAD_REQUEST, why).into_response()
}

/// The `emailaddress` query parameter, percent-decoded.
fn query_address(uri: &Uri) -> Option<String> {
    let query = uri.query()?;
    let raw = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("emailaddress="))?;
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The mail domain a request is about: the address's domain, else the `Host` header without
/// an `autoconfig.` prefix and port.
fn request_domain(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let asked = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("emailaddress=")));
    if asked {
        // Given but undecodable or not an address: refused, not guessed from the host.
        let a = query_address(uri)?;
        return documents::plausible_address(&a)
            .then(|| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
            .flatten();
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let domain = host
        .strip_prefix("autoconfig.")
        .unwrap_or(host)
        .to_ascii_lowercase();
    documents::plausible_domain(&domain).then_some(domain)
}

async fn autoconfig(State(s): State<Arc<WebSettings>>, uri: Uri, headers: HeaderMap) -> Response {
    match request_domain(&uri, &headers) {
        Some(domain) => xml(documents::autoconfig(&domain, &s.mail_host)),
        None => bad_request("give ?emailaddress=user@domain\n"),
    }
}

async fn autodiscover_get() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "POST")],
        "POST an autodiscover request\n",
    )
        .into_response()
}

async fn autodiscover(State(s): State<Arc<WebSettings>>, body: String) -> Response {
    match documents::autodiscover_address(&body) {
        Some(address) => xml(documents::autodiscover(&address, &s.mail_host)),
        None => bad_request("no EMailAddress in the request\n"),
    }
}

async fn mta_sts(State(s): State<Arc<WebSettings>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        s.policy.text(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_comes_from_the_address_or_the_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "autoconfig.Example.com:8080".parse().unwrap());
        let uri: Uri = "/mail/config-v1.1.xml?emailaddress=alice%40Example.org"
            .parse()
            .unwrap();
        assert_eq!(request_domain(&uri, &h).as_deref(), Some("example.org"));
        let uri: Uri = "/mail/config-v1.1.xml".parse().unwrap();
        assert_eq!(request_domain(&uri, &h).as_deref(), Some("example.com"));
        let uri: Uri = "/x?emailaddress=%3Cscript%3E%40x".parse().unwrap();
        assert_eq!(request_domain(&uri, &h), None);
        let uri: Uri = "/x?emailaddress=%4".parse().unwrap();
        assert_eq!(request_domain(&uri, &h), None);
    }
}
