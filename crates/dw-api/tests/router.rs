//! The router over a real database, one request at a time (`oneshot`, no socket).

use std::io::Write;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dw_api::{ApiConfig, ApiState};
use dw_app::{App, AppConfig};
use dw_domain::Role;
use dw_ingest::Limits;
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;

struct Harness {
    router: Router,
    pool: PgPool,
    ingest: String,
    analyst: String,
    admin: String,
}

async fn harness_with(pool: PgPool, config: ApiConfig) -> Harness {
    harness_of(App::new(pool.clone(), AppConfig::default()), pool, config).await
}

/// What stands for now in the timestamp window: after the tests' events
/// (November 2026), so that they are accepted in any year.
const TEST_NOW: time::OffsetDateTime = time::macros::datetime!(2026-12-01 00:00 UTC);

async fn harness_of(app: App, pool: PgPool, mut config: ApiConfig) -> Harness {
    config.timestamps = config
        .timestamps
        .map(|policy| dw_ingest::TimestampPolicy { clock: dw_ingest::Clock::Fixed(TEST_NOW), ..policy });
    let key = |role: Role| {
        let app = app.clone();
        async move {
            app.create_key(
                &format!("{role} key"),
                role,
                &dw_app::Actor { name: "cli:test".into(), role: "admin".into() },
            )
            .await
            .unwrap()
            .secret
            .expose_secret()
            .to_owned()
        }
    };
    let (ingest, analyst, admin) = (key(Role::Ingest).await, key(Role::Analyst).await, key(Role::Admin).await);
    Harness { router: dw_api::router(ApiState::new(app, config)), pool, ingest, analyst, admin }
}

async fn harness(pool: PgPool) -> Harness {
    let config = ApiConfig {
        limits: Limits { max_event_bytes: 64 * 1024, max_body_bytes: 1 << 20, ..Limits::default() },
        ..ApiConfig::default()
    };
    harness_with(pool, config).await
}

fn event(i: usize) -> Value {
    json!({"event_id": format!("e{i}"), "account_id": format!("acct_{}", i % 3),
           "timestamp": "2026-11-01T12:00:00Z", "model": "gpt-x",
           "request": {"messages": [{"role": "user", "content": format!("question {i}")}]},
           "response": {"content": "answer"}})
}

fn ndjson(events: &[Value]) -> Vec<u8> {
    events.iter().map(|e| format!("{e}\n")).collect::<String>().into_bytes()
}

fn post(key: Option<&str>, content_type: Option<&str>, encoding: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut req = Request::post("/v1/events");
    if let Some(key) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    if let Some(enc) = encoding {
        req = req.header(header::CONTENT_ENCODING, enc);
    }
    req.body(body.into()).unwrap()
}

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, Value, axum::http::HeaderMap) {
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body, headers)
}

