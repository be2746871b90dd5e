//! The analyst console: server-rendered pages over the same use cases as the
//! API, for analysts and admins in a browser.
//!
//! - **Sessions.** An analyst's or admin's key is exchanged at `/sign-in` for
//!   a session (`dw_app::App::sign_in`): a random token in an `HttpOnly`,
//!   `SameSite=Strict` cookie (`Secure` when the service serves HTTPS), stored
//!   only hashed, ended by sign-out, idle and absolute expiry, or the key's
//!   revocation. Ingest keys cannot sign in. Sign-in attempts are limited per
//!   client address.
//! - **Changes.** Every `POST` carries the session's CSRF token (derived from
//!   the session token, compared whole) and, when the browser says where it
//!   comes from (`Sec-Fetch-Site`, `Origin`), must come from this site.
//! - **Roles** are the API's: the route table (`table.rs`) declares each page's
//!   access as it does each API route's, and the role test walks both.
//! - **Escaping.** Everything the traffic wrote is text: templates escape by
//!   default (askama), and nothing from the traffic becomes a link target or
//!   markup. Pages carry a CSP that loads only this service's stylesheet, runs
//!   no script and may not be framed.

mod pages;
mod view;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use dw_app::SessionPolicy;
use dw_domain::{ApiKey, Role};
use secrecy::SecretString;

use crate::{ApiError, ApiState};

pub(crate) use pages::*;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "dw_session";

/// The console pages' Content-Security-Policy: this service's stylesheet,
/// nothing else loads, no script, forms post only here, never framed.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                              frame-ancestors 'none'; base-uri 'none'";

/// Settings of the console.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// How long sessions live.
    pub sessions: SessionPolicy,
    /// Whether the cookie is marked `Secure` (the service serves HTTPS).
    pub secure_cookies: bool,
    /// Sign-in attempts allowed per client address per minute.
    pub sign_in_per_minute: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self { sessions: SessionPolicy::default(), secure_cookies: false, sign_in_per_minute: 10 }
    }
}

/// Sign-in attempts per client address in the current minute.
#[derive(Debug, Default)]
pub(crate) struct SignInLimiter {
    windows: Mutex<HashMap<Option<IpAddr>, (Instant, u32)>>,
}

impl SignInLimiter {
    /// Counts an attempt from `addr`; `Err(wait)` once the minute's
    /// allowance is spent.
    pub(crate) fn attempt(&self, addr: Option<IpAddr>, per_minute: u32) -> Result<(), Duration> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > 10_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        }
        let (start, count) = windows.entry(addr).or_insert((now, 0));
        if now.duration_since(*start) >= Duration::from_secs(60) {
            *start = now;
            *count = 0;
        }
        if *count >= per_minute {
            return Err(Duration::from_secs(60).saturating_sub(now.duration_since(*start)));
        }
        *count += 1;
        Ok(())
    }
}

/// A console page's failure, as a page.
#[derive(Debug)]
pub(crate) enum PageError {
    /// No live session: to the sign-in page.
    SignIn,
    /// A page for people: its status and what to say.
    Status(StatusCode, String),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        let message = if status.is_server_error() {
            tracing::error!(error = %e, "console page failed");
            "The service could not do this just now; try again, and tell an administrator if it persists.".into()
        } else {
            e.to_string()
        };
        PageError::Status(status, message)
    }
}

impl From<dw_app::AppError> for PageError {
    fn from(e: dw_app::AppError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn => Redirect::to("/sign-in").into_response(),
            PageError::Status(status, message) => {
                let mut response = view::error_page(status, &message).into_response();
                *response.status_mut() = status;
                response
            }
        }
    }
}

/// The holder of a live console session.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    /// The key the session was opened with.
    pub(crate) key: ApiKey,
    /// The session token (for its CSRF token and sign-out).
    pub(crate) token: SecretString,
}

impl SignedIn {
    /// The holder as the audit log names them.
    pub(crate) fn actor(&self) -> dw_app::Actor {
        dw_app::Actor::of_key(&self.key)
    }

    /// The session's CSRF token, for forms.
    pub(crate) fn csrf(&self) -> String {
        dw_app::csrf_token(&self.token)
    }

    /// Refuses a change whose form does not carry the session's CSRF token.
    pub(crate) fn check_csrf(&self, presented: &str) -> Result<(), PageError> {
        if dw_app::csrf_matches(&self.token, presented) {
            Ok(())
        } else {
            Err(PageError::Status(
                StatusCode::FORBIDDEN,
                "This form is not one this console gave you (its CSRF token is missing or wrong): reload the \
                 page and try again."
                    .into(),
            ))
        }
    }

    fn require(&self, allowed: &[Role]) -> Result<(), PageError> {
        if self.key.role.permits(allowed) {
            Ok(())
        } else {
            Err(PageError::Status(
                StatusCode::FORBIDDEN,
                format!("Your key's role ({}) may not open this page.", self.key.role),
            ))
        }
    }
}

/// The session token the request's cookie carries.
pub(crate) fn session_cookie(parts: &Parts) -> Option<SecretString> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| SecretString::from(value.trim().to_owned()))
}

/// Refuses a change that the browser says comes from another site.
pub(crate) fn same_site(parts: &Parts) -> Result<(), PageError> {
    if matches!(parts.method, Method::GET | Method::HEAD) {
        return Ok(());
    }
    let refused = || {
        PageError::Status(StatusCode::FORBIDDEN, "This form was sent from another site; nothing was changed.".into())
    };
    // Browsers that send Fetch metadata say where a request comes from; it
    // decides. Others are judged by their Origin, when they send one.
    if let Some(site) = parts.headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return if matches!(site, "same-origin" | "none") { Ok(()) } else { Err(refused()) };
    }
    if let Some(origin) = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
        if origin == "null" || origin_host != host {
            return Err(refused());
        }
    }
    Ok(())
}

/// The client's address, where the server recorded it.
pub(crate) fn client_ip(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip())
}

impl FromRequestParts<ApiState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, PageError> {
        let token = session_cookie(parts).ok_or(PageError::SignIn)?;
        let key = state.app().session(&token, state.config.console.sessions).await?.ok_or(PageError::SignIn)?;
        same_site(parts)?;
        tracing::Span::current().record("key_id", tracing::field::display(key.key_id));
        Ok(SignedIn { key, token })
    }
}

/// A console page for analysts (and admins).
#[derive(Debug, Clone)]
pub(crate) struct AnalystPage(pub(crate) SignedIn);

impl FromRequestParts<ApiState> for AnalystPage {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, PageError> {
        let user = SignedIn::from_request_parts(parts, state).await?;
        user.require(&[Role::Analyst])?;
        Ok(Self(user))
    }
}

/// A console page for admins only.
#[derive(Debug, Clone)]
pub(crate) struct AdminPage(pub(crate) SignedIn);

impl FromRequestParts<ApiState> for AdminPage {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, PageError> {
        let user = SignedIn::from_request_parts(parts, state).await?;
        user.require(&[Role::Admin])?;
        Ok(Self(user))
    }
}

/// The headers every console page carries.
pub(crate) async fn page_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let csp =
        if headers.contains_key(header::CONTENT_SECURITY_POLICY) { None } else { Some(HeaderValue::from_static(CSP)) };
    if let Some(csp) = csp {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Same-origin: a form posted here still says where it came from (an opaque
    // origin would read as another site), and nothing leaks to other sites.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}
