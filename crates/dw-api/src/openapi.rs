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
        routes::reference_sets::panel_test,
        routes::reference_sets::run_panel_test,
        routes::reference_sets::fingerprint_test,
        routes::reference_sets::run_fingerprint_test,
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
    let mut doc = serde_json::to_value(&doc).expect("the description serializes");
    share_errors(&mut doc);
    serde_json::to_string_pretty(&doc).expect("the description serializes")
}

/// The error answers every route shares, declared once under
/// `components/responses` and added to each operation that can give them
/// (the handlers declare only their own): 400 where a route takes
/// parameters or a body, 401 and 403 where it takes a key, 503 (a deadline
/// passed, or the database is unreachable, with `Retry-After`) on every
/// route that reaches the database with a key. A 4xx a handler declares
/// with a body of its own (an ingest's rejected lines) may also be the
/// shared error body (a bad parameter), so its schema is one of the two.
fn share_errors(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let error = json!({"$ref": "#/components/schemas/ErrorBody"});
    let retry_after = json!({"Retry-After": {
        "description": "Seconds to wait before sending the request again.",
        "schema": {"type": "integer", "minimum": 0}
    }});
    let response = |description: &str, retry: bool| {
        let mut answer = json!({"description": description, "content": {"application/json": {"schema": error}}});
        if retry {
            answer["headers"] = retry_after.clone();
        }
        answer
    };
    doc["components"]["responses"] = json!({
        "BadRequest": response("a parameter or the body is not what the route takes; the message names it", false),
        "Unauthorized": response("no key, or a key that is not valid", false),
        "Forbidden": response("the key's role may not do this", false),
        "Unavailable": response(
            "deadline_exceeded: the request, or one of its statements, took longer than the service allows; \
             unavailable: the database does not answer. Nothing of the request was kept",
            true,
        ),
    });
    let shared = |name: &str| json!({"$ref": format!("#/components/responses/{name}")});
    let Some(paths) = doc["paths"].as_object_mut() else { return };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, operation) in item.iter_mut() {
            if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                continue;
            }
            let secured = operation.get("security").is_some();
            let takes_input = operation.get("requestBody").is_some()
                || operation.get("parameters").and_then(Value::as_array).is_some_and(|p| !p.is_empty());
            let Some(responses) = operation["responses"].as_object_mut() else { continue };
            for (status, answer) in responses.iter_mut() {
                if !status.starts_with('4') {
                    continue;
                }
                if let Some(schema) = answer.pointer_mut("/content/application~1json/schema")
                    && *schema != error
                {
                    *schema = json!({"oneOf": [schema.take(), error]});
                }
            }
            if takes_input {
                responses.entry("400").or_insert_with(|| shared("BadRequest"));
            }
            if secured {
                responses.entry("401").or_insert_with(|| shared("Unauthorized"));
                responses.entry("403").or_insert_with(|| shared("Forbidden"));
                responses.entry("503").or_insert_with(|| shared("Unavailable"));
            }
            for (status, answer) in responses.iter_mut() {
                if matches!(status.as_str(), "408" | "429") && answer.get("$ref").is_none() {
                    answer["headers"] = retry_after.clone();
                }
            }
        }
    }
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