async fn stored(pool: &PgPool) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events").fetch_one(pool).await.unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn ndjson_and_json_arrays_are_stored(pool: PgPool) {
    let h = harness(pool).await;
    let events: Vec<Value> = (0..5).map(event).collect();
    let (status, body, headers) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&events))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"accepted": 5, "duplicates": 0, "rejected": []}));
    assert!(headers.contains_key("x-request-id"));

    let more: Vec<Value> = (5..8).map(event).collect();
    let (status, body, _) = send(
        &h.router,
        post(Some(&h.ingest), Some("application/json; charset=utf-8"), None, Value::Array(more).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 3);
    assert_eq!(stored(&h.pool).await, 8);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn timestamps_far_from_now_are_refused_and_make_no_partitions(pool: PgPool) {
    let h = harness(pool).await;
    let partitions = |pool: PgPool| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_inherits JOIN pg_class c ON c.oid = inhrelid WHERE c.relname LIKE 'events_p1975%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let mut old = event(1);
    old["timestamp"] = json!("1975-06-01T00:00:00Z");
    let mut future = event(2);
    future["timestamp"] = json!("2150-01-01T00:00:00Z");
    let body = ndjson(&[event(0), old, future, event(3)]);
    let (status, body, _) = send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, body)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 2, "{body}");
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{body}");
    assert_eq!((rejected[0]["line"].as_u64(), rejected[0]["field"].as_str()), (Some(2), Some("timestamp")));
    assert!(rejected[0]["error"].as_str().unwrap().contains("ingest.timestamp_past_days"), "{body}");
    assert_eq!((rejected[1]["line"].as_u64(), rejected[1]["field"].as_str()), (Some(3), Some("timestamp")));
    assert!(rejected[1]["error"].as_str().unwrap().contains("ingest.timestamp_future_days"), "{body}");
    assert_eq!(stored(&h.pool).await, 2);
    assert_eq!(partitions(h.pool.clone()).await, 0, "a refused event makes no partition");

    // Only old events: a 400 that names the field, nothing stored.
    let mut old = event(4);
    old["timestamp"] = json!("1975-06-01T00:00:00Z");
    let (status, body, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&[old]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["rejected"][0]["field"], "timestamp", "{body}");
    assert_eq!(stored(&h.pool).await, 2);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn without_a_window_any_year_goes_in(pool: PgPool) {
    let config = ApiConfig { timestamps: None, ..ApiConfig::default() };
    let h = harness_with(pool, config).await;
    let mut old = event(1);
    old["timestamp"] = json!("1975-06-01T00:00:00Z");
    let (status, body, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&[old]))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 1, "{body}");
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_gateway_that_logs_the_last_message_only_says_so_per_request(pool: PgPool) {
    let h = harness(pool).await;
    let body = ndjson(&(0..2).map(event).collect::<Vec<_>>());
    let with = |history: &str, body: Vec<u8>| {
        Request::post(format!("/v1/events?history={history}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", h.ingest))
            .header(header::CONTENT_TYPE, "application/x-ndjson")
            .body(Body::from(body))
            .unwrap()
    };
    let (status, out, _) = send(&h.router, with("sometimes", body.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert!(out.to_string().contains("history: expected \\\"full\\\" or \\\"last_message\\\""), "{out}");
    assert_eq!(stored(&h.pool).await, 0, "nothing stored from a refused request");
    let (status, out, _) = send(&h.router, with("last_message", body)).await;
    assert_eq!((status, out["accepted"].clone()), (StatusCode::OK, json!(2)), "{out}");
    let unlogged: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE history_logged IS FALSE")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(unlogged, 2);
}

/// A gateway that keeps the last user message only can be declared once, on its ingest key: its batches
/// that do not say otherwise are stored as such, an explicit `?history=full` still wins, an event's own
/// `history_logged` wins over both, and the change is the admin's alone, audited, and named when wrong.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn an_ingest_key_says_what_its_source_logs_of_each_conversation(pool: PgPool) {
    let h = harness(pool).await;
    let admin = |method: &str, uri: &str, body: Value| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", h.admin))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (status, created, _) = send(
        &h.router,
        admin("POST", "/v1/keys", json!({"name": "edge gateway", "role": "ingest", "history": "last_message"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["key"]["history"], "last_message");
    let gateway = created["secret"].as_str().unwrap().to_owned();
    let (status, out, _) =
        send(&h.router, admin("POST", "/v1/keys", json!({"name": "x", "role": "ingest", "history": "some"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert!(out.to_string().contains("history"), "the error names the field: {out}");

    let ingest = |key: &str, query: &str, events: Vec<Value>| {
        Request::post(format!("/v1/events{query}"))
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, "application/x-ndjson")
            .body(Body::from(ndjson(&events)))
            .unwrap()
    };
    let history_of = |id: &'static str| {
        let pool = h.pool.clone();
        async move {
            sqlx::query_scalar::<_, Option<bool>>("SELECT history_logged FROM events WHERE event_id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let mut own = event(2);
    own["request"]["history_logged"] = json!(true);
    let (status, out, _) = send(&h.router, ingest(&gateway, "", vec![event(0), own])).await;
    assert_eq!((status, out["accepted"].clone()), (StatusCode::OK, json!(2)), "{out}");
    assert_eq!(history_of("e0").await, Some(false), "the key's setting holds for events that do not say");
    assert_eq!(history_of("e2").await, Some(true), "an event's own word wins");
    let (status, out, _) = send(&h.router, ingest(&gateway, "?history=full", vec![event(3)])).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(history_of("e3").await, None, "the batch's explicit word wins over the key's");
    let (status, out, _) = send(&h.router, ingest(&h.ingest, "", vec![event(4)])).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(history_of("e4").await, None, "a key made without the setting logs full conversations");

    // Changing it: admins only, by id or prefix; later batches follow, stored events keep theirs.
    let id = created["key"]["key_id"].as_str().unwrap().to_owned();
    let patch = |key: &str, target: &str, body: Value| {
        Request::patch(format!("/v1/keys/{target}"))
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (status, _, _) = send(&h.router, patch(&h.analyst, &id, json!({"history": "full"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, out, _) = send(&h.router, patch(&h.admin, &id, json!({"history": "partial"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert!(out.to_string().contains("history"), "{out}");
    let (status, out, _) = send(&h.router, patch(&h.admin, "dw_nosuchkey", json!({"history": "full"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{out}");
    let prefix = created["key"]["prefix"].as_str().unwrap().to_owned();
    let (status, out, _) = send(&h.router, patch(&h.admin, &prefix, json!({"history": "full"}))).await;
    assert_eq!((status, out["history"].clone()), (StatusCode::OK, json!("full")), "{out}");
    let (status, out, _) = send(&h.router, ingest(&gateway, "", vec![event(5)])).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(history_of("e5").await, None);
    assert_eq!(history_of("e0").await, Some(false), "stored events keep what they were stored with");
    let audited: (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT before->>'history', after->>'history' FROM audit_log WHERE action = 'key.history' AND target = $1",
    )
    .bind(format!("key:{id}"))
    .fetch_one(&h.pool)
    .await
    .unwrap();
    assert_eq!(audited, (Some("last_message".into()), Some("full".into())));
}

/// OpenAI request/response pairs over HTTP: `?format=openai&account=` names the key's account, the request's end
/// user is kept; `account` with a format whose records carry their own is refused, naming the parameter.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn openai_request_response_pairs_are_stored_under_the_named_account(pool: PgPool) {
    let h = harness(pool).await;
    let pair = json!({"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Name three rivers."}], "user": "u-1"},
                      "response": {"id": "chatcmpl-r1", "object": "chat.completion", "created": 1_764_900_000, "model": "gpt-4o-mini",
                                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "Nile, Amazon, Rhine."}, "finish_reason": "stop"}]}});
    let post_to = |query: &str| {
        Request::post(format!("/v1/events?{query}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", h.ingest))
            .header(header::CONTENT_TYPE, "application/x-ndjson")
            .body(Body::from(ndjson(std::slice::from_ref(&pair))))
            .unwrap()
    };
    let (status, out, _) = send(&h.router, post_to("account=acct_k")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert!(out.to_string().contains("account: names the account of format=openai records"), "{out}");
    let (status, out, _) = send(&h.router, post_to("format=openai&account=acct_k")).await;
    assert_eq!((status, out["accepted"].clone()), (StatusCode::OK, json!(1)), "{out}");
    let row: (String, Option<String>, String) =
        sqlx::query_as("SELECT account_id, metadata->>'user', prompt FROM events WHERE event_id = 'chatcmpl-r1'")
            .fetch_one(&h.pool)
            .await
            .unwrap();
    assert_eq!(row, ("acct_k".to_owned(), Some("u-1".to_owned()), "Name three rivers.".to_owned()));
}

/// OTLP/HTTP trace exports, as the OpenTelemetry and Langfuse SDKs send them: protobuf or JSON, Bearer or (on
/// Langfuse's path) Basic credentials whose password is an ingest key; the answer follows OTLP's contract.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn otlp_trace_exports_are_answered_by_the_otlp_contract(pool: PgPool) {
    use base64::Engine as _;
    let h = harness(pool).await;
    let fixture = |name: &str| {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dw-ingest/tests/fixtures").join(name))
            .unwrap()
    };
    let export = |path: &str, auth: String, content_type: &str, body: Vec<u8>| {
        Request::post(path)
            .header(header::AUTHORIZATION, auth)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };
    let bearer = format!("Bearer {}", h.ingest);
    // The older convention in protobuf: its messages come as log records in another request. The span waits
    // (a full success, nothing stored yet); the logs complete it into one event.
    let before = stored(&h.pool).await;
    let response = h
        .router
        .clone()
        .oneshot(export(
            "/v1/traces",
            bearer.clone(),
            "application/x-protobuf",
            fixture("otel-openai-v2-default.traces.pb"),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/x-protobuf");
    assert!(response.into_body().collect().await.unwrap().to_bytes().is_empty(), "accepted, waiting for its logs");
    assert_eq!(stored(&h.pool).await, before);
    let (status, out, _) = send(
        &h.router,
        export("/v1/logs", bearer.clone(), "application/json", fixture("otel-openai-v2-default.logs.json")),
    )
    .await;
    assert_eq!((status, out), (StatusCode::OK, json!({})));
    let joined: (String, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT prompt, system_prompt, metadata->'otlp'->>'content_from' FROM events WHERE metadata->'otlp'->>'span_id' = '05ebf7e121e2be45'",
    )
    .fetch_one(&h.pool)
    .await
    .unwrap();
    assert_eq!(joined, ("Explain step by step: 17*23".into(), Some("be terse".into()), Some("log records".into())));
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM otlp_halves").fetch_one(&h.pool).await.unwrap();
    assert_eq!(waiting, 0, "both halves are gone once joined");

    // The current convention in JSON: stored (here its response id is the joined call's: a duplicate), no partial success.
    let (status, out, headers) = send(
        &h.router,
        export("/v1/traces", bearer.clone(), "application/json", fixture("otel-openai-v2-latest.traces.json")),
    )
    .await;
    assert_eq!((status, out), (StatusCode::OK, json!({})));
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    // Langfuse: Basic credentials, the password an ingest key; the public key is kept.
    let basic = |user: &str, key: &str| {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{key}")))
    };
    let path = "/api/public/otel/v1/traces";
    let (status, _, _) = send(
        &h.router,
        export(path, basic("pk-lf-test", &h.analyst), "application/x-protobuf", fixture("langfuse-v5.traces.pb")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an analyst key may not ingest");
    let (status, _, _) = send(
        &h.router,
        export(path, basic("pk-lf-test", "dw_wrong"), "application/x-protobuf", fixture("langfuse-v5.traces.pb")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = h
        .router
        .clone()
        .oneshot(export(
            path,
            basic("pk-lf-test", &h.ingest),
            "application/x-protobuf",
            fixture("langfuse-v5.traces.pb"),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.into_body().collect().await.unwrap().to_bytes().is_empty(), "full success: an empty response");
    let row: (String, Option<String>, Option<String>, String) = sqlx::query_as(
        "SELECT account_id, metadata->>'langfuse_public_key', conversation_id, prompt FROM events WHERE metadata->'otlp'->>'scope' = 'langfuse-sdk'",
    )
    .fetch_one(&h.pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        ("acct_42".into(), Some("pk-lf-test".into()), Some("sess_7".into()), "Explain step by step: 17*23".into())
    );

    // Not OTLP at all: a 415 for the wrong type, a 400 for a body that is no export request; nothing stored.
    let before = stored(&h.pool).await;
    let (status, _, _) = send(&h.router, export("/v1/traces", bearer.clone(), "text/plain", b"x".to_vec())).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, out, _) =
        send(&h.router, export("/v1/traces", bearer, "application/x-protobuf", b"\xff\xff\xff".to_vec())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert!(out.to_string().contains("not an OTLP ExportTraceServiceRequest"), "{out}");
    assert_eq!(stored(&h.pool).await, before);
}

/// Log records that arrive first wait for their span; halves that wait longer than the configured wait are
/// dropped and counted, not kept for ever.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn otlp_log_records_wait_for_their_span_and_are_dropped_after_the_wait(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig { otlp_join_wait_seconds: Some(1), ..AppConfig::default() });
    let h = harness_of(app, pool, ApiConfig::default()).await;
    let fixture = |name: &str| {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dw-ingest/tests/fixtures").join(name))
            .unwrap()
    };
    let export = |path: &str, content_type: &str, body: Vec<u8>| {
        Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", h.ingest))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };
    // Logs first, then the span: joined all the same.
    let (status, _, _) =
        send(&h.router, export("/v1/logs", "application/json", fixture("otel-openai-v2-default.logs.json"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, out, _) =
        send(&h.router, export("/v1/traces", "application/json", fixture("otel-openai-v2-default.traces.json"))).await;
    assert_eq!((status, out), (StatusCode::OK, json!({})));
    assert_eq!(stored(&h.pool).await, 1);
    // Logs whose span never comes: dropped after the wait, when the next halves come in.
    let (status, _, _) =
        send(&h.router, export("/v1/logs", "application/json", fixture("otel-openai-v2-default.logs.json"))).await;
    assert_eq!(status, StatusCode::OK);
    let waiting =
        || async { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM otlp_halves").fetch_one(&h.pool).await.unwrap() };
    assert_eq!(waiting().await, 1);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let mut other: serde_json::Value = serde_json::from_slice(&fixture("otel-openai-v2-default.logs.json")).unwrap();
    for record in other["resourceLogs"][0]["scopeLogs"][0]["logRecords"].as_array_mut().unwrap() {
        record["spanId"] = json!("00000000000000aa");
    }
    let (status, _, _) = send(&h.router, export("/v1/logs", "application/json", other.to_string().into_bytes())).await;
    assert_eq!(status, StatusCode::OK);
    let left: Vec<String> = sqlx::query_scalar("SELECT span_id FROM otlp_halves").fetch_all(&h.pool).await.unwrap();
    assert_eq!(left, ["00000000000000aa"], "the old half expired, the new one waits");
}

/// A parent span ends, and is exported, after its children: a call whose account is named only on its
/// parent waits for it (a full success, nothing stored), and is stored under that account once the parent
/// comes; one whose parent never comes is dropped after the wait and counted.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn otlp_calls_wait_for_the_parent_span_that_names_their_account(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig { otlp_join_wait_seconds: Some(1), ..AppConfig::default() });
    let h = harness_of(app, pool, ApiConfig::default()).await;
    let fixture: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../dw-ingest/tests/fixtures/otel-openai-v2-latest.traces.json"),
        )
        .unwrap(),
    )
    .unwrap();
    // The capture's request with only the call's span, or only its parent's.
    let only = |call: bool, trace: &str| {
        let mut request = fixture.clone();
        for resource in request["resourceSpans"].as_array_mut().unwrap() {
            for scope in resource["scopeSpans"].as_array_mut().unwrap() {
                let spans = scope["spans"].as_array_mut().unwrap();
                spans.retain(|s| (s["name"] == "chat gpt-4o-mini") == call);
                for span in spans.iter_mut() {
                    span["traceId"] = json!(trace);
                    if call {
                        span["attributes"].as_array_mut().unwrap().retain(|a| a["key"] != "gen_ai.response.id");
                    }
                }
            }
        }
        request.to_string().into_bytes()
    };
    let export = |body: Vec<u8>| {
        Request::post("/v1/traces")
            .header(header::AUTHORIZATION, format!("Bearer {}", h.ingest))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let trace = "0000000000000000000000000000a001";
    let (status, out, _) = send(&h.router, export(only(true, trace))).await;
    assert_eq!((status, out), (StatusCode::OK, json!({})), "accepted, waiting for its parent");
    assert_eq!(stored(&h.pool).await, 0);
    let halves: Vec<String> = sqlx::query_scalar("SELECT half FROM otlp_halves").fetch_all(&h.pool).await.unwrap();
    assert_eq!(halves, ["orphan"]);
    let (status, out, _) = send(&h.router, export(only(false, trace))).await;
    assert_eq!((status, out), (StatusCode::OK, json!({})));
    let row: (String, Option<String>, String) =
        sqlx::query_as("SELECT account_id, conversation_id, prompt FROM events").fetch_one(&h.pool).await.unwrap();
    let whole = dw_ingest::formats::otlp::parse_traces(
        fixture.to_string().as_bytes(),
        dw_ingest::formats::otlp::Encoding::Json,
        &dw_ingest::Limits::default(),
    )
    .unwrap()
    .batch
    .events
    .remove(0);
    assert_eq!(row, (whole.account_id, whole.conversation_id, "Explain step by step: 17*23".into()));
    let waiting =
        || async { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM otlp_halves").fetch_one(&h.pool).await.unwrap() };
    assert_eq!(waiting().await, 0);
    // The older convention: the call waits for its log records and for its parent, which come in any order.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dw-ingest/tests/fixtures");
    let read =
        |name: &str| serde_json::from_slice::<serde_json::Value>(&std::fs::read(dir.join(name)).unwrap()).unwrap();
    let older = read("otel-openai-v2-default.traces.json");
    let part = |call: bool| {
        let mut request = older.clone();
        for resource in request["resourceSpans"].as_array_mut().unwrap() {
            for scope in resource["scopeSpans"].as_array_mut().unwrap() {
                scope["spans"].as_array_mut().unwrap().retain(|s| (s["name"] == "chat gpt-4o-mini") == call);
            }
        }
        request.to_string().into_bytes()
    };
    let (status, _, _) = send(&h.router, export(part(true))).await;
    assert_eq!(status, StatusCode::OK);
    let logs = Request::post("/v1/logs")
        .header(header::AUTHORIZATION, format!("Bearer {}", h.ingest))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(read("otel-openai-v2-default.logs.json").to_string()))
        .unwrap();
    let (status, _, _) = send(&h.router, logs).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored(&h.pool).await, 1, "the logs wait: their call has no account yet");
    let (status, _, _) = send(&h.router, export(part(false))).await;
    assert_eq!(status, StatusCode::OK);
    let row: (String, String, Option<String>) = sqlx::query_as(
        "SELECT account_id, prompt, metadata->'otlp'->>'content_from' FROM events WHERE metadata->'otlp'->>'span_id' = '05ebf7e121e2be45'",
    )
    .fetch_one(&h.pool)
    .await
    .unwrap();
    assert_eq!(row, ("acct_42".into(), "Explain step by step: 17*23".into(), Some("log records".into())));
    assert_eq!(waiting().await, 0);
    // A call whose parent never comes: dropped once the wait is over, when the next export comes in.
    let (status, _, _) = send(&h.router, export(only(true, "0000000000000000000000000000a002"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(waiting().await, 1);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (status, _, _) = send(&h.router, export(only(false, "0000000000000000000000000000a003"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(waiting().await, 0, "expired");
    assert_eq!(stored(&h.pool).await, 2);
}

/// A LiteLLM proxy's generic API logger posts its payloads as a JSON array with a bearer token: with
/// `?format=litellm` every call is stored under its virtual key's hash, with its end user and client.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_litellm_proxys_logger_payload_is_stored_as_its_calls(pool: PgPool) {
    let h = harness(pool).await;
    let capture = include_str!("../../dw-ingest/tests/fixtures/litellm-1.108.14-generic_api.json_array.json");
    let with = |format: &str| {
        Request::post(format!("/v1/events?format={format}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", h.ingest))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(capture))
            .unwrap()
    };
    let (status, out, _) = send(&h.router, with("langfuse")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert!(
        out.to_string().contains("format: unknown format \\\"langfuse\\\" (known: canonical, litellm, openai)"),
        "{out}"
    );
    // Without the format, the payloads are not events: every element is rejected, naming the field.
    let (status, out, _) = send(&h.router, post(Some(&h.ingest), Some("application/json"), None, capture)).await;
    assert_eq!((status, out["accepted"].clone()), (StatusCode::BAD_REQUEST, json!(0)), "{out}");
    let (status, out, _) = send(&h.router, with("litellm")).await;
    assert_eq!(
        (status, out["accepted"].clone(), out["rejected"].clone()),
        (StatusCode::OK, json!(6), json!([])),
        "{out}"
    );
    let row: (String, Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT account_id, metadata->>'user', host(client_ip), user_agent FROM events WHERE event_id = $1",
    )
    .bind("51ca2635-c6ff-4b67-9d76-3d7944293edf")
    .fetch_one(&h.pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "litellm_proxy_master_key".to_owned(),
            Some("end-user-9".to_owned()),
            Some("203.0.113.9".to_owned()),
            Some("distill-bot/0.1".to_owned())
        )
    );
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn gzip_and_zstd_bodies_are_decoded(pool: PgPool) {
    let h = harness(pool).await;
    let body = ndjson(&(0..4).map(event).collect::<Vec<_>>());
    let (status, out, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), Some("gzip"), gzip(&body))).await;
    assert_eq!((status, out["accepted"].clone()), (StatusCode::OK, json!(4)));
    let body = ndjson(&(4..6).map(event).collect::<Vec<_>>());
    let z = zstd::encode_all(&body[..], 3).unwrap();
    let (status, out, _) = send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), Some("zstd"), z)).await;
    assert_eq!((status, out["accepted"].clone()), (StatusCode::OK, json!(2)));
    // A body that says gzip but is not: 400, not 500.
    let (status, out, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), Some("gzip"), body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains("gzip"), "{out}");
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_batch_with_bad_lines_stores_exactly_the_good_ones(pool: PgPool) {
    let h = harness(pool).await;
    let mut missing = event(100);
    missing.as_object_mut().unwrap().remove("account_id");
    let mut wrong_type = event(101);
    wrong_type["request"]["temperature"] = json!("hot");
    let huge = json!({"account_id": "a", "timestamp": "2026-11-01T12:00:00Z", "model": "m",
                      "request": {"prompt": "x".repeat(100 * 1024)}});
    let body = format!("{}\n{missing}\n{{not json\n{wrong_type}\n{huge}\n{}\n", event(1), event(2));
    let (status, out, _) = send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, body)).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["accepted"], 2);
    assert_eq!(
        out["rejected"],
        json!([
            {"line": 2, "field": "account_id", "error": "is required"},
            {"line": 3, "field": null, "error": "invalid JSON at column 2: key must be a string"},
            {"line": 4, "field": "request.temperature", "error": "expected a number, found a string"},
            {"line": 5, "field": null, "error": format!("event is {} bytes, over the limit of 65536 bytes", huge.to_string().len())},
        ])
    );
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM events ORDER BY event_id").fetch_all(&h.pool).await.unwrap();
    assert_eq!(ids, vec!["e1", "e2"]);
    let logged: (i64, i64, String) =
        sqlx::query_as("SELECT accepted, rejected, first_error FROM ingest_log").fetch_one(&h.pool).await.unwrap();
    assert_eq!((logged.0, logged.1), (2, 4));
    assert_eq!(logged.2, "line 2: account_id: is required");
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn an_all_invalid_batch_is_400_with_the_same_body(pool: PgPool) {
    let h = harness(pool).await;
    let (status, out, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, "{\"account_id\": 5}\nnope\n")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(out["accepted"], 0);
    assert_eq!(out["rejected"].as_array().unwrap().len(), 2);
    assert_eq!(out["rejected"][0]["field"], "account_id");
    // A broken JSON array is one whole-body rejection.
    let (status, out, _) = send(&h.router, post(Some(&h.ingest), Some("application/json"), None, "[{\"a\":")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(out["rejected"][0]["line"], 0);
    // Not an array at all.
    let (status, out, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/json"), None, event(1).to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(out["rejected"][0]["error"].as_str().unwrap().contains("JSON array"), "{out}");
    // An empty body.
    let (status, out, _) = send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, "\n\n")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert_eq!(stored(&h.pool).await, 0);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_retried_batch_is_all_duplicates_and_still_200(pool: PgPool) {
    let h = harness(pool).await;
    let body = ndjson(&(0..6).map(event).collect::<Vec<_>>());
    send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, body.clone())).await;
    let (status, out, _) = send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out, json!({"accepted": 0, "duplicates": 6, "rejected": []}));
    // The same event re-sent with another timestamp is still the same event.
    let mut moved = event(0);
    moved["timestamp"] = json!("2026-10-01T00:00:00Z");
    let (_, out, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&[moved]))).await;
    assert_eq!(out["duplicates"], 1);
    // Events without ids de-duplicate by content.
    let anonymous =
        json!({"account_id": "z", "timestamp": "2026-11-01T00:00:00Z", "model": "m", "request": {"prompt": "p"}});
    let (_, out, _) = send(
        &h.router,
        post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&[anonymous.clone(), anonymous])),
    )
    .await;
    assert_eq!(out, json!({"accepted": 1, "duplicates": 1, "rejected": []}));
    assert_eq!(stored(&h.pool).await, 7);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn oversized_bodies_and_compression_bombs_are_413(pool: PgPool) {
    let h = harness(pool).await; // body limit 1 MiB
    let big = vec![b' '; (1 << 20) + 1];
    let (status, out, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, big.clone())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{out}");
    // Without a Content-Length (streamed), the limit still holds.
    let stream = futures_stream(big);
    let (status, _, _) = send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, stream)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // 256 MiB of zeros, about 256 KiB compressed: cut off at the limit.
    let bomb = gzip(&vec![b'0'; 256 << 20]);
    assert!(bomb.len() < 1 << 20);
    let (status, out, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), Some("gzip"), bomb)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains("after decompression"));
}

/// A small gzip body of millions of garbage lines is given up early, with a bounded answer; a body of more
/// items than allowed is a 413 with nothing stored, whatever its size in bytes.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn garbage_bodies_get_bounded_answers_and_item_counts_are_capped(pool: PgPool) {
    let config = ApiConfig {
        limits: Limits { max_items: 500, max_listed_errors: 10, ..Limits::default() },
        ..ApiConfig::default()
    };
    let h = harness_with(pool, config).await;
    let bomb = gzip(&b"x\n".repeat(8 << 20));
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    let response = h
        .router
        .clone()
        .oneshot(post(Some(&h.ingest), Some("application/x-ndjson"), Some("gzip"), bomb))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "more lines than the body may hold");
    let few = "x\n".repeat(400);
    let response =
        h.router.clone().oneshot(post(Some(&h.ingest), Some("application/x-ndjson"), None, few)).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert!(bytes.len() < 4 << 10, "the answer lists 10 errors and counts the rest: {} bytes", bytes.len());
    let out: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        (out["rejected"].as_array().unwrap().len(), out["rejected_unlisted"].clone()),
        (10, json!(390)),
        "{out}"
    );
    // One good event among them: stored, the rest counted.
    let mixed = format!("{}\n{}", event(1), "x\n".repeat(50));
    let (status, out, _) = send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, mixed)).await;
    assert_eq!(
        (status, out["accepted"].clone(), out["rejected_unlisted"].clone()),
        (StatusCode::OK, json!(1), json!(40))
    );
    let logged: (i64, Option<String>) =
        sqlx::query_as("SELECT rejected, first_error FROM ingest_log ORDER BY received_at DESC LIMIT 1")
            .fetch_one(&h.pool)
            .await
            .unwrap();
    assert_eq!(logged.0, 50, "the ingest log counts every rejection, listed or not");
    assert!(logged.1.unwrap().len() < 1000);
}

/// A sender that trickles its body cannot hold an ingest slot: past the read timeout it gets a 408 with
/// Retry-After, and the slot goes to the next sender.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_body_that_does_not_arrive_in_time_is_408_and_frees_its_slot(pool: PgPool) {
    let config =
        ApiConfig { max_concurrent_ingests: 1, body_read_timeout: Duration::from_millis(300), ..ApiConfig::default() };
    let h = harness_with(pool, config).await;
    // One chunk, then nothing: the stream stays open.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<Vec<u8>, std::io::Error>>();
    tx.send(Ok(format!("{}\n", event(1)).into_bytes())).unwrap();
    let slow = post(Some(&h.ingest), Some("application/x-ndjson"), None, Body::from_stream(ReceiverStream(rx)));
    let started = std::time::Instant::now();
    let (status, out, headers) = send(&h.router, slow).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{out}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert!(out["error"]["message"].as_str().unwrap().contains("did not arrive within"), "{out}");
    drop(tx);
    let (status, out, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&[event(2)]))).await;
    assert_eq!((status, out["accepted"].clone()), (StatusCode::OK, json!(1)), "the slot is free again: {out}");
    assert_eq!(stored(&h.pool).await, 1, "nothing of the slow body was stored");
}

/// With `ingest.redact` on, e-mail addresses, phone numbers, keys and card numbers are replaced before the
/// events are stored: the answer and the ingest log count them; the event ids are those of the texts as sent,
/// so a sender's retry is still a duplicate.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn redaction_at_ingest_replaces_personal_data_before_storage(pool: PgPool) {
    use dw_ingest::redact::Kind;
    let config = AppConfig { redaction: dw_ingest::Redaction::new(Kind::ALL.to_vec()), ..AppConfig::default() };
    let h = harness_of(App::new(pool.clone(), config), pool.clone(), ApiConfig::default()).await;
    let with_pii = json!({"account_id": "acct_r", "timestamp": "2026-11-20T12:00:00Z", "model": "gpt-x",
        "request": {"messages": [
            {"role": "system", "content": "Support agent. Escalate to ops@example.com."},
            {"role": "user", "content": "I'm jane.doe@mail.example.org, card 4111 1111 1111 1111, call +1 415 555 0134"}]},
        "response": {"content": "Use key sk-proj-abcdefghijklmnopqrstuvwx12 to sign in."}});
    let plain = json!({"account_id": "acct_r", "timestamp": "2026-11-20T12:01:00Z", "model": "gpt-x",
        "request": {"prompt": "What is 1234 + 5678?"}});
    let body = ndjson(&[with_pii.clone(), plain]);
    let (status, out, _) = send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, body)).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!((out["accepted"].as_u64(), out["redacted"].as_u64()), (Some(2), Some(5)), "{out}");
    let (prompt, system, completion): (String, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT prompt, system_prompt, completion FROM events WHERE account_id = 'acct_r' ORDER BY ts LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(prompt, "I'm [email], card [card], call [phone]");
    assert_eq!(system.as_deref(), Some("Support agent. Escalate to [email]."));
    assert_eq!(completion.as_deref(), Some("Use key [api_key] to sign in."));
    let messages: String = sqlx::query_scalar("SELECT messages::text FROM events WHERE account_id = 'acct_r' LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!messages.contains("jane.doe") && !messages.contains("4111"), "{messages}");
    // The ingest log keeps the count; a retry of the same texts is a duplicate.
    let (_, log, _) = send(&h.router, call("GET", "/v1/ingests", &h.analyst, None)).await;
    assert_eq!(log[0]["redacted"], 5, "{log}");
    let (_, again, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&[with_pii]))).await;
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(1)), "{again}");
}

