//! Who may talk to the server: the CORS allow-list, a guard against cross-site requests and
//! DNS rebinding, and the original's password mode (`--secure`).
//!
//! A local server is reachable by every web page the user opens, so a browser's request is
//! refused unless its `Origin` is on the allow-list, whatever its method or content type
//! (a cross-site "simple" POST needs no preflight, so CORS alone would not stop it from
//! writing). While bound to loopback, a `Host` that is not a local name is refused too: a
//! page on a domain that re-resolves to 127.0.0.1 would otherwise count as same-origin.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, HOST, ORIGIN};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

use super::error::ApiError;
use crate::config::Config;

/// The original's local origins, plus the ADE (the hosted web UI that talks to a local server).
pub const DEFAULT_ORIGINS: &[&str] = &[
    "http://letta.localhost",
    "http://localhost:8283",
    "http://localhost:8083",
    "http://localhost:3000",
    "http://localhost:4200",
    "https://app.letta.com",
];

/// Paths served without the password, as the original exempts them: health, for probes.
const OPEN_PATHS: &[&str] = &["/v1/health", "/v1/health/"];

/// The one route that checks a password itself (it exists to let a client verify one).
pub const AUTH_PATH: &str = "/v1/auth";

/// The access rules of one server, built once from its settings.
#[derive(Debug)]
pub struct AccessPolicy {
    origins: Vec<HeaderValue>,
    /// Host names accepted beside loopback ones (`--allowed-hosts`).
    allowed_hosts: Vec<String>,
    /// Whether the Host header is checked: while bound to loopback, where a foreign name
    /// can only come from DNS rebinding.
    check_host: bool,
    password: Option<String>,
}

impl AccessPolicy {
    pub fn new(config: &Config) -> Self {
        let password = config.required_password().map(|p| p.expose().to_owned());
        let origins = DEFAULT_ORIGINS
            .iter()
            .map(|o| (*o).to_owned())
            .chain(
                config
                    .acceptable_origins
                    .iter()
                    .map(|o| normalize_origin(o)),
            )
            .filter_map(|o| HeaderValue::from_str(&o).ok())
            .collect();
        let allowed_hosts = config
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        AccessPolicy {
            origins,
            allowed_hosts,
            check_host: is_loopback_host(&config.host),
            password,
        }
    }

    pub fn is_secure(&self) -> bool {
        self.password.is_some()
    }

    /// Whether `candidate` is the server password (constant time in its content).
    pub fn password_matches(&self, candidate: &str) -> bool {
        self.password
            .as_deref()
            .is_some_and(|p| constant_time_eq(p.as_bytes(), candidate.as_bytes()))
    }

    /// A listed origin, or the server's own page (`/docs` sends an `Origin` with its POSTs)
    /// when it was reached under a local or configured name.
    fn origin_allowed(&self, origin: &HeaderValue, headers: &HeaderMap) -> bool {
        if self.origins.iter().any(|o| o == origin) {
            return true;
        }
        let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let same_origin = origin.to_str().ok().is_some_and(|o| {
            o.strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
                .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
        });
        same_origin && self.is_local_name(host)
    }

    /// Whether the Host header passes the rebinding check (always, off loopback).
    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        if !self.check_host {
            return true;
        }
        // HTTP/1.1 requires a Host; a client without one is not a browser.
        headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .is_none_or(|host| self.is_local_name(host))
    }

    /// A loopback name, or one of the configured `--allowed-hosts`.
    fn is_local_name(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        is_loopback_host(&name) || self.allowed_hosts.contains(&name)
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let bare = headers
            .get("x-bare-password")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("password "));
        bearer.is_some_and(|p| self.password_matches(p))
            || bare.is_some_and(|p| self.password_matches(p))
    }

    /// The CORS layer: only listed origins get allow headers (credentials included, as the
    /// original); any other origin's preflight is answered without them, so the browser
    /// refuses to send the real request.
    pub fn cors(&self) -> CorsLayer {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(self.origins.iter().cloned()))
            .allow_credentials(true)
            .allow_methods(AllowMethods::mirror_request())
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers([axum::http::HeaderName::from_static("letta-run-id")])
            .max_age(Duration::from_secs(3600))
    }
}

/// Refuses foreign browser origins, rebinding hosts and, in secure mode, callers without
/// the password. Runs inside the CORS layer, so refusals still carry CORS headers for
/// listed origins and preflights never reach it.
pub async fn guard(State(policy): State<Arc<AccessPolicy>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if !policy.host_allowed(headers) {
        return ApiError::new(StatusCode::BAD_REQUEST, "Invalid Host header").into_response();
    }
    if let Some(origin) = headers.get(ORIGIN)
        && !policy.origin_allowed(origin, headers)
    {
        return ApiError::new(StatusCode::FORBIDDEN, "Origin not allowed").into_response();
    }
    if policy.is_secure()
        && req.method() != Method::OPTIONS
        && !OPEN_PATHS.contains(&req.uri().path())
        && req.uri().path() != AUTH_PATH
        && !policy.authorized(headers)
    {
        return ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    next.run(req).await
}

/// `http://Example.com:3000/` → `http://example.com:3000`: browsers send the origin in this
/// form, and a configured origin is compared byte for byte.
fn normalize_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The name part of a Host header: `[::1]:8283` → `::1`, `localhost:8283` → `localhost`.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// localhost, any `*.localhost` name (RFC 6761 reserves them for loopback), and loopback
/// addresses.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random password for secure mode when none is configured: 32 characters from
/// `[A-Za-z0-9]` (about 190 bits).
pub fn generate_password() -> String {
    use rand::Rng;
    use rand::distributions::Alphanumeric;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("localhost:8283"), "localhost");
        assert_eq!(host_name("[::1]:8283"), "::1");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert!(is_loopback_host("letta.localhost"));
        assert!(is_loopback_host("127.0.0.2"));
        assert!(is_loopback_host("[::1]"));
        assert!(!is_loopback_host("evil.example"));
        assert!(!is_loopback_host("0.0.0.0"));
    }

    #[test]
    fn comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert_eq!(generate_password().len(), 32);
        assert_eq!(
            normalize_origin(" HTTP://Example.com:3000/ "),
            "http://example.com:3000"
        );
    }
}
