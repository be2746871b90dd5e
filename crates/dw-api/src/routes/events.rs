//! `POST /v1/events`: the ingest endpoint, and what goes with it.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dw_app::IngestBatch;
use dw_domain::{IngestOutcome, IngestSource};
use dw_ingest::ContentEncoding;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};

use crate::auth::{Analyst, Caller, Ingest};
use crate::extract::QueryParams;
use crate::{ApiError, ApiState};

/// How the body is framed.
#[derive(Debug, Clone, Copy)]
enum Framing {
    Ndjson,
    JsonArray,
}

fn framing(headers: &HeaderMap) -> Result<Framing, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMedia(
            "missing Content-Type: send application/x-ndjson (one event per line) or application/json (an array)"
                .into(),
        ));
    };
    let text = value.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = text.split(';').next().unwrap_or("").trim();
    match essence {
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/x-jsonlines" => {
            Ok(Framing::Ndjson)
        }
        "application/json" => Ok(Framing::JsonArray),
        other => Err(ApiError::UnsupportedMedia(format!(
            "Content-Type {other:?} is not supported: send application/x-ndjson (one event per line) or application/json (an array)"
        ))),
    }
}

/// The answer to an ingest request (also the body of its 400).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestResponse {
    /// Events stored.
    pub accepted: u64,
    /// Events already stored before.
    pub duplicates: u64,
    /// Invalid lines with their line number, field and reason (at most
    /// `ingest.max_listed_errors` of them).
    pub rejected: Vec<dw_domain::LineError>,
    /// Invalid lines beyond those listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rejected_unlisted: u64,
    /// Why reading the body stopped before its end, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Replacements made by redaction at ingest (`ingest.redact`), when any were.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redacted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl From<IngestOutcome> for IngestResponse {
    fn from(o: IngestOutcome) -> Self {
        Self {
            accepted: o.accepted,
            duplicates: o.duplicates,
            rejected: o.rejected,
            rejected_unlisted: o.rejected_unlisted,
            stopped: None,
            redacted: o.redacted,
        }
    }
}

#[utoipa::path(post, operation_id = "events_ingest", path = "/v1/events", tag = "events", summary = "Store events (NDJSON or a JSON array, optionally gzip or zstd)", params(IngestQuery), request_body(content = String, content_type = "application/x-ndjson", description = "one event per line"), responses((status = 200, description = "stored, with the lines rejected", body = IngestResponse), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "every line was invalid", body = IngestResponse), (status = 413, description = "too large", body = crate::error::ErrorBody), (status = 415, description = "unknown content type or encoding", body = crate::error::ErrorBody), (status = 429, description = "too many ingests at once", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn ingest(
    State(state): State<ApiState>,
    Ingest(caller): Ingest,
    QueryParams(query): QueryParams<IngestQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let key = caller.0.clone();
    let format: dw_ingest::Format = match query.format.as_deref() {
        None => dw_ingest::Format::Canonical,
        Some(name) => name.parse().map_err(|e: String| ApiError::BadRequest(format!("format: {e}")))?,
    };
    let history_logged = match query.history.as_deref() {
        // The batch does not say: what the key's source logs, and a format
        // that keeps the last message only says so for its events.
        None if !format.logs_history() => Some(false),
        None => key.history.history_logged(),
        Some(name) => name
            .parse::<dw_domain::HistoryLogging>()
            .map_err(|e| ApiError::BadRequest(format!("history: {e}")))?
            .history_logged(),
    };
    if query.account.is_some() && format != dw_ingest::Format::Openai {
        return Err(ApiError::BadRequest(format!(
            "account: names the account of format=openai records; {} records carry their own",
            format.name()
        )));
    }
    let source = dw_ingest::Source { format, account: query.account };
    let framing = framing(&headers)?;
    let body = read_ingest_body(&state, key.key_id, &headers, body).await?;
    let limits = state.ingest_limits();
    let bytes = body.decoded.len() as u64;
    let parsed = tokio::task::spawn_blocking(move || match framing {
        Framing::Ndjson => dw_ingest::parse_ndjson_as(&source, &body.decoded, &limits),
        Framing::JsonArray => dw_ingest::parse_json_as(&source, &body.decoded, &limits),
    })
    .await
    .map_err(|e| ApiError::task_failed("parsing the body", e))?;

    if let Some(stop @ dw_ingest::Stopped::TooManyItems(_)) = parsed.stopped {
        return Err(ApiError::TooLarge(stop.to_string()));
    }
    if parsed.events.is_empty() && parsed.rejected.is_empty() {
        return Err(ApiError::BadRequest("the body holds no events".into()));
    }
    let all_invalid = parsed.events.is_empty();
    let outcome = state
        .app()
        .ingest(IngestBatch {
            events: parsed.events,
            rejected: parsed.rejected,
            rejected_unlisted: parsed.unlisted,
            lines: parsed.lines,
            bytes,
            source: IngestSource::Http,
            api_key_id: Some(key.key_id),
            origin: Some(key.name.clone()),
            history_logged,
        })
        .await?;
    let status = if all_invalid { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let mut answer = IngestResponse::from(outcome);
    answer.stopped = parsed.stopped.map(|s| s.to_string());
    Ok((status, Json(answer)).into_response())
}

/// A request body read under the ingest limits and decompressed, with the
/// ingest slot it took (held until the batch is stored).
pub(crate) struct IngestBody {
    /// The body after `Content-Encoding` was undone.
    pub(crate) decoded: Vec<u8>,
    _slot: crate::slots::Slot,
}

