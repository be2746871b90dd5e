//! `POST /v1/traces`, Langfuse's `POST /api/public/otel/v1/traces` and
//! `POST /v1/logs`: OTLP/HTTP exports, protobuf or JSON, gzip or zstd. A
//! span exported without its messages waits for its log records (and they
//! for it: [`dw_app::Joined`]). Answered by OTLP's contract: 200 with an `ExportTraceServiceResponse` in the request's
//! encoding, a partial success naming the spans refused (never a 400 for one
//! bad span); 400 for a body that is no export request; 429 with
//! `Retry-After` when ingest is saturated, so the SDKs retry.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dw_app::{IngestBatch, Parts};
use dw_domain::{ApiKey, IngestSource};
use dw_ingest::formats::otlp::{Encoding, logs_response, parse_logs, parse_traces, traces_response};

use super::events::read_ingest_body;
use crate::auth::{BasicIngest, Ingest};
use crate::{ApiError, ApiState};

/// At most this many rejections are spelled out in a partial success.
const NAMED_REJECTIONS: usize = 5;

#[utoipa::path(post, operation_id = "otlp_traces", path = "/v1/traces", tag = "events", summary = "Store the model calls of an OTLP/HTTP trace export (protobuf or JSON)", request_body(content = Vec<u8>, content_type = "application/x-protobuf", description = "an ExportTraceServiceRequest (application/json also accepted)"), responses((status = 200, description = "an ExportTraceServiceResponse, with partialSuccess when spans were refused", content_type = "application/x-protobuf"), (status = 400, description = "not an export request", body = crate::error::ErrorBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 413, description = "too large", body = crate::error::ErrorBody), (status = 415, description = "unknown content type or encoding", body = crate::error::ErrorBody), (status = 429, description = "too many ingests at once (Retry-After)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn traces(
    State(state): State<ApiState>,
    Ingest(caller): Ingest,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    export(&state, &caller.0, None, &headers, body).await
}

#[utoipa::path(post, operation_id = "otlp_langfuse_traces", path = "/api/public/otel/v1/traces", tag = "events", summary = "Langfuse's OTLP path: the same export, with HTTP Basic credentials whose password is an ingest key", request_body(content = Vec<u8>, content_type = "application/x-protobuf", description = "an ExportTraceServiceRequest (application/json also accepted)"), responses((status = 200, description = "an ExportTraceServiceResponse, with partialSuccess when spans were refused", content_type = "application/x-protobuf"), (status = 400, description = "not an export request", body = crate::error::ErrorBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 413, description = "too large", body = crate::error::ErrorBody), (status = 415, description = "unknown content type or encoding", body = crate::error::ErrorBody), (status = 429, description = "too many ingests at once (Retry-After)", body = crate::error::ErrorBody)), security(("bearer" = []), ("basic" = [])))]
pub(crate) async fn langfuse_traces(
    State(state): State<ApiState>,
    caller: BasicIngest,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    export(&state, &caller.caller.0, caller.username, &headers, body).await
}

fn encoding_of(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    Encoding::from_content_type(content_type).ok_or_else(|| {
        ApiError::UnsupportedMedia(format!(
            "Content-Type {content_type:?} is not supported: OTLP/HTTP sends application/x-protobuf or application/json"
        ))
    })
}

/// A partial success's message: how many were refused, the first named.
fn refusals(what: &str, rejected: &[dw_domain::LineError], total: u64) -> String {
    match total {
        0 => String::new(),
        n => {
            let named: Vec<String> = rejected.iter().take(NAMED_REJECTIONS).map(ToString::to_string).collect();
            let more = n.saturating_sub(named.len() as u64);
            let more = if more > 0 { format!("; and {more} more") } else { String::new() };
            format!("{n} {what} not stored: {}{more}", named.join("; "))
        }
    }
}

/// Stores a batch of events (and its rejections) sent with `key`; returns
/// the rejections listed and how many there were in all.
async fn store(
    state: &ApiState,
    key: &ApiKey,
    batch: dw_ingest::ParsedBatch,
    bytes: u64,
) -> Result<(Vec<dw_domain::LineError>, u64), ApiError> {
    if batch.events.is_empty() && batch.rejected.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let outcome = state
        .app()
        .ingest(IngestBatch {
            events: batch.events,
            rejected: batch.rejected,
            rejected_unlisted: batch.unlisted,
            lines: batch.lines,
            bytes,
            source: IngestSource::Http,
            api_key_id: Some(key.key_id),
            origin: Some(key.name.clone()),
            history_logged: key.history.history_logged(),
        })
        .await?;
    let total = outcome.rejected.len() as u64 + outcome.rejected_unlisted;
    Ok((outcome.rejected, total))
}

