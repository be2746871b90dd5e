//! Every route of the API in one table: its method, its path, who may call
//! it, and its handler. The router is built from this table and nothing
//! else, so a route cannot ship without saying who may call it, and the
//! role test (`crates/dw-api/tests/roles.rs`) walks the same table: a route
//! whose handler checks another role than the one declared here fails it.
//!
//! This module sits above both `routes` (the handlers) and `openapi` (the
//! description, which lists the handlers): neither imports the other's
//! router.

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::IntoResponse as _;
use axum::routing::{MethodRouter, delete, get, patch, post};
use dw_domain::Role;

use crate::error::ApiError;
use crate::openapi;
use crate::routes::{accounts, allowlist, audits, clusters, events, flags, health, keys, otlp, reference_sets};
use crate::{ApiState, console};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a key (probes, metrics, the API's description).
    Public,
    /// Any valid key.
    AnyKey,
    /// `ingest` keys (and `admin`).
    Ingest,
    /// `analyst` keys (and `admin`).
    Analyst,
    /// `admin` keys only.
    Admin,
}

impl Access {
    /// The roles whose keys may call the route (`None`: no key needed).
    pub fn roles(self) -> Option<&'static [Role]> {
        match self {
            Access::Public => None,
            Access::AnyKey => Some(&Role::ALL),
            Access::Ingest => Some(&[Role::Ingest, Role::Admin]),
            Access::Analyst => Some(&[Role::Analyst, Role::Admin]),
            Access::Admin => Some(&[Role::Admin]),
        }
    }
}

/// How long a route may take to answer, whole (past it: 503 with
/// `Retry-After`, and the work is dropped: a transaction rolls back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Reads and small writes: `server.request_timeout_seconds`.
    Request,
    /// Routes that take a large body and store it (events, traces, logs,
    /// reference items): `server.upload_timeout_seconds`. Their body must
    /// also arrive within `ingest.body_read_timeout_seconds`.
    Upload,
}

/// The budgets' lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// [`Budget::Request`].
    pub request: Duration,
    /// [`Budget::Upload`].
    pub upload: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self { request: Duration::from_secs(60), upload: Duration::from_secs(300) }
    }
}

/// How a route's caller shows who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// An API key, `Authorization: Bearer` (the API; described in its OpenAPI).
    Key,
    /// A console session cookie (the console's pages: without one, a page
    /// sends the browser to `/sign-in`; not part of the API's description).
    Session,
}

/// One route: what the table declares of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Its method.
    pub method: Method,
    /// Its path, with `{name}` for each path parameter.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// How long it may take.
    pub budget: Budget,
    /// How its caller shows who they are.
    pub via: Via,
}

