//! Reference sets through the router over a real database (`oneshot`, no socket).

use std::io::Write;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dw_api::{ApiConfig, ApiState};
use dw_app::{Actor, App, AppConfig};
use dw_domain::Role;
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;

async fn router_and_keys(pool: PgPool) -> (Router, String, String) {
    let app = App::new(pool, AppConfig::default());
    let admin = Actor { name: "cli:test".into(), role: "admin".into() };
    let analyst = app.create_key("analyst key", Role::Analyst, &admin).await.unwrap().secret;
    let ingest = app.create_key("ingest key", Role::Ingest, &admin).await.unwrap().secret;
    let router = dw_api::router(ApiState::new(app, ApiConfig::default()));
    (router, analyst.expose_secret().to_owned(), ingest.expose_secret().to_owned())
}

fn request(method: &str, path: &str, key: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {key}"));
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    req.body(body.into()).unwrap()
}

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into())))
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn analysts_create_sets_and_upload_items_with_errors_by_line(pool: PgPool) {
    let (router, analyst, ingest) = router_and_keys(pool.clone()).await;
    let create =
        |body: Value| request("POST", "/v1/reference-sets", &analyst, Some("application/json"), body.to_string());
    let (status, set) = send(
        &router,
        create(json!({"name": "suspect-q3", "description": "competitor model X, public API",
                      "collection": "our eval prompts sent on 2026-11-20, temperature 0"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{set}");
    assert_eq!(
        (set["name"].as_str(), set["control"].as_bool(), set["items"].as_i64()),
        (Some("suspect-q3"), Some(false), Some(0))
    );
    let id = set["id"].as_i64().unwrap();
    let (status, control) = send(&router, create(json!({"name": "control-q3", "control": true}))).await;
    assert_eq!((status, control["control"].as_bool()), (StatusCode::CREATED, Some(true)));

    for (body, status, says) in [
        (json!({"name": "suspect-q3"}), StatusCode::CONFLICT, "name: a reference set named \"suspect-q3\" exists"),
        (json!({"name": "has space"}), StatusCode::BAD_REQUEST, "name: \"has space\" is not a set name"),
        (json!({"name": "ok", "kind": "suspect"}), StatusCode::BAD_REQUEST, "kind"),
        (json!({"description": "no name"}), StatusCode::BAD_REQUEST, "name"),
    ] {
        let (got, error) = send(&router, create(body.clone())).await;
        assert_eq!(got, status, "{body}: {error}");
        assert!(message(&error).contains(says), "{body}: {error}");
    }

    let items = |body: Vec<u8>, encoding: Option<&str>| {
        let mut req =
            request("POST", &format!("/v1/reference-sets/{id}/items"), &analyst, Some("application/x-ndjson"), body);
        if let Some(encoding) = encoding {
            req.headers_mut().insert(header::CONTENT_ENCODING, encoding.parse().unwrap());
        }
        req
    };
    let body = concat!(
        "{\"prompt\":\"What is the capital of France?\",\"output\":\"Paris.\",\"model\":\"x-1\"}\n",
        "{\"output\":\"A haiku about rain: soft drops on the roof\"}\n",
        "{\"prompt\":\"no output\"}\n",
        "{\"completion\":\"wrong field\"}\n",
    );
    let (status, outcome) = send(&router, items(body.as_bytes().to_vec(), None)).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(
        (outcome["stored"].as_u64(), outcome["duplicates"].as_u64(), outcome["lines"].as_u64()),
        (Some(2), Some(0), Some(4))
    );
    let rejected = outcome["rejected"].as_array().unwrap();
    assert_eq!(rejected[0], json!({"line": 3, "field": "output", "error": "required"}));
    assert_eq!((rejected[1]["line"].as_u64(), rejected[1]["field"].as_str()), (Some(4), Some("completion")));

    // The same items again, gzipped: nothing new, nothing lost.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body.as_bytes()).unwrap();
    let (status, again) = send(&router, items(gz.finish().unwrap(), Some("gzip"))).await;
    assert_eq!((status, again["stored"].as_u64(), again["duplicates"].as_u64()), (StatusCode::OK, Some(0), Some(2)));

    let (status, all_bad) = send(&router, items(b"{\"output\": 3}\nnot json\n".to_vec(), None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{all_bad}");
    assert_eq!(all_bad["rejected"].as_array().unwrap().len(), 2);
    let (status, empty) = send(&router, items(b"\n\n".to_vec(), None)).await;
    assert_eq!((status, message(&empty)), (StatusCode::BAD_REQUEST, "the body holds no items"));
    let json_body =
        request("POST", &format!("/v1/reference-sets/{id}/items"), &analyst, Some("application/json"), "[]");
    assert_eq!(send(&router, json_body).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let missing =
        request("POST", "/v1/reference-sets/999/items", &analyst, Some("application/x-ndjson"), "{\"output\":\"x\"}\n");
    assert_eq!(send(&router, missing).await.0, StatusCode::NOT_FOUND);
    let ingest_key = request(
        "POST",
        &format!("/v1/reference-sets/{id}/items"),
        &ingest,
        Some("application/x-ndjson"),
        "{\"output\":\"x\"}\n",
    );
    assert_eq!(send(&router, ingest_key).await.0, StatusCode::FORBIDDEN, "an ingest key cannot plant reference items");

    let (status, one) =
        send(&router, request("GET", &format!("/v1/reference-sets/{id}"), &analyst, None, Body::empty())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((one["items"].as_i64(), one["items_with_prompt"].as_i64()), (Some(2), Some(1)));
    assert_eq!(one["collection"], "our eval prompts sent on 2026-11-20, temperature 0");
    let (_, list) = send(&router, request("GET", "/v1/reference-sets", &analyst, None, Body::empty())).await;
    let names: Vec<&str> =
        list["reference_sets"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["control-q3", "suspect-q3"], "newest first");
    assert_eq!(
        send(&router, request("GET", "/v1/reference-sets/999", &analyst, None, Body::empty())).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, bad_id) = send(&router, request("GET", "/v1/reference-sets/abc", &analyst, None, Body::empty())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad_id}");
    assert!(message(&bad_id).starts_with("id: "), "{bad_id}");

    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE target = $1 ORDER BY entry_id")
        .bind(format!("reference_set:{id}"))
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        actions,
        ["reference_set.create", "reference_set.add_items", "reference_set.add_items", "reference_set.add_items"]
    );
}