async fn export(
    state: &ApiState,
    key: &ApiKey,
    public_key: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let encoding = encoding_of(headers)?;
    let body = read_ingest_body(state, key.key_id, headers, body).await?;
    let limits = state.ingest_limits();
    let bytes = body.decoded.len() as u64;
    let mut parsed = tokio::task::spawn_blocking(move || parse_traces(&body.decoded, encoding, &limits))
        .await
        .map_err(|e| ApiError::task_failed("decoding the export", e))?
        .map_err(ApiError::BadRequest)?;
    if let Some(public_key) = public_key {
        let value = serde_json::Value::String(public_key);
        for event in &mut parsed.batch.events {
            event.metadata.insert("langfuse_public_key".into(), value.clone());
        }
        let waiting =
            parsed.awaiting.iter_mut().map(|h| &mut h.event).chain(parsed.orphans.iter_mut().map(|o| &mut o.event));
        for event in waiting {
            if let Some(metadata) = event.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                metadata.insert("langfuse_public_key".into(), value.clone());
            }
        }
    }
    if let Some(stop) = parsed.batch.stopped {
        return Err(ApiError::TooLarge(stop.to_string()));
    }
    let mut batch = parsed.batch;
    let parts = Parts { spans: parsed.awaiting, orphans: parsed.orphans, lineage: parsed.lineage, ..Parts::default() };
    if !parts.is_empty() {
        let joined = state.app().join_otlp_halves(parts, Some(key.key_id), &limits).await?;
        batch.events.extend(joined.events);
        batch.rejected.extend(joined.rejected);
    }
    let (rejected, total) = store(state, key, batch, bytes).await?;
    let answer = traces_response(total, &refusals("span(s)", &rejected, total), encoding);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, encoding.content_type())], answer).into_response())
}

#[utoipa::path(post, operation_id = "otlp_logs", path = "/v1/logs", tag = "events", summary = "The GenAI log records of an OTLP/HTTP logs export: the messages of spans exported without them", request_body(content = Vec<u8>, content_type = "application/x-protobuf", description = "an ExportLogsServiceRequest (application/json also accepted)"), responses((status = 200, description = "an ExportLogsServiceResponse, with partialSuccess when records were refused", content_type = "application/x-protobuf"), (status = 400, description = "not an export request", body = crate::error::ErrorBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 413, description = "too large", body = crate::error::ErrorBody), (status = 415, description = "unknown content type or encoding", body = crate::error::ErrorBody), (status = 429, description = "too many ingests at once (Retry-After)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn logs(
    State(state): State<ApiState>,
    Ingest(caller): Ingest,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let key = &caller.0;
    let encoding = encoding_of(&headers)?;
    let body = read_ingest_body(&state, key.key_id, &headers, body).await?;
    let limits = state.ingest_limits();
    let bytes = body.decoded.len() as u64;
    let parsed = tokio::task::spawn_blocking(move || parse_logs(&body.decoded, encoding, &limits))
        .await
        .map_err(|e| ApiError::task_failed("decoding the export", e))?
        .map_err(ApiError::BadRequest)?;
    if let Some(stop) = parsed.stopped {
        return Err(ApiError::TooLarge(stop.to_string()));
    }
    let mut batch = dw_ingest::ParsedBatch::default();
    if !parsed.halves.is_empty() {
        let parts = Parts { logs: parsed.halves, ..Parts::default() };
        let joined = state.app().join_otlp_halves(parts, Some(key.key_id), &limits).await?;
        batch.lines = (joined.events.len() + joined.rejected.len()) as u64;
        batch.events = joined.events;
        batch.rejected = joined.rejected;
    }
    let (rejected, total) = store(&state, key, batch, bytes).await?;
    let answer = logs_response(total, &refusals("call(s) of these records", &rejected, total), encoding);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, encoding.content_type())], answer).into_response())
}