/// One key cannot take every ingest slot: its second body in flight is a 429 that names the setting, while
/// another key's goes in.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn one_key_cannot_hold_every_ingest_slot(pool: PgPool) {
    let config = ApiConfig { max_concurrent_ingests: 4, max_concurrent_per_key: 1, ..ApiConfig::default() };
    let h = harness_with(pool, config).await;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<Vec<u8>, std::io::Error>>();
    tx.send(Ok(format!("{}\n", event(1)).into_bytes())).unwrap();
    let slow = post(Some(&h.ingest), Some("application/x-ndjson"), None, Body::from_stream(ReceiverStream(rx)));
    let router = h.router.clone();
    let in_flight = tokio::spawn(async move { send(&router, slow).await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (status, out, headers) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&[event(2)]))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{out}");
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert!(out["error"]["message"].as_str().unwrap().contains("ingest.max_concurrent_per_key"), "{out}");
    let (status, out, _) =
        send(&h.router, post(Some(&h.admin), Some("application/x-ndjson"), None, ndjson(&[event(3)]))).await;
    assert_eq!((status, out["accepted"].clone()), (StatusCode::OK, json!(1)), "another key goes in: {out}");

    // The slow body ends: its batch is stored and the key may send again.
    tx.send(Ok(format!("{}\n", event(4)).into_bytes())).unwrap();
    drop(tx);
    let (status, out, _) = in_flight.await.unwrap();
    assert_eq!((status, out["accepted"].clone()), (StatusCode::OK, json!(2)), "{out}");
    let (status, out, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&[event(5)]))).await;
    assert_eq!((status, out["accepted"].clone()), (StatusCode::OK, json!(1)), "{out}");
    assert_eq!(stored(&h.pool).await, 4);
}