/// Reads a body sent to an ingest endpoint (events, reference items): gzip,
/// zstd or plain, at most the configured size before and after
/// decompression, and only while an ingest slot is free, in all and for the
/// sending key (429 otherwise).
pub(crate) async fn read_ingest_body(
    state: &ApiState,
    key: uuid::Uuid,
    headers: &HeaderMap,
    body: Body,
) -> Result<IngestBody, ApiError> {
    let encoding_header = headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?"));
    let encoding = ContentEncoding::from_header(encoding_header).ok_or_else(|| {
        ApiError::UnsupportedMedia(format!(
            "Content-Encoding {:?} is not supported: use gzip, zstd or none",
            encoding_header.unwrap_or_default()
        ))
    })?;
    let limit = state.config.limits.max_body_bytes;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(limit));
    }
    // Refuse rather than queue: a saturated ingest answers 429 at once.
    let slot = state.ingest_slots.try_take(key)?;
    let timeout = state.config.body_read_timeout;
    let raw = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| {
            ApiError::Timeout(format!(
                "the request body did not arrive within {} s (ingest.body_read_timeout_seconds); send it faster or in \
                 smaller batches",
                timeout.as_secs_f64()
            ))
        })?
        .map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                too_large(limit)
            } else {
                ApiError::BadRequest(format!("could not read the request body: {e}"))
            }
        })?;
    let raw = raw.to_bytes();
    metrics::histogram!("distillwatch_ingest_body_bytes").record(raw.len() as f64);
    let decoded = tokio::task::spawn_blocking(move || {
        dw_ingest::decode_body(&raw, encoding, limit).map(std::borrow::Cow::into_owned).map_err(|e| match e {
            dw_ingest::BodyError::TooLarge { limit } => too_large(limit),
            corrupt @ dw_ingest::BodyError::Corrupt { .. } => ApiError::BadRequest(corrupt.to_string()),
        })
    })
    .await
    .map_err(|e| ApiError::task_failed("decoding the body", e))??;
    Ok(IngestBody { decoded, _slot: slot })
}

fn too_large(limit: usize) -> ApiError {
    ApiError::TooLarge(format!(
        "request body is over the limit of {limit} bytes (after decompression); split it into smaller batches"
    ))
}

/// `GET /v1/schema/event`: the JSON Schema of the canonical event.
#[utoipa::path(get, operation_id = "events_schema", path = "/v1/schema/event", tag = "events", summary = "The JSON Schema of an event", responses((status = 200, description = "the schema", content_type = "application/schema+json", body = Object), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn schema(caller: Caller) -> Result<Response, ApiError> {
    let _ = caller;
    Ok(([(header::CONTENT_TYPE, "application/schema+json")], dw_ingest::EVENT_SCHEMA).into_response())
}

/// `POST /v1/events` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct IngestQuery {
    /// What the source logs of each conversation: `full` (the messages are
    /// taken as sent) or `last_message` (a gateway that keeps the last user
    /// message only; events that do not say otherwise get
    /// `request.history_logged: false`). Without it, the key's own setting
    /// (`history` of `POST /v1/keys`, `PATCH /v1/keys/{id}`) holds.
    history: Option<String>,
    /// The body's log format: `canonical` (the default: distillwatch's event),
    /// `litellm` (LiteLLM's `StandardLoggingPayload`, as its generic API
    /// logger posts it: one object or an array; the virtual key's hash is
    /// the account) or `openai` (`{"request", "response"}` pairs, Chat
    /// Completions or Responses). docs/event-format.md, "Gateway formats".
    format: Option<String>,
    /// The account the body's records are of (`format=openai`: a log of one
    /// API key); without it, each request's `safety_identifier` or `user`
    /// is its account.
    account: Option<String>,
}

/// `GET /v1/ingests` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RecentQuery {
    limit: Option<i64>,
}

/// One ingest log entry as served.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct IngestLogBody {
    ingest_id: uuid::Uuid,
    #[schema(value_type = String)]
    source: IngestSource,
    api_key_id: Option<uuid::Uuid>,
    origin: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    received_at: time::OffsetDateTime,
    bytes: i64,
    lines: i64,
    accepted: i64,
    duplicates: i64,
    rejected: i64,
    first_error: Option<String>,
    /// Replacements made by redaction at ingest.
    redacted: i64,
}

/// `GET /v1/ingests?limit=N`: the latest batches, newest first.
#[utoipa::path(get, operation_id = "events_recent", path = "/v1/ingests", tag = "events", summary = "The latest ingest batches, newest first", params(RecentQuery), responses((status = 200, description = "ingest log entries", body = Vec<IngestLogBody>), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn recent(
    State(state): State<ApiState>,
    _: Analyst,
    QueryParams(query): QueryParams<RecentQuery>,
) -> Result<Json<Vec<IngestLogBody>>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    let rows = state.app().recent_ingests(limit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| IngestLogBody {
                ingest_id: r.entry.ingest_id,
                source: r.entry.source,
                api_key_id: r.entry.api_key_id,
                origin: r.entry.origin,
                received_at: r.received_at,
                bytes: r.entry.bytes,
                lines: r.entry.lines,
                accepted: r.entry.accepted,
                duplicates: r.entry.duplicates,
                rejected: r.entry.rejected,
                first_error: r.entry.first_error,
                redacted: r.entry.redacted,
            })
            .collect(),
    ))
}