fn table() -> Vec<(Route, MethodRouter<ApiState>)> {
    use Access::*;
    let route = |method: Method, path: &'static str, access: Access, handler: MethodRouter<ApiState>| {
        (Route { method, path, access, budget: Budget::Request, via: Via::Key }, handler)
    };
    let upload = |method: Method, path: &'static str, access: Access, handler: MethodRouter<ApiState>| {
        (Route { method, path, access, budget: Budget::Upload, via: Via::Key }, handler)
    };
    // The console's pages, each with the headers every page carries.
    let page = |method: Method, path: &'static str, access: Access, handler: MethodRouter<ApiState>| {
        let handler = handler.layer(axum::middleware::from_fn(console::page_headers));
        (Route { method, path, access, budget: Budget::Request, via: Via::Session }, handler)
    };
    vec![
        route(Method::GET, "/healthz", Public, get(health::healthz)),
        route(Method::GET, "/readyz", Public, get(health::readyz)),
        route(Method::GET, METRICS_PATH, Public, get(health::metrics)),
        route(Method::GET, "/openapi.json", Public, get(openapi::spec)),
        route(Method::GET, "/docs", Public, get(openapi::page)),
        route(Method::GET, "/docs/init.js", Public, get(openapi::init)),
        route(Method::GET, "/docs/swagger-ui-bundle.js", Public, get(openapi::bundle)),
        route(Method::GET, "/docs/swagger-ui.css", Public, get(openapi::css)),
        upload(Method::POST, "/v1/events", Ingest, post(events::ingest)),
        upload(Method::POST, "/v1/traces", Ingest, post(otlp::traces)),
        upload(Method::POST, "/api/public/otel/v1/traces", Ingest, post(otlp::langfuse_traces)),
        upload(Method::POST, "/v1/logs", Ingest, post(otlp::logs)),
        route(Method::GET, "/v1/schema/event", AnyKey, get(events::schema)),
        route(Method::GET, "/v1/ingests", Analyst, get(events::recent)),
        route(Method::GET, "/v1/keys", Admin, get(keys::list)),
        route(Method::POST, "/v1/keys", Admin, post(keys::create)),
        route(Method::PATCH, "/v1/keys/{id}", Admin, patch(keys::update)),
        route(Method::DELETE, "/v1/keys/{id}", Admin, delete(keys::revoke)),
        route(Method::POST, "/v1/audits", Analyst, post(audits::create)),
        route(Method::GET, "/v1/audits/{id}", Analyst, get(audits::get)),
        route(Method::GET, "/v1/accounts", Analyst, get(accounts::list)),
        route(Method::GET, "/v1/accounts/{id}", Analyst, get(accounts::get)),
        route(Method::GET, "/v1/accounts/{id}/events", Analyst, get(accounts::events)),
        route(Method::GET, "/v1/accounts/{id}/timeline", Analyst, get(accounts::timeline)),
        route(Method::GET, "/v1/clusters", Analyst, get(clusters::list)),
        route(Method::GET, "/v1/clusters/{id}", Analyst, get(clusters::get)),
        route(Method::GET, "/v1/flags", Analyst, get(flags::list)),
        route(Method::GET, "/v1/flags/{id}", Analyst, get(flags::get)),
        route(Method::PATCH, "/v1/flags/{id}", Analyst, patch(flags::patch)),
        route(Method::GET, "/v1/flags/{id}/export", Analyst, get(flags::export)),
        route(Method::GET, "/v1/audit-log", Admin, get(flags::audit_log)),
        route(Method::GET, "/v1/allowlist", Analyst, get(allowlist::list)),
        route(Method::POST, "/v1/allowlist", Admin, post(allowlist::add)),
        route(Method::DELETE, "/v1/allowlist/{account_id}", Admin, delete(allowlist::remove)),
        route(Method::GET, "/v1/reference-sets", Analyst, get(reference_sets::list)),
        route(Method::POST, "/v1/reference-sets", Analyst, post(reference_sets::create)),
        route(Method::GET, "/v1/reference-sets/{id}", Analyst, get(reference_sets::get)),
        upload(Method::POST, "/v1/reference-sets/{id}/items", Analyst, post(reference_sets::add_items)),
        route(
            Method::GET,
            "/v1/reference-sets/{id}/distillation-test",
            Analyst,
            get(reference_sets::distillation_test),
        ),
        route(
            Method::POST,
            "/v1/reference-sets/{id}/distillation-test",
            Analyst,
            post(reference_sets::run_distillation_test),
        ),
        route(Method::GET, "/v1/reference-sets/{id}/panel-test", Analyst, get(reference_sets::panel_test)),
        route(Method::POST, "/v1/reference-sets/{id}/panel-test", Analyst, post(reference_sets::run_panel_test)),
        route(Method::GET, "/v1/reference-sets/{id}/fingerprint-test", Analyst, get(reference_sets::fingerprint_test)),
        route(
            Method::POST,
            "/v1/reference-sets/{id}/fingerprint-test",
            Analyst,
            post(reference_sets::run_fingerprint_test),
        ),
        route(Method::GET, "/v1/reference-sets/{id}/attribution", Analyst, get(reference_sets::attribution)),
        route(Method::POST, "/v1/reference-sets/{id}/attribution", Analyst, post(reference_sets::run_attribution)),
        route(Method::GET, "/v1/reference-jobs/{id}", Analyst, get(reference_sets::job)),
        page(Method::GET, "/console.css", Public, get(console::stylesheet)),
        page(Method::GET, "/sign-in", Public, get(console::sign_in_page)),
        page(Method::POST, "/sign-in", Public, post(console::sign_in)),
        page(Method::GET, "/", Analyst, get(console::queue)),
        page(Method::GET, "/flags/{id}", Analyst, get(console::case)),
        page(Method::POST, "/flags/{id}", Analyst, post(console::act)),
        page(Method::GET, "/flags/{id}/case-file", Analyst, get(console::case_file)),
        page(Method::GET, "/accounts/{id}", Analyst, get(console::account)),
        page(Method::GET, "/clusters/{id}", Analyst, get(console::cluster)),
        page(Method::GET, "/audits", Analyst, get(console::audits)),
        page(Method::POST, "/audits", Analyst, post(console::queue_audit)),
        page(Method::GET, "/audits/{id}", Analyst, get(console::audit)),
        page(Method::GET, "/reference-sets", Analyst, get(console::reference_sets)),
        page(Method::POST, "/reference-sets", Analyst, post(console::create_reference_set)),
        page(Method::GET, "/reference-sets/{id}", Analyst, get(console::reference_set)),
        page(
            Method::POST,
            "/reference-sets/{id}/items",
            Analyst,
            // The upload reads at most ingest.max_body_bytes itself.
            post(console::upload_reference_items).layer(axum::extract::DefaultBodyLimit::disable()),
        ),
        page(Method::POST, "/reference-sets/{id}/runs", Analyst, post(console::run_reference_job)),
        page(Method::GET, "/reference-jobs/{id}", Analyst, get(console::reference_job)),
        page(Method::GET, "/audit-log", Admin, get(console::audit_log)),
        // Last, so that the role test, walking the table in order, signs out last.
        page(Method::POST, "/sign-out", Analyst, post(console::sign_out)),
    ]
}

/// Every route, in the table's order.
pub fn routes() -> Vec<Route> {
    table().into_iter().map(|(route, _)| route).collect()
}

/// Where the metrics are scraped.
pub(crate) const METRICS_PATH: &str = "/metrics";

/// The routes `keep` keeps, each within its budget, without the other
/// layers ([`crate::router`] adds them).
pub(crate) fn router(deadlines: Deadlines, keep: impl Fn(&Route) -> bool) -> Router<ApiState> {
    table().into_iter().filter(|(route, _)| keep(route)).fold(Router::new(), |router, (route, handler)| {
        let (limit, setting) = match route.budget {
            Budget::Request => (deadlines.request, "server.request_timeout_seconds"),
            Budget::Upload => (deadlines.upload, "server.upload_timeout_seconds"),
        };
        let handler = handler.layer(axum::middleware::from_fn(move |request: Request, next: Next| async move {
            match tokio::time::timeout(limit, next.run(request)).await {
                Ok(response) => response,
                Err(_) => ApiError::Deadline(format!(
                    "the request took longer than {} s ({setting}); nothing of it was kept: retry, or ask for less",
                    limit.as_secs_f64()
                ))
                .into_response(),
            }
        }));
        router.route(route.path, handler)
    })
}