/// A request past its route's budget is answered 503 with Retry-After, naming the setting, and holds nothing.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_request_past_its_deadline_is_503(pool: PgPool) {
    let deadlines = dw_api::Deadlines { request: Duration::from_millis(300), upload: Duration::from_secs(60) };
    let h = harness_with(pool.clone(), ApiConfig { deadlines, ..ApiConfig::default() }).await;
    // Another session holds the flags table: listing them waits on the lock.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE flags IN ACCESS EXCLUSIVE MODE").execute(&mut *blocker).await.unwrap();
    let list = Request::get("/v1/flags")
        .header(header::AUTHORIZATION, format!("Bearer {}", h.analyst))
        .body(Body::empty())
        .unwrap();
    let started = std::time::Instant::now();
    let (status, out, headers) = send(&h.router, list).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{out}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert_eq!(out["error"]["code"], "deadline_exceeded", "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains("server.request_timeout_seconds"), "{out}");
    blocker.rollback().await.unwrap();
    // Uploads have their own, longer budget: an ingest is unaffected.
    let (status, out, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&[event(1)]))).await;
    assert_eq!(status, StatusCode::OK, "{out}");
}

fn futures_stream(data: Vec<u8>) -> Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = data.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    Body::from_stream(tokio_stream_iter(chunks))
}

fn tokio_stream_iter<T: Send + 'static>(items: Vec<T>) -> impl futures_core::Stream<Item = T> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    for item in items {
        let _ = tx.send(item);
    }
    ReceiverStream(rx)
}

struct ReceiverStream<T>(tokio::sync::mpsc::UnboundedReceiver<T>);

