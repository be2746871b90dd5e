//! With the service's embedding engine (the real model), reference items
//! uploaded through the API get their outputs' vectors in the background,
//! after the upload has answered.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dw_api::{ApiConfig, ApiState};
use dw_app::{Actor, App, AppConfig, ContentSampling};
use dw_domain::Role;
use dw_store::embeddings::{Budget, VectorDtype};
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;

fn handle() -> dw_embed::EmbedHandle {
    let dir = match std::env::var("DW_MODEL_DIR") {
        Ok(dir) => std::path::PathBuf::from(dir),
        Err(_) => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2"),
    };
    dw_embed::fetch::verify(&dir).unwrap_or_else(|e| panic!("the real model is needed: {e}"));
    let options = dw_embed::EncoderOptions { batch_size: 16, ..Default::default() };
    dw_embed::EmbedHandle::spawn(dw_embed::Encoder::load(&dir, &options).unwrap(), 4).unwrap()
}

async fn send(router: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn vectors(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM reference_item_vectors").fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn uploaded_outputs_are_embedded_in_the_background(pool: PgPool) {
    let content = ContentSampling { handle: handle(), budget: Some(Budget::PerAccountDay(2)), dtype: VectorDtype::F16 };
    let model = content.handle.model_id().to_owned();
    let app = App::new(pool.clone(), AppConfig::default()).with_content(content);
    let actor = Actor { name: "cli:test".into(), role: "admin".into() };
    let key = app.create_key("analyst key", Role::Analyst, &actor).await.unwrap().secret.expose_secret().to_owned();
    let router = dw_api::router(ApiState::new(app, ApiConfig::default()));

    let create = Request::post("/v1/reference-sets")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"name": "suspect-1"}).to_string()))
        .unwrap();
    let (status, set) = send(&router, create).await;
    assert_eq!(status, StatusCode::CREATED, "{set}");
    let id = set["id"].as_i64().unwrap();
    let items: String =
        ["Paris is the capital of France.", "Water boils at 100 °C at sea level.", "Two plus two is four."]
            .iter()
            .map(|output| format!("{}\n", json!({"output": output})))
            .collect();
    let upload = Request::post(format!("/v1/reference-sets/{id}/items"))
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from(items))
        .unwrap();
    let (status, outcome) = send(&router, upload).await;
    assert_eq!((status, outcome["stored"].as_u64()), (StatusCode::OK, Some(3)), "{outcome}");

    let started = Instant::now();
    while vectors(&pool).await < 3 {
        assert!(started.elapsed() < Duration::from_secs(120), "no vectors after 2 minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let models: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT model_id FROM reference_item_vectors").fetch_all(&pool).await.unwrap();
    assert_eq!(models, [model]);
}
