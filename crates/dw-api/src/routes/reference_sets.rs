//! Reference sets: `POST /v1/reference-sets` (create), `GET` (list, one),
//! `POST /v1/reference-sets/{id}/items` (NDJSON of `{prompt?, output,
//! model?, metadata?}`, under the rules and limits of event ingest), and
//! `GET /v1/reference-sets/{id}/distillation-test?control=` and
//! `GET /v1/reference-sets/{id}/attribution`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use dw_app::{AttributionReport, DistillationReport, NewReferenceSet, ReferenceItemsOutcome, ReferenceSet};
use dw_domain::Role;
use serde::{Deserialize, Serialize};

use super::events::read_ingest_body;
use super::params::optional_instant;
use crate::auth::Caller;
use crate::{ApiError, ApiState};

/// `POST /v1/reference-sets` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(crate) struct NewSetBody {
    /// Unique: a letter or digit, then letters, digits, `.`, `_` or `-` (at most 100).
    name: String,
    /// The suspect model, in your words.
    #[serde(default)]
    description: String,
    /// How the outputs were collected (prompts sent, dates, sampling).
    #[serde(default)]
    collection: String,
    /// A control: outputs of a model known not to be trained on ours.
    #[serde(default)]
    control: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SetsBody {
    #[schema(value_type = Vec<Object>)]
    reference_sets: Vec<ReferenceSet>,
}

#[utoipa::path(post, operation_id = "reference_sets_create", path = "/v1/reference-sets", tag = "reference sets", summary = "Create a reference set (a suspect model's outputs, or a control's)", request_body = NewSetBody, responses((status = 201, description = "the set", body = Object), (status = 401, description = "no key, or a key that is not valid", body = crate::openapi::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::openapi::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::openapi::ErrorBody), (status = 409, description = "the name is taken", body = crate::openapi::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<NewSetBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<ReferenceSet>), ApiError> {
    caller.require(&[Role::Analyst])?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let new = NewReferenceSet {
        name: &body.name,
        description: &body.description,
        collection: &body.collection,
        control: body.control,
    };
    let set = state.app().create_reference_set(&new, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(set)))
}

#[utoipa::path(get, operation_id = "reference_sets_list", path = "/v1/reference-sets", tag = "reference sets", summary = "Every reference set, newest first, with its item counts", responses((status = 200, description = "the sets", body = SetsBody), (status = 401, description = "no key, or a key that is not valid", body = crate::openapi::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::openapi::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list(State(state): State<ApiState>, caller: Caller) -> Result<Json<SetsBody>, ApiError> {
    caller.require(&[Role::Analyst])?;
    Ok(Json(SetsBody { reference_sets: state.app().reference_sets().await? }))
}

#[utoipa::path(get, operation_id = "reference_sets_get", path = "/v1/reference-sets/{id}", tag = "reference sets", summary = "One reference set", params(("id" = i64, Path, description = "the set's id")), responses((status = 200, description = "the set", body = Object), (status = 401, description = "no key, or a key that is not valid", body = crate::openapi::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::openapi::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::openapi::ErrorBody), (status = 404, description = "no such thing", body = crate::openapi::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<ReferenceSet>, ApiError> {
    caller.require(&[Role::Analyst])?;
    let Path(id) = id.map_err(|e| ApiError::BadRequest(format!("id: {}", e.body_text())))?;
    Ok(Json(state.app().reference_set(id).await?))
}

/// What became of an upload of items (also the body of its 400).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ItemsBody {
    set_id: i64,
    lines: u64,
    stored: u64,
    duplicates: u64,
    #[schema(value_type = Vec<Object>)]
    rejected: Vec<dw_domain::LineError>,
}

impl From<ReferenceItemsOutcome> for ItemsBody {
    fn from(o: ReferenceItemsOutcome) -> Self {
        Self { set_id: o.set_id, lines: o.lines, stored: o.stored, duplicates: o.duplicates, rejected: o.rejected }
    }
}

