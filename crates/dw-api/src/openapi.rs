//! The OpenAPI 3.1 description of the API, generated from the handlers'
//! annotations (`utoipa`), served at `/openapi.json`, with an interactive
//! reference at `/docs` (Swagger UI, vendored in `assets/swagger-ui`).
//! `docs/openapi.json` is the committed copy; a test fails when it differs.

use axum::http::header;
use axum::response::{Html, IntoResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key (`distillwatch keys create`): ingest, analyst or admin"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "Langfuse's OTLP path: any username (its public key), an ingest key as the password",
                    ))
                    .build(),
            ),
        );
    }
}

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "distillwatch",
        description = "Distillation forensics: ingest API-usage logs, audit accounts for systematic extraction, \
                       and work the flags as cases."
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::health::metrics,
        routes::events::ingest,
        routes::events::schema,
        routes::otlp::traces,
        routes::otlp::langfuse_traces,
        routes::otlp::logs,
        routes::events::recent,
        routes::audits::create,
        routes::audits::get,
        routes::accounts::list,
        routes::accounts::get,
        routes::accounts::events,
        routes::accounts::timeline,
        routes::clusters::list,
        routes::clusters::get,
        routes::flags::list,
        routes::flags::get,
        routes::flags::patch,
        routes::flags::export,
        routes::flags::audit_log,
        routes::allowlist::list,
        routes::allowlist::add,
        routes::allowlist::remove,
        routes::reference_sets::create,
        routes::reference_sets::list,
        routes::reference_sets::get,
        routes::reference_sets::add_items,
        routes::reference_sets::distillation_test,
        routes::reference_sets::attribution,
        routes::reference_sets::run_distillation_test,
        routes::reference_sets::run_attribution,
        routes::reference_sets::job,
        routes::keys::list,
        routes::keys::create,
        routes::keys::revoke,
        routes::keys::update,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

/// The description as pretty JSON (what `/openapi.json` serves and
/// `docs/openapi.json` holds).
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.to_pretty_json().expect("the description serializes")
}

pub(crate) async fn spec() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json())
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>distillwatch API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"#;

const INIT: &str = "window.ui = SwaggerUIBundle({url: '/openapi.json', dom_id: '#ui', deepLinking: true});\n";

pub(crate) async fn page() -> impl IntoResponse {
    Html(PAGE)
}

pub(crate) async fn init() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], INIT)
}

pub(crate) async fn bundle() -> impl IntoResponse {
    let js: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js");
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=86400")], js)
}

pub(crate) async fn css() -> impl IntoResponse {
    let css: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui.css");
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=86400")], css)
}
