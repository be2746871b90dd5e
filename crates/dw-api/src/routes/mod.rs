//! The routes, one module per resource.

pub(crate) mod accounts;
pub(crate) mod allowlist;
pub(crate) mod audits;
pub(crate) mod clusters;
pub(crate) mod events;
pub(crate) mod flags;
pub(crate) mod health;
pub(crate) mod keys;
mod params;
pub(crate) mod reference_sets;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::ApiState;

pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(crate::openapi::spec))
        .route("/docs", get(crate::openapi::page))
        .route("/docs/init.js", get(crate::openapi::init))
        .route("/docs/swagger-ui-bundle.js", get(crate::openapi::bundle))
        .route("/docs/swagger-ui.css", get(crate::openapi::css))
        .route("/v1/events", post(events::ingest))
        .route("/v1/schema/event", get(events::schema))
        .route("/v1/ingests", get(events::recent))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{id}", delete(keys::revoke).patch(keys::update))
        .route("/v1/audits", post(audits::create))
        .route("/v1/audits/{id}", get(audits::get))
        .route("/v1/accounts", get(accounts::list))
        .route("/v1/accounts/{id}", get(accounts::get))
        .route("/v1/accounts/{id}/events", get(accounts::events))
        .route("/v1/accounts/{id}/timeline", get(accounts::timeline))
        .route("/v1/clusters", get(clusters::list))
        .route("/v1/clusters/{id}", get(clusters::get))
        .route("/v1/flags", get(flags::list))
        .route("/v1/flags/{id}", get(flags::get).patch(flags::patch))
        .route("/v1/flags/{id}/export", get(flags::export))
        .route("/v1/audit-log", get(flags::audit_log))
        .route("/v1/allowlist", get(allowlist::list).post(allowlist::add))
        .route("/v1/allowlist/{account_id}", delete(allowlist::remove))
        .route("/v1/reference-sets", get(reference_sets::list).post(reference_sets::create))
        .route("/v1/reference-sets/{id}", get(reference_sets::get))
        .route("/v1/reference-sets/{id}/items", post(reference_sets::add_items))
        .route(
            "/v1/reference-sets/{id}/distillation-test",
            get(reference_sets::distillation_test).post(reference_sets::run_distillation_test),
        )
        .route(
            "/v1/reference-sets/{id}/attribution",
            get(reference_sets::attribution).post(reference_sets::run_attribution),
        )
        .route("/v1/reference-jobs/{id}", get(reference_sets::job))
}