#[utoipa::path(post, operation_id = "reference_sets_add_items", path = "/v1/reference-sets/{id}/items", tag = "reference sets", summary = "Add items to a set: NDJSON of {prompt?, output, model?, metadata?}, optionally gzip or zstd", params(("id" = i64, Path, description = "the set's id")), request_body(content = String, content_type = "application/x-ndjson", description = "one item per line"), responses((status = 200, description = "stored, with the lines rejected", body = ItemsBody), (status = 401, description = "no key, or a key that is not valid", body = crate::openapi::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::openapi::ErrorBody), (status = 400, description = "every line was invalid", body = ItemsBody), (status = 404, description = "no such thing", body = crate::openapi::ErrorBody), (status = 413, description = "too large", body = crate::openapi::ErrorBody), (status = 415, description = "unknown content type or encoding", body = crate::openapi::ErrorBody), (status = 429, description = "too many ingests at once", body = crate::openapi::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn add_items(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ItemsBody>), ApiError> {
    caller.require(&[Role::Analyst])?;
    let Path(id) = id.map_err(|e| ApiError::BadRequest(format!("id: {}", e.body_text())))?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !matches!(
        essence.as_str(),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/x-jsonlines"
    ) {
        return Err(ApiError::UnsupportedMedia(format!(
            "Content-Type {content_type:?} is not supported: send application/x-ndjson, one item per line"
        )));
    }
    // 404 before reading a large body into a set that does not exist.
    state.app().reference_set(id).await?;
    let body = read_ingest_body(&state, &headers, body).await?;
    let limits = state.config.limits;
    let parsed = tokio::task::spawn_blocking(move || dw_ingest::parse_reference_ndjson(&body.decoded, &limits))
        .await
        .map_err(|e| ApiError::BadRequest(format!("the body could not be parsed: {e}")))?;
    if parsed.lines == 0 {
        return Err(ApiError::BadRequest("the body holds no items".into()));
    }
    let all_invalid = parsed.items.is_empty();
    let outcome =
        state.app().add_reference_items(id, &parsed.items, parsed.rejected, parsed.lines, &caller.actor()).await?;
    // With the service's embedding engine, the set's new outputs are embedded
    // in the background (stored for attribution by meaning and the
    // distillation test, which otherwise embed them when they first need
    // them); the upload does not wait for it.
    if outcome.stored > 0 && state.app().embedder().is_some() {
        let app = state.app().clone();
        tokio::spawn(async move {
            let Some(handle) = app.embedder() else { return };
            match app.embed_reference_set(handle, id, 256, |_| {}).await {
                Ok(written) => tracing::info!(set_id = id, written, "reference outputs embedded"),
                Err(error) => {
                    tracing::warn!(set_id = id, %error, "reference outputs not embedded; they will be when first needed")
                }
            }
        });
    }
    let status = if all_invalid { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok((status, Json(ItemsBody::from(outcome))))
}

/// `GET /v1/reference-sets/{id}/distillation-test` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TestQuery {
    /// The control set's id.
    control: i64,
    /// Our completions from this instant (RFC 3339; default: all stored).
    from: Option<String>,
    /// Until this instant, exclusive (default: all stored).
    to: Option<String>,
}

#[utoipa::path(get, operation_id = "reference_sets_distillation_test", path = "/v1/reference-sets/{id}/distillation-test", tag = "reference sets", summary = "Was the suspect trained on our outputs? A paired test against a control on the prompts all three answered", params(("id" = i64, Path, description = "the suspect set's id"), TestQuery), responses((status = 200, description = "the test: aligned prompts, per-measure and combined statistics, the decision (rejected, not rejected, inconclusive), examples, what it can and cannot show", body = Object), (status = 401, description = "no key, or a key that is not valid", body = crate::openapi::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::openapi::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::openapi::ErrorBody), (status = 404, description = "no such thing", body = crate::openapi::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn distillation_test(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    query: Result<Query<TestQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DistillationReport>, ApiError> {
    caller.require(&[Role::Analyst])?;
    let Path(id) = id.map_err(|e| ApiError::BadRequest(format!("id: {}", e.body_text())))?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (from, to) = (optional_instant("from", q.from.as_deref())?, optional_instant("to", q.to.as_deref())?);
    let app = state.app();
    Ok(Json(app.distillation_test(id, q.control, from, to, app.embedder()).await?))
}

/// `GET /v1/reference-sets/{id}/attribution` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct WindowQuery {
    /// Our completions from this instant (RFC 3339; default: all stored).
    from: Option<String>,
    /// Until this instant, exclusive (default: all stored).
    to: Option<String>,
}

#[utoipa::path(get, operation_id = "reference_sets_attribution", path = "/v1/reference-sets/{id}/attribution", tag = "reference sets", summary = "Which accounts (and clusters) were served the completions this suspect's outputs reproduce, most first, with the matched triples", params(("id" = i64, Path, description = "the suspect set's id"), WindowQuery), responses((status = 200, description = "accounts and clusters ranked by matched outputs, the share of the set each explains, our prompt and completion beside the suspect's output", body = Object), (status = 401, description = "no key, or a key that is not valid", body = crate::openapi::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::openapi::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::openapi::ErrorBody), (status = 404, description = "no such thing", body = crate::openapi::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn attribution(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    query: Result<Query<WindowQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AttributionReport>, ApiError> {
    caller.require(&[Role::Analyst])?;
    let Path(id) = id.map_err(|e| ApiError::BadRequest(format!("id: {}", e.body_text())))?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (from, to) = (optional_instant("from", q.from.as_deref())?, optional_instant("to", q.to.as_deref())?);
    let app = state.app();
    Ok(Json(app.attribution(id, from, to, app.embedder()).await?))
}