impl<T> futures_core::Stream for ReceiverStream<T> {
    type Item = T;
    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn unknown_content_types_and_encodings_are_415(pool: PgPool) {
    let h = harness(pool).await;
    let body = ndjson(&[event(1)]);
    for (ct, enc) in [
        (None, None),
        (Some("text/plain"), None),
        (Some("application/xml"), None),
        (Some("application/x-ndjson"), Some("br")),
    ] {
        let (status, out, _) = send(&h.router, post(Some(&h.ingest), ct, enc, body.clone())).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?} {enc:?}: {out}");
        assert!(out["error"]["message"].as_str().unwrap().contains("application/x-ndjson") || enc.is_some());
    }
    assert_eq!(stored(&h.pool).await, 0);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn missing_bad_and_revoked_keys_are_401_and_wrong_roles_403(pool: PgPool) {
    let h = harness(pool).await;
    let body = ndjson(&[event(1)]);
    let (status, _, headers) = send(&h.router, post(None, Some("application/x-ndjson"), None, body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    for bad in ["dw_0000", "not-a-key", ""] {
        let (status, _, _) = send(&h.router, post(Some(bad), Some("application/x-ndjson"), None, body.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad:?}");
    }
    let basic = Request::post("/v1/events")
        .header(header::AUTHORIZATION, format!("Basic {}", h.ingest))
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(send(&h.router, basic).await.0, StatusCode::UNAUTHORIZED);
    let (status, out, _) =
        send(&h.router, post(Some(&h.analyst), Some("application/x-ndjson"), None, body.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(out["error"]["message"].as_str().unwrap().contains("analyst"), "{out}");
    // Revoke the ingest key through the admin API: it stops working at once.
    let prefix = &h.ingest[..11];
    let revoke = Request::delete(format!("/v1/keys/{prefix}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", h.admin))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&h.router, revoke).await.0, StatusCode::OK);
    let (status, _, _) = send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(stored(&h.pool).await, 0);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn every_v1_route_checks_roles(pool: PgPool) {
    let h = harness(pool).await;
    // Flags, clusters and accounts to read, a key to revoke, an allowlist entry to remove.
    farm_flags(&h).await;
    let (_, clusters, _) = send(&h.router, call("GET", "/v1/clusters", &h.admin, None)).await;
    let cluster = clusters["clusters"][0]["cluster_id"].as_str().unwrap().to_owned();
    let (_, spare, _) =
        send(&h.router, call("POST", "/v1/keys", &h.admin, Some(json!({"name": "spare", "role": "ingest"})))).await;
    let spare = spare["key"]["key_id"].as_str().unwrap().to_owned();
    let audit = json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-08T00:00:00Z"});
    let allow = json!({"account_id": "acct_partner", "reason": "evaluation partner"});
    let (_, set, _) =
        send(&h.router, call("POST", "/v1/reference-sets", &h.admin, Some(json!({"name": "suspect-1"})))).await;
    let set = set["id"].as_i64().unwrap();
    let (_, control, _) = send(
        &h.router,
        call("POST", "/v1/reference-sets", &h.admin, Some(json!({"name": "control-1", "control": true}))),
    )
    .await;
    let control = control["id"].as_i64().unwrap();
    let (any, analysts, admins): (&[&str], &[&str], &[&str]) =
        (&["ingest", "analyst", "admin"], &["analyst", "admin"], &["admin"]);
    // (method, path, body, roles allowed): every /v1 route.
    let routes: Vec<(&str, String, Option<Value>, &[&str])> = vec![
        ("POST", "/v1/events".into(), Some(json!([event(1)])), &["ingest", "admin"]),
        ("GET", "/v1/schema/event".into(), None, any),
        ("GET", "/v1/ingests".into(), None, analysts),
        ("POST", "/v1/audits".into(), Some(audit), analysts),
        ("GET", "/v1/audits/1".into(), None, analysts),
        ("GET", "/v1/accounts".into(), None, analysts),
        ("GET", "/v1/accounts/farm01".into(), None, analysts),
        ("GET", "/v1/accounts/farm01/events".into(), None, analysts),
        ("GET", "/v1/accounts/farm01/timeline".into(), None, analysts),
        ("GET", "/v1/clusters".into(), None, analysts),
        ("GET", format!("/v1/clusters/{cluster}"), None, analysts),
        ("GET", "/v1/flags".into(), None, analysts),
        ("GET", "/v1/flags/1".into(), None, analysts),
        ("PATCH", "/v1/flags/1".into(), Some(json!({"note": "looked at it"})), analysts),
        ("GET", "/v1/flags/1/export?format=csv".into(), None, analysts),
        ("GET", "/v1/allowlist".into(), None, analysts),
        ("POST", "/v1/allowlist".into(), Some(allow), admins),
        ("DELETE", "/v1/allowlist/acct_partner".into(), None, admins),
        ("GET", "/v1/reference-sets".into(), None, analysts),
        ("POST", "/v1/reference-sets".into(), Some(json!({"name": "suspect-2"})), analysts),
        ("GET", format!("/v1/reference-sets/{set}"), None, analysts),
        ("POST", format!("/v1/reference-sets/{set}/items"), Some(json!({"output": "an answer"})), analysts),
        ("GET", format!("/v1/reference-sets/{set}/distillation-test?control={control}"), None, analysts),
        ("GET", format!("/v1/reference-sets/{set}/attribution"), None, analysts),
        ("POST", format!("/v1/reference-sets/{set}/distillation-test"), Some(json!({"control": control})), analysts),
        ("POST", format!("/v1/reference-sets/{set}/attribution"), Some(json!({})), analysts),
        ("GET", "/v1/reference-jobs/1".into(), None, analysts),
        ("GET", "/v1/keys".into(), None, admins),
        ("POST", "/v1/keys".into(), Some(json!({"name": "n", "role": "ingest"})), admins),
        ("PATCH", format!("/v1/keys/{spare}"), Some(json!({"history": "last_message"})), admins),
        ("DELETE", format!("/v1/keys/{spare}"), None, admins),
        ("GET", "/v1/audit-log".into(), None, admins),
    ];
    let keys = [("ingest", h.ingest.clone()), ("analyst", h.analyst.clone()), ("admin", h.admin.clone())];
    for (method, path, body, allowed) in routes {
        let build = |key: Option<&str>, role: &str| {
            let mut req = Request::builder().method(method).uri(&path);
            if let Some(key) = key {
                req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
            }
            // Items are NDJSON, one per line; everything else JSON.
            let content_type = if path.ends_with("/items") { "application/x-ndjson" } else { "application/json" };
            // A name is taken once: each role creates its own set.
            let body = match &body {
                Some(b) if b.get("name").is_some_and(|n| n == "suspect-2") => {
                    Some(json!({"name": format!("s-{role}")}))
                }
                other => other.clone(),
            };
            match &body {
                Some(b) => req.header(header::CONTENT_TYPE, content_type).body(Body::from(b.to_string())).unwrap(),
                None => req.body(Body::empty()).unwrap(),
            }
        };
        assert_eq!(
            send(&h.router, build(None, "none")).await.0,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without key"
        );
        for (role, key) in &keys {
            let status = send(&h.router, build(Some(key), role)).await.0;
            if allowed.contains(role) {
                assert!(status.is_success(), "{method} {path} as {role}: {status}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {role}");
            }
        }
    }
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn admins_manage_keys_and_bad_key_requests_are_400(pool: PgPool) {
    let h = harness(pool).await;
    let create = |body: &str| {
        Request::post("/v1/keys")
            .header(header::AUTHORIZATION, format!("Bearer {}", h.admin))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let (status, out, _) = send(&h.router, create(r#"{"name": "gateway", "role": "ingest"}"#)).await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = out["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("dw_"));
    assert_eq!(out["key"]["role"], "ingest");
    let (status, _, _) =
        send(&h.router, post(Some(&secret), Some("application/x-ndjson"), None, ndjson(&[event(1)]))).await;
    assert_eq!(status, StatusCode::OK);
    for bad in [r#"{"name": "x", "role": "root"}"#, r#"{"name": "x"}"#, "not json", r#"{"name": "", "role": "admin"}"#]
    {
        let (status, out, _) = send(&h.router, create(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {out}");
    }
    let list = Request::get("/v1/keys")
        .header(header::AUTHORIZATION, format!("Bearer {}", h.admin))
        .body(Body::empty())
        .unwrap();
    let (_, out, _) = send(&h.router, list).await;
    let listed = out.as_array().unwrap();
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|k| k.get("secret").is_none() && k.get("key_hash").is_none()));
    let missing = Request::delete("/v1/keys/dw_nope")
        .header(header::AUTHORIZATION, format!("Bearer {}", h.admin))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&h.router, missing).await.0, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_saturated_ingest_answers_429(pool: PgPool) {
    let config = ApiConfig { max_concurrent_ingests: 1, ..ApiConfig::default() };
    let h = harness_with(pool, config).await;
    // A request holds the only slot while its body trickles in; whether it got
    // the slot before a quick request did depends on scheduling, so try again
    // until the order is the intended one.
    for attempt in 0..20u64 {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<Vec<u8>, std::io::Error>>();
        let slow = post(Some(&h.ingest), Some("application/x-ndjson"), None, Body::from_stream(ReceiverStream(rx)));
        let router = h.router.clone();
        let first = tokio::spawn(async move { send(&router, slow).await });
        tokio::time::sleep(Duration::from_millis(50 * (attempt + 1))).await;
        if first.is_finished() {
            continue; // it was refused: a quick request of an earlier attempt held the slot
        }
        let quick =
            post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&[event(1000 + attempt as usize)]));
        let (status, out, headers) = send(&h.router, quick).await;
        if status != StatusCode::TOO_MANY_REQUESTS {
            drop(tx);
            let _ = first.await;
            continue;
        }
        assert_eq!(out["error"]["code"], "overloaded");
        assert!(headers.contains_key(header::RETRY_AFTER));
        // The slow request finishes normally once its body arrives.
        tx.send(Ok(ndjson(&[event(1)]))).unwrap();
        drop(tx);
        let (status, out, _) = first.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{out}");
        assert_eq!(out["accepted"], 1);
        return;
    }
    panic!("a request never got 429 while another held the only ingest slot");
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn probes_metrics_schema_and_request_ids(pool: PgPool) {
    let h = harness(pool).await;
    for path in ["/healthz", "/readyz"] {
        let (status, out, headers) = send(&h.router, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{path}: {out}");
        assert!(headers.contains_key("x-request-id"));
    }
    // A caller's request id is echoed back.
    let req = Request::get("/healthz").header("x-request-id", "trace-me-42").body(Body::empty()).unwrap();
    assert_eq!(send(&h.router, req).await.2.get("x-request-id").unwrap(), "trace-me-42");

    send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&[event(1)]))).await;
    let (status, text, headers) = send(&h.router, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
    let text = text.as_str().unwrap();
    for metric in [
        "distillwatch_ingest_events_total",
        "distillwatch_http_requests_total",
        "distillwatch_http_request_duration_seconds_bucket",
        "distillwatch_ingest_body_bytes_bucket",
        "distillwatch_db_pool_connections",
    ] {
        assert!(text.contains(metric), "{metric} missing from /metrics");
    }

    let req = Request::get("/v1/schema/event")
        .header(header::AUTHORIZATION, format!("Bearer {}", h.ingest))
        .body(Body::empty())
        .unwrap();
    let (status, schema, _) = send(&h.router, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(schema["required"], json!(["account_id", "timestamp", "model", "request"]));

    // The database going away makes /readyz fail, not /healthz.
    h.pool.close().await;
    let (status, _, _) = send(&h.router, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _, _) = send(&h.router, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn no_garbage_body_causes_a_server_error(pool: PgPool) {
    let h = harness(pool).await;
    let bodies: Vec<Vec<u8>> = vec![
        b"\xff\xfe\x00garbage".to_vec(),
        b"{}".to_vec(),
        b"[]".to_vec(),
        b"null\ntrue\n12\n\"s\"".to_vec(),
        br#"{"account_id":"a","timestamp":"2026-11-01T00:00:00Z","model":"m","request":{"prompt":"\u0000"}}"#.to_vec(),
        br#"{"account_id":"a","timestamp":"9999-12-31T23:59:59Z","model":"m","request":{"prompt":"x"}}"#.to_vec(),
        br#"{"account_id":"a","timestamp":"2026-11-01T00:00:00Z","model":"m","request":{"prompt":"x","max_tokens":99999999999}}"#.to_vec(),
        br#"{"account_id":"a","timestamp":"2026-11-01T00:00:00Z","model":"m","request":{"prompt":"x"},"metadata":{"k":"\u0000"}}"#.to_vec(),
        vec![b'['; 10_000],
    ];
    for body in bodies {
        for ct in ["application/x-ndjson", "application/json"] {
            let (status, out, _) = send(&h.router, post(Some(&h.ingest), Some(ct), None, body.clone())).await;
            assert!(
                status.is_success() || status.is_client_error(),
                "{ct} {:?}: {status} {out}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}

/// An analyst's audit covers at most `audit.max_window_days`, and at most `jobs.max_queued` jobs wait: past
/// either, a 400 or a 429 that names the setting, and nothing is queued.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn audit_windows_and_the_queue_are_capped(pool: PgPool) {
    let config = AppConfig { max_queued_jobs: Some(2), max_audit_window_days: Some(31), ..AppConfig::default() };
    let h = harness_of(App::new(pool.clone(), config), pool.clone(), ApiConfig::default()).await;
    let post_audit = |body: Value| {
        Request::post("/v1/audits")
            .header(header::AUTHORIZATION, format!("Bearer {}", h.analyst))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let queued =
        || async { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM audits").fetch_one(&pool).await.unwrap() };
    let (status, out, _) =
        send(&h.router, post_audit(json!({"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains("audit.max_window_days = 31"), "{out}");
    assert_eq!(queued().await, 0);

    let week = json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-08T00:00:00Z"});
    for _ in 0..2 {
        let (status, out, _) = send(&h.router, post_audit(week.clone())).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{out}");
    }
    let (status, out, headers) = send(&h.router, post_audit(week.clone())).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{out}");
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert!(out["error"]["message"].as_str().unwrap().contains("jobs.max_queued"), "{out}");
    assert_eq!(queued().await, 2);

    // A worker takes one: there is room again.
    App::new(pool.clone(), AppConfig::default()).run_audit("test", None).await.unwrap().unwrap();
    let (status, out, _) = send(&h.router, post_audit(week)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{out}");
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn audits_are_queued_followed_and_bad_requests_say_which_field(pool: PgPool) {
    let h = harness(pool.clone()).await;
    let post_audit = |body: String| {
        Request::post("/v1/audits")
            .header(header::AUTHORIZATION, format!("Bearer {}", h.analyst))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let get_audit = |id: &str| {
        Request::get(format!("/v1/audits/{id}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", h.analyst))
            .body(Body::empty())
            .unwrap()
    };
    let body =
        json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-08T00:00:00Z", "accounts": ["acct_1"], "dry_run": true});
    let (status, queued, _) = send(&h.router, post_audit(body.to_string())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["state"], "queued");
    assert_eq!(queued["accounts"], json!(["acct_1"]));
    assert_eq!(queued["dry_run"], true);
    assert!(queued["requested_by"].as_str().unwrap().starts_with("api:"));
    let id = queued["id"].as_i64().unwrap();

    // A worker runs it; the API shows it done with its summary.
    let app = App::new(pool, AppConfig::default());
    app.run_audit("test", None).await.unwrap().unwrap();
    let (status, done, _) = send(&h.router, get_audit(&id.to_string())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["summary"]["dry_run"], true);
    assert_eq!(done["progress"]["stage"], "done");

    for (body, says) in [
        (json!({"from": "yesterday", "to": "2026-11-08T00:00:00Z"}).to_string(), "from: expected an RFC 3339"),
        (json!({"from": "2026-11-08T00:00:00Z", "to": "2026-11-01T00:00:00Z"}).to_string(), "to: must be after from"),
        (
            json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-08T00:00:00Z", "accounts": []}).to_string(),
            "accounts:",
        ),
        (json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-08T00:00:00Z", "dryrun": true}).to_string(), "dryrun"),
        ("{".to_owned(), "EOF"),
    ] {
        let (status, error, _) = send(&h.router, post_audit(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(error.to_string().contains(says), "{body}: {error}");
    }
    assert_eq!(send(&h.router, get_audit("999")).await.0, StatusCode::NOT_FOUND);
    // Queued audits are on record, with their scope; refused ones are not.
    let log_path = format!("/v1/audit-log?target=audit:{id}");
    let (_, log, _) = send(&h.router, call("GET", &log_path, &h.admin, None)).await;
    assert_eq!(log["entries"][0]["action"], "audit.queue", "{log}");
    assert_eq!(log["entries"][0]["after"]["accounts"], json!(["acct_1"]));
    let (_, all, _) = send(&h.router, call("GET", "/v1/audit-log", &h.admin, None)).await;
    let queued = all["entries"].as_array().unwrap().iter().filter(|e| e["action"] == "audit.queue").count();
    assert_eq!(queued, 1);
    assert_eq!(send(&h.router, get_audit("abc")).await.0, StatusCode::NOT_FOUND);
}

/// Thirty accounts scripted from one /24 with one client, sent through the
/// API, then audited: thirty account flags and their cluster's.
async fn farm_flags(h: &Harness) {
    let lines: Vec<Value> = (0..30)
        .flat_map(|a| {
            (0..125).map(move |i| {
                let (day, minute) = (2 + i / 25, (i % 25) * 10);
                json!({"event_id": format!("farm{a:02}-{i}"), "account_id": format!("farm{a:02}"),
                       "timestamp": format!("2026-11-{day:02}T{:02}:{:02}:00Z", minute / 60, minute % 60),
                       "model": "m",
                       "request": {"prompt": format!("Write task number {i} about something different each time please."),
                                   "max_tokens": 4096},
                       "client": {"ip": format!("203.0.113.{}", a + 1), "user_agent": "OpenAI/Python 1.50.0"}})
            })
        })
        .collect();
    for chunk in lines.chunks(500) {
        let (status, body, _) =
            send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(chunk))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let app = App::new(h.pool.clone(), AppConfig::default());
    let spec = dw_app::AuditSpec {
        from: time::macros::datetime!(2026-11-01 0:00 UTC),
        to: time::macros::datetime!(2026-11-08 0:00 UTC),
        accounts: None,
        model: None,
        dry_run: false,
        requested_by: "test".into(),
    };
    let id = app.queue_audit(&spec).await.unwrap();
    assert_eq!(app.run_audit("test", Some(id)).await.unwrap().unwrap().summary.opened, 31);
}

fn call(method: &str, path: &str, key: &str, body: Option<Value>) -> Request<Body> {
    let req = Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {key}"));
    match body {
        Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())).unwrap(),
        None => req.body(Body::empty()).unwrap(),
    }
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn analysts_list_filter_page_read_and_work_flags_and_admins_read_the_audit_log(pool: PgPool) {
    let h = harness(pool).await;
    farm_flags(&h).await;

    // Listing: riskiest first, filtered, paged by cursor without repeats or gaps.
    let (status, all, _) = send(&h.router, call("GET", "/v1/flags?limit=500", &h.analyst, None)).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let all = all["flags"].as_array().unwrap().clone();
    assert_eq!(all.len(), 31);
    assert!(all.windows(2).all(|w| w[0]["risk"].as_f64() >= w[1]["risk"].as_f64()));
    assert!(all[0].get("evidence").is_none(), "listings carry no evidence bundle");
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/flags?limit=7&cursor={c}"),
            None => "/v1/flags?limit=7".to_owned(),
        };
        let (status, page, _) = send(&h.router, call("GET", &path, &h.analyst, None)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        paged.extend(page["flags"].as_array().unwrap().iter().map(|f| f["id"].clone()));
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, all.iter().map(|f| f["id"].clone()).collect::<Vec<_>>());
    let (_, clusters, _) = send(&h.router, call("GET", "/v1/flags?kind=cluster", &h.analyst, None)).await;
    assert_eq!(clusters["flags"].as_array().unwrap().len(), 1);
    let cluster_id = clusters["flags"][0]["id"].as_i64().unwrap();

    // One flag: its evidence, history and where it can go.
    let id = all.iter().find(|f| f["kind"] == "account").unwrap()["id"].as_i64().unwrap();
    let path = format!("/v1/flags/{id}");
    let (status, flag, _) = send(&h.router, call("GET", &path, &h.analyst, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(flag["evidence"]["signals"].is_array());
    assert_eq!(flag["history"][0]["action"], "opened");
    assert_eq!(flag["next_statuses"], json!(["escalated", "confirmed", "dismissed"]));

    // Worked: escalated and assigned with a note, then confirmed; a wrong move is a 409 saying the right ones.
    let patch = json!({"status": "escalated", "assignee": "lead@example", "note": "same /24 as last month"});
    let (status, escalated, _) = send(&h.router, call("PATCH", &path, &h.analyst, Some(patch))).await;
    assert_eq!(status, StatusCode::OK, "{escalated}");
    assert_eq!(
        (escalated["status"].as_str(), escalated["assignee"].as_str()),
        (Some("escalated"), Some("lead@example"))
    );
    let (status, wrong, _) = send(&h.router, call("PATCH", &path, &h.analyst, Some(json!({"status": "open"})))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(wrong.to_string().contains("cannot become open: it can become confirmed or dismissed"), "{wrong}");
    let (_, fresh, _) = send(&h.router, call("GET", "/v1/flags?older_than_hours=1", &h.analyst, None)).await;
    assert_eq!(fresh["flags"].as_array().unwrap().len(), 0, "every flag was opened moments ago");
    let (_, young, _) = send(&h.router, call("GET", "/v1/flags?older_than_hours=0", &h.analyst, None)).await;
    assert_eq!(young["flags"].as_array().unwrap().len(), 31);
    let (_, assigned, _) = send(&h.router, call("GET", "/v1/flags?assignee=lead@example", &h.analyst, None)).await;
    assert_eq!(assigned["flags"].as_array().unwrap().len(), 1);
    let (status, unassigned, _) =
        send(&h.router, call("PATCH", &path, &h.admin, Some(json!({"assignee": null})))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unassigned["assignee"], Value::Null);
    let confirm = json!({"status": "confirmed", "note": "payments match"});
    let (status, confirmed, _) = send(&h.router, call("PATCH", &path, &h.analyst, Some(confirm))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(confirmed["decision_note"], "payments match");
    assert_eq!(confirmed["next_statuses"], json!(["open"]));
    let (_, confirmed_list, _) = send(&h.router, call("GET", "/v1/flags?status=confirmed", &h.analyst, None)).await;
    assert_eq!(confirmed_list["flags"].as_array().unwrap().len(), 1);

    // Bad requests say which field; unknown flags are 404; ingest keys cannot work flags.
    for (method, path, body, says) in [
        ("GET", "/v1/flags?status=closed".to_owned(), None, "status: \"closed\" is not one of open, escalated"),
        ("GET", "/v1/flags?level=severe".to_owned(), None, "level: \"severe\""),
        ("GET", "/v1/flags?kind=person".to_owned(), None, "kind:"),
        ("GET", "/v1/flags?limit=0".to_owned(), None, "limit: 0 is not between 1 and 500"),
        ("GET", "/v1/flags?older_than_hours=-1".to_owned(), None, "older_than_hours:"),
        ("GET", "/v1/flags?cursor=abc".to_owned(), None, "cursor:"),
        ("GET", "/v1/flags?sort=risk".to_owned(), None, "sort"),
        ("PATCH", format!("/v1/flags/{cluster_id}"), Some(json!({"status": "closed"})), "status: \"closed\""),
        ("PATCH", format!("/v1/flags/{cluster_id}"), Some(json!({"stauts": "confirmed"})), "stauts"),
        ("PATCH", format!("/v1/flags/{cluster_id}"), Some(json!({})), "give at least one of status, assignee and note"),
        ("PATCH", format!("/v1/flags/{cluster_id}"), Some(json!({"note": ""})), "note: empty"),
    ] {
        let (status, error, _) = send(&h.router, call(method, &path, &h.analyst, body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path} {body:?}: {error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{method} {path} {body:?}: {error}");
    }
    assert_eq!(send(&h.router, call("GET", "/v1/flags/999999", &h.analyst, None)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(&h.router, call("GET", "/v1/flags/abc", &h.analyst, None)).await.0, StatusCode::NOT_FOUND);
    let confirm = Some(json!({"status": "confirmed"}));
    assert_eq!(
        send(&h.router, call("PATCH", "/v1/flags/999999", &h.analyst, confirm.clone())).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(send(&h.router, call("PATCH", &path, &h.ingest, confirm)).await.0, StatusCode::FORBIDDEN);

    // The case file, in three formats, each an attachment; exporting is on record.
    for (format, media) in [("json", "application/json"), ("csv", "text/csv"), ("html", "text/html")] {
        let export = call("GET", &format!("{path}/export?format={format}"), &h.analyst, None);
        let (status, body, headers) = send(&h.router, export).await;
        assert_eq!(status, StatusCode::OK, "{format}: {body}");
        assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with(media), "{format}");
        assert_eq!(
            headers[header::CONTENT_DISPOSITION].to_str().unwrap(),
            format!("attachment; filename=\"case-{id}.{format}\"")
        );
        let text = if format == "json" { body.to_string() } else { body.as_str().unwrap().to_owned() };
        assert!(text.contains("payments match"), "{format}: the decision note is in the file");
        assert!(text.contains("Write task number"), "{format}: example prompts are in the file");
    }
    let (_, json_case, _) = send(&h.router, call("GET", &format!("{path}/export"), &h.analyst, None)).await;
    assert!(!json_case["examples"].as_array().unwrap().is_empty());
    assert_eq!(json_case["flag"]["status"], "confirmed");
    let (status, error, _) = send(&h.router, call("GET", &format!("{path}/export?format=pdf"), &h.analyst, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"]["message"].as_str().unwrap().contains("format: \"pdf\" is not json, csv or html"));

    // Dashboards see flags by status and level on /metrics.
    let (status, metrics, _) = send(&h.router, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.as_str().unwrap().contains("distillwatch_flags{status=\"confirmed\",level=\""), "{metrics}");

    // The audit log, for admins: every change with who, before and after; refused ones are not there.
    let log_path = format!("/v1/audit-log?target=flag:{id}");
    assert_eq!(send(&h.router, call("GET", &log_path, &h.analyst, None)).await.0, StatusCode::FORBIDDEN);
    let (status, log, _) = send(&h.router, call("GET", &log_path, &h.admin, None)).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        1 + 3 + 4,
        "the analyst's read (its evidence quotes prompts), three changes and four exports: {log}"
    );
    assert_eq!(entries[0]["action"], "flag.read");
    assert!(entries[0]["actor"].as_str().unwrap().ends_with(" analyst key"), "{}", entries[0]);
    assert_eq!(entries[7]["action"], "flag.export");
    assert!(entries[1]["actor"].as_str().unwrap().ends_with(" analyst key"), "{}", entries[1]);
    assert_eq!(entries[1]["role"], "analyst");
    assert_eq!(entries[1]["before"], json!({"status": "open", "assignee": null}));
    assert!(entries[2]["actor"].as_str().unwrap().ends_with(" admin key"));
    assert_eq!(entries[3]["after"]["status"], "confirmed");
    // Keys made by the harness are on record too, and the log pages.
    let (_, first, _) = send(&h.router, call("GET", "/v1/audit-log?limit=2", &h.admin, None)).await;
    assert_eq!(first["entries"][0]["action"], "key.create");
    let after = first["next_after"].as_i64().unwrap();
    let (_, rest, _) = send(&h.router, call("GET", &format!("/v1/audit-log?after={after}"), &h.admin, None)).await;
    assert_eq!(
        rest["entries"].as_array().unwrap().len(),
        1 + 1 + 3 + 4,
        "the third key, the flag's read, three flag changes, four exports"
    );
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn the_openapi_description_and_its_interactive_reference_are_served_without_a_key(pool: PgPool) {
    let h = harness(pool).await;
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    let (status, spec, headers) = send(&h.router, get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/v1/flags/{id}"]["patch"].is_object());
    let (status, page, _) = send(&h.router, get("/docs")).await;
    assert_eq!(status, StatusCode::OK);
    let page = page.as_str().unwrap();
    assert!(
        page.contains("/docs/swagger-ui-bundle.js") && !page.contains("https://"),
        "assets are served here: {page}"
    );
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/init.js"] {
        let (status, body, _) = send(&h.router, get(asset)).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(body.as_str().is_some_and(|b| b.len() > 50), "{asset}");
    }
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn admins_manage_the_allowlist_with_reasons_and_expiries(pool: PgPool) {
    let h = harness(pool).await;
    let entry =
        json!({"account_id": "acct_partner", "reason": "licensed distillation", "expires_at": "2099-01-01T00:00:00Z"});
    let (status, added, _) = send(&h.router, call("POST", "/v1/allowlist", &h.admin, Some(entry))).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["expires_at"], "2099-01-01T00:00:00Z");
    assert!(added["added_by"].as_str().unwrap().ends_with(" admin key"));
    let (status, listed, _) = send(&h.router, call("GET", "/v1/allowlist", &h.analyst, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["accounts"][0]["account_id"], "acct_partner");

    for (body, says) in [
        (json!({"account_id": "a", "reason": " "}), "reason:"),
        (json!({"account_id": "a", "reason": "r", "expires_at": "next year"}), "expires_at: expected an RFC 3339"),
        (json!({"account_id": "a", "reason": "r", "expires_at": "2020-01-01T00:00:00Z"}), "is not in the future"),
        (json!({"account_id": "", "reason": "r"}), "account_id:"),
        (json!({"account": "a", "reason": "r"}), "account"),
    ] {
        let (status, error, _) = send(&h.router, call("POST", "/v1/allowlist", &h.admin, Some(body.clone()))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert!(error["error"]["message"].as_str().unwrap().contains(says), "{body}: {error}");
    }
    assert_eq!(
        send(&h.router, call("DELETE", "/v1/allowlist/acct_partner", &h.analyst, None)).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, removed, _) = send(&h.router, call("DELETE", "/v1/allowlist/acct_partner", &h.admin, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(removed["reason"], "licensed distillation");
    assert_eq!(
        send(&h.router, call("DELETE", "/v1/allowlist/acct_partner", &h.admin, None)).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, log, _) = send(&h.router, call("GET", "/v1/audit-log?target=account:acct_partner", &h.admin, None)).await;
    let actions: Vec<&str> = log["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["allowlist.add", "allowlist.remove"]);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn analysts_list_filter_and_page_accounts_and_read_their_profile_events_and_timeline(pool: PgPool) {
    let h = harness(pool).await;
    let (status, none, _) = send(&h.router, call("GET", "/v1/accounts", &h.analyst, None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{none}");
    assert!(none["error"]["message"].as_str().unwrap().contains("a finished audit"), "{none}");
    farm_flags(&h).await;

    let (status, page, _) = send(&h.router, call("GET", "/v1/accounts?limit=500", &h.analyst, None)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let accounts = page["accounts"].as_array().unwrap().clone();
    assert_eq!(accounts.len(), 30);
    assert!(accounts.iter().all(|a| a["requests"] == 125 && a["flagged"] == true), "{}", accounts[0]);
    assert!(accounts[0]["top_signals"].as_array().is_some_and(|s| !s.is_empty()));
    // Paged by volume, then by risk: every account once.
    for sort in ["requests", "risk"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/accounts?sort={sort}&limit=7&cursor={c}"),
                None => format!("/v1/accounts?sort={sort}&limit=7"),
            };
            let (status, page, _) = send(&h.router, call("GET", &path, &h.analyst, None)).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.extend(
                page["accounts"].as_array().unwrap().iter().map(|a| a["account_id"].as_str().unwrap().to_owned()),
            );
            match page["next"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (30, 30), "{sort}");
    }
    let cluster = accounts[0]["cluster_id"].as_str().unwrap().to_owned();
    for (query, count) in [
        (format!("cluster={cluster}"), 30),
        ("flagged=false".to_owned(), 0),
        ("level=none".to_owned(), 0),
        ("min_risk=0.5&model=m&active_from=2026-11-06T00:00:00Z".to_owned(), 30),
        ("model=other".to_owned(), 0),
        ("active_to=2026-11-02T00:00:00Z".to_owned(), 0),
    ] {
        let (status, page, _) = send(&h.router, call("GET", &format!("/v1/accounts?{query}"), &h.analyst, None)).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(page["accounts"].as_array().unwrap().len(), count, "{query}");
    }
    for (query, says) in [
        ("min_risk=2", "min_risk: 2 is not between 0 and 1"),
        ("sort=size", "sort:"),
        ("level=severe", "level:"),
        ("active_from=monday", "active_from: expected an RFC 3339"),
        ("cursor=nope", "cursor:"),
        ("colour=red", "colour"),
    ] {
        let (status, error, _) = send(&h.router, call("GET", &format!("/v1/accounts?{query}"), &h.analyst, None)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {error}");
        assert!(error["error"]["message"].as_str().unwrap().contains(says), "{query}: {error}");
    }

    // Clusters: why the members are linked, their combined volume and signals.
    let (status, clusters, _) = send(&h.router, call("GET", "/v1/clusters?flagged=true", &h.analyst, None)).await;
    assert_eq!(status, StatusCode::OK, "{clusters}");
    let listed = &clusters["clusters"][0];
    assert_eq!((listed["members"].as_i64(), listed["flagged_members"].as_i64()), (Some(30), Some(30)));
    assert_eq!(listed["requests"], 30 * 125);
    assert!(listed["reason"].as_str().unwrap().starts_with("30 accounts sending from 203.0.113.0/24"), "{listed}");
    assert_eq!(listed["flag_status"], "open");
    let (status, detail, _) = send(&h.router, call("GET", &format!("/v1/clusters/{cluster}"), &h.analyst, None)).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["members"].as_array().unwrap().len(), 30);
    assert_eq!(detail["signals"][0]["members"], 30, "{}", detail["signals"]);
    assert_eq!(send(&h.router, call("GET", "/v1/clusters/c-nope", &h.analyst, None)).await.0, StatusCode::NOT_FOUND);
    let (status, _, _) = send(&h.router, call("GET", "/v1/clusters?cursor=x", &h.analyst, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // One account: its score with contributions, its flag and its cluster's.
    let (status, farm, _) = send(&h.router, call("GET", "/v1/accounts/farm03", &h.analyst, None)).await;
    assert_eq!(status, StatusCode::OK, "{farm}");
    assert_eq!(farm["score"]["requests"], 125);
    assert_eq!(farm["score"]["cluster_id"], cluster.as_str());
    assert_eq!(farm["flag"]["status"], "open");
    assert!(farm["cluster_flag"]["reason"].as_str().unwrap().starts_with("30 of 30 linked accounts flagged"));
    assert_eq!(farm["first_seen"], "2026-11-02T00:00:00Z");
    assert_eq!(send(&h.router, call("GET", "/v1/accounts/nobody", &h.analyst, None)).await.0, StatusCode::NOT_FOUND);

    // Its events, paged oldest first (the default window: its last seven days of activity).
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/accounts/farm03/events?limit=50&cursor={c}"),
            None => "/v1/accounts/farm03/events?limit=50".to_owned(),
        };
        let (status, page, _) = send(&h.router, call("GET", &path, &h.analyst, None)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.replace('+', "%2B")),
            None => break,
        }
    }
    assert_eq!(events.len(), 125);
    assert!(events.windows(2).all(|w| w[0]["ts"].as_str() <= w[1]["ts"].as_str()));
    assert_eq!(events[0]["max_tokens"], 4096);
    assert_eq!(events[0]["client_ip"], "203.0.113.4");
    let bounded = "/v1/accounts/farm03/events?from=2026-11-03T00:00:00Z&to=2026-11-04T00:00:00Z";
    let (_, day, _) = send(&h.router, call("GET", bounded, &h.analyst, None)).await;
    assert_eq!(day["events"].as_array().unwrap().len(), 25);
    // Raw prompts were read: each page is on record, with who read it, the window and how many events.
    let (_, log, _) = send(&h.router, call("GET", "/v1/audit-log?target=account:farm03", &h.admin, None)).await;
    let reads = log["entries"].as_array().unwrap();
    assert!(reads.len() >= 2, "{log}");
    assert!(reads.iter().all(|e| e["action"] == "account.events.read" && e["role"] == "analyst"), "{log}");
    let last = reads.last().unwrap();
    assert_eq!(
        last["after"],
        json!({"from": "2026-11-03T00:00:00Z", "to": "2026-11-04T00:00:00Z", "fetched": 25}),
        "{log}"
    );

    // Its timeline: 25 requests a day in five hours, five days.
    let (status, timeline, _) = send(&h.router, call("GET", "/v1/accounts/farm03/timeline", &h.analyst, None)).await;
    assert_eq!(status, StatusCode::OK, "{timeline}");
    let hours = timeline["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 25);
    assert_eq!(hours.iter().map(|h| h["requests"].as_i64().unwrap()).sum::<i64>(), 125);
    assert_eq!(hours[0]["hour"], "2026-11-02T00:00:00Z");
    for (path, says) in [
        ("/v1/accounts/farm03/timeline?from=2026-11-05T00:00:00Z&to=2026-11-01T00:00:00Z", "to: must be after from"),
        ("/v1/accounts/farm03/timeline?from=2026-01-01T00:00:00Z&to=2026-11-01T00:00:00Z", "at most 93 days"),
        ("/v1/accounts/farm03/timeline?limit=5", "not paged"),
    ] {
        let (status, error, _) = send(&h.router, call("GET", path, &h.analyst, None)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {error}");
        assert!(error["error"]["message"].as_str().unwrap().contains(says), "{path}: {error}");
    }
}

/// An audit computes on the app's compute pool, not on the threads that serve requests: with the
/// runtime's one thread and the audit held in its compute phase (the pool's one thread busy),
/// `/healthz` and an ingest are answered, and the audit finishes once the pool is free.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn requests_are_answered_while_an_audit_computes(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig { compute_threads: 1, ..AppConfig::default() });
    let h = harness_of(app.clone(), pool, ApiConfig::default()).await;
    let events: Vec<Value> = (0..30).map(event).collect();
    let (status, out, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&events))).await;
    assert_eq!((status, out["accepted"].as_u64()), (StatusCode::OK, Some(30)), "{out}");

    // The pool's one thread waits on `release` until told.
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let held = app.compute().spawn("held", move || wait.recv().is_ok());
    let spec = dw_app::AuditSpec {
        from: time::macros::datetime!(2026-11-01 0:00 UTC),
        to: time::macros::datetime!(2026-11-02 0:00 UTC),
        accounts: None,
        model: None,
        dry_run: true,
        requested_by: "test".into(),
    };
    let id = app.queue_audit(&spec).await.unwrap();
    let auditing = tokio::spawn({
        let app = app.clone();
        async move { app.run_audit("test-worker", Some(id)).await }
    });
    // The audit claims its job, streams its rows and waits for the pool.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!auditing.is_finished(), "the audit cannot compute while the pool is held");
    let (status, _, _) = send(&h.router, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let late = json!({"event_id": "late-1", "account_id": "acct_late", "timestamp": "2026-11-05T09:00:00Z",
                      "model": "gpt-x", "request": {"prompt": "hello"}});
    let (status, out, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&[late]))).await;
    assert_eq!((status, out["accepted"].as_u64()), (StatusCode::OK, Some(1)), "{out}");
    assert!(!auditing.is_finished(), "the audit was still held while both were answered");

    release.send(()).unwrap();
    assert!(held.await.unwrap());
    let outcome = tokio::time::timeout(Duration::from_secs(60), auditing).await.unwrap().unwrap().unwrap().unwrap();
    assert_eq!((outcome.audit_id, outcome.summary.accounts), (id, 3));
}

/// The round trip as a property: events of generated content (any characters, NUL, quotes, newlines and
/// astral ones included; parameters, token counts and a client set or not), sent through the API, stored,
/// and read back through the account's events page, are what was sent (NUL, which PostgreSQL cannot store,
/// as U+FFFD). The cases come from proptest's strategies under a fixed seed (no shrinking: each case runs
/// through a database, and a failure names its case).
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn any_event_sent_is_read_back_through_the_api_as_sent(pool: PgPool) {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let h = harness(pool).await;
    let text = || prop::collection::vec(any::<char>(), 0..80).prop_map(|c| c.into_iter().collect::<String>());
    let strategy = (
        (text(), text(), text(), "[A-Za-z0-9_.:-]{1,40}"),
        (prop::option::of(0.0f32..2.0), prop::option::of(1i32..100_000), prop::option::of(1i32..8)),
        (prop::option::of(any::<bool>()), prop::option::of((0i32..1_000_000, 0i32..1_000_000))),
        (prop::option::of(any::<[u8; 4]>()), prop::option::of(text()), 0i64..20 * 86_400),
    );
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let cases: Vec<_> = (0..64).map(|_| strategy.new_tree(&mut runner).unwrap().current()).collect();
    let no_nul = |s: &str| s.replace('\u{0}', "\u{FFFD}");
    let start = time::macros::datetime!(2026-11-01 00:00 UTC);
    let mut events = Vec::new();
    for (k, ((system, user, answer, model), (temperature, max_tokens, n), (logprobs, usage), (ip, agent, at))) in
        cases.iter().enumerate()
    {
        let timestamp = (start + time::Duration::seconds(*at)).format(&time::format_description::well_known::Rfc3339);
        let mut event = json!({
            "event_id": format!("p{k}"), "account_id": format!("prop-{k}"), "timestamp": timestamp.unwrap(),
            "model": model,
            "request": {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]},
            "response": {"content": answer, "finish_reason": "stop"},
        });
        if let Some(t) = temperature {
            event["request"]["temperature"] = json!(t);
        }
        if let Some(m) = max_tokens {
            event["request"]["max_tokens"] = json!(m);
        }
        if let Some(n) = n {
            event["request"]["n"] = json!(n);
        }
        if let Some(l) = logprobs {
            event["request"]["logprobs"] = json!(l);
        }
        if let Some((prompt, completion)) = usage {
            event["usage"] = json!({"prompt_tokens": prompt, "completion_tokens": completion});
        }
        let mut client = serde_json::Map::new();
        client.extend(ip.map(|ip| ("ip".to_owned(), json!(std::net::Ipv4Addr::from(ip).to_string()))));
        client.extend(agent.clone().map(|a| ("user_agent".to_owned(), json!(a))));
        if !client.is_empty() {
            event["client"] = Value::Object(client);
        }
        events.push(event);
    }
    let (status, out, _) =
        send(&h.router, post(Some(&h.ingest), Some("application/x-ndjson"), None, ndjson(&events))).await;
    assert_eq!((status, out["accepted"].as_u64()), (StatusCode::OK, Some(64)), "{out}");
    for (k, ((system, user, answer, model), (temperature, max_tokens, n), (logprobs, usage), (ip, agent, at))) in
        cases.iter().enumerate()
    {
        let read = Request::get(format!("/v1/accounts/prop-{k}/events"))
            .header(header::AUTHORIZATION, format!("Bearer {}", h.analyst))
            .body(Body::empty())
            .unwrap();
        let (status, page, _) = send(&h.router, read).await;
        assert_eq!(status, StatusCode::OK, "case {k}: {page}");
        let mut view = page["events"][0].clone();
        // The view writes an f32 as an f32 (shortest digits); the value is the one sent.
        let read_temperature = view.as_object_mut().and_then(|v| v.remove("temperature"));
        assert_eq!(read_temperature.and_then(|t| t.as_f64()).map(|t| t as f32), *temperature, "case {k}");
        let expected = json!({
            "event_id": format!("p{k}"),
            "ts": (start + time::Duration::seconds(*at)).format(&time::format_description::well_known::Rfc3339).unwrap(),
            "model": model,
            "prompt": no_nul(user),
            "system_prompt": no_nul(system),
            "completion": no_nul(answer),
            "finish_reason": "stop",
            "max_tokens": max_tokens,
            "n": n,
            "logprobs": logprobs,
            "prompt_tokens": usage.map(|u| u.0),
            "completion_tokens": usage.map(|u| u.1),
            "client_ip": ip.map(|ip| std::net::Ipv4Addr::from(ip).to_string()),
            "user_agent": agent.as_deref().map(no_nul),
        });
        assert_eq!(view, expected, "case {k}: sent {}", events[k]);
        assert_eq!(page["events"].as_array().map(Vec::len), Some(1), "case {k}");
    }
}
