//! Reference sets: `POST /v1/reference-sets` (create), `GET` (list, one),
//! `POST /v1/reference-sets/{id}/items` (NDJSON of `{prompt?, output,
//! model?, metadata?}`, under the rules and limits of event ingest), and
//! and the runs of attribution and the distillation test, which on CPU take
//! minutes and so are jobs: `GET /v1/reference-sets/{id}/attribution` and
//! `GET /v1/reference-sets/{id}/distillation-test?control=` answer with the
//! report once a run for those parameters is done (200) and queue one
//! otherwise (202, `Location: /v1/reference-jobs/{job}`); `POST` to either
//! queues a fresh run; `GET /v1/reference-jobs/{job}` follows one.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dw_app::{NewReferenceSet, ReferenceItemsOutcome, ReferenceJob, ReferenceJobKind, ReferenceJobSpec, ReferenceSet};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::events::read_ingest_body;
use super::params::optional_instant;
use crate::auth::Analyst;
use crate::extract::{JsonBody, NumericId, QueryParams};
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

/// A reference set, with how many items it holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SetBody {
    id: i64,
    /// Its unique name.
    name: String,
    /// The suspect model, in the analyst's words.
    description: String,
    /// How the outputs were collected.
    collection: String,
    /// A control: outputs of a model known not to be trained on ours.
    control: bool,
    created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
    /// Items stored.
    items: i64,
    /// Items whose prompt is known.
    items_with_prompt: i64,
}

impl From<ReferenceSet> for SetBody {
    fn from(s: ReferenceSet) -> Self {
        SetBody {
            id: s.id,
            name: s.name,
            description: s.description,
            collection: s.collection,
            control: s.control,
            created_by: s.created_by,
            created_at: s.created_at,
            items: s.items,
            items_with_prompt: s.items_with_prompt,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SetsBody {
    reference_sets: Vec<SetBody>,
}

#[utoipa::path(post, operation_id = "reference_sets_create", path = "/v1/reference-sets", tag = "reference sets", summary = "Create a reference set (a suspect model's outputs, or a control's)", request_body = NewSetBody, responses((status = 201, description = "the set", body = SetBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 409, description = "the name is taken", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    JsonBody(body): JsonBody<NewSetBody>,
) -> Result<(StatusCode, Json<SetBody>), ApiError> {
    let new = NewReferenceSet {
        name: &body.name,
        description: &body.description,
        collection: &body.collection,
        control: body.control,
    };
    let set = state.app().create_reference_set(&new, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(set.into())))
}

#[utoipa::path(get, operation_id = "reference_sets_list", path = "/v1/reference-sets", tag = "reference sets", summary = "Every reference set, newest first, with its item counts", responses((status = 200, description = "the sets", body = SetsBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list(State(state): State<ApiState>, _: Analyst) -> Result<Json<SetsBody>, ApiError> {
    let reference_sets = state.app().reference_sets().await?.into_iter().map(SetBody::from).collect();
    Ok(Json(SetsBody { reference_sets }))
}

#[utoipa::path(get, operation_id = "reference_sets_get", path = "/v1/reference-sets/{id}", tag = "reference sets", summary = "One reference set", params(("id" = i64, Path, description = "the set's id")), responses((status = 200, description = "the set", body = SetBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    _: Analyst,
    NumericId(id): NumericId,
) -> Result<Json<SetBody>, ApiError> {
    Ok(Json(state.app().reference_set(id).await?.into()))
}

/// What became of an upload of items (also the body of its 400).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ItemsBody {
    set_id: i64,
    lines: u64,
    stored: u64,
    duplicates: u64,
    rejected: Vec<dw_domain::LineError>,
    /// Invalid lines beyond those listed.
    #[serde(skip_serializing_if = "is_zero")]
    rejected_unlisted: u64,
    /// Why reading the body stopped before its end, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl From<ReferenceItemsOutcome> for ItemsBody {
    fn from(o: ReferenceItemsOutcome) -> Self {
        Self {
            set_id: o.set_id,
            lines: o.lines,
            stored: o.stored,
            duplicates: o.duplicates,
            rejected: o.rejected,
            rejected_unlisted: 0,
            stopped: None,
        }
    }
}

#[utoipa::path(post, operation_id = "reference_sets_add_items", path = "/v1/reference-sets/{id}/items", tag = "reference sets", summary = "Add items to a set: NDJSON of {prompt?, output, model?, metadata?}, optionally gzip or zstd", params(("id" = i64, Path, description = "the set's id")), request_body(content = String, content_type = "application/x-ndjson", description = "one item per line"), responses((status = 200, description = "stored, with the lines rejected", body = ItemsBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "every line was invalid", body = ItemsBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody), (status = 413, description = "too large", body = crate::error::ErrorBody), (status = 415, description = "unknown content type or encoding", body = crate::error::ErrorBody), (status = 429, description = "too many ingests at once", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn add_items(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    NumericId(id): NumericId,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ItemsBody>), ApiError> {
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
    let body = read_ingest_body(&state, caller.0.key_id, &headers, body).await?;
    let limits = state.config.limits;
    let parsed = tokio::task::spawn_blocking(move || dw_ingest::parse_reference_ndjson(&body.decoded, &limits))
        .await
        .map_err(|e| ApiError::task_failed("parsing the body", e))?;
    if let Some(stop @ dw_ingest::Stopped::TooManyItems(_)) = parsed.stopped {
        return Err(ApiError::TooLarge(stop.to_string()));
    }
    if parsed.lines == 0 {
        return Err(ApiError::BadRequest("the body holds no items".into()));
    }
    let (unlisted, stopped) = (parsed.unlisted, parsed.stopped.map(|s| s.to_string()));
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
    let mut answer = ItemsBody::from(outcome);
    (answer.rejected_unlisted, answer.stopped) = (unlisted, stopped);
    Ok((status, Json(answer)))
}

/// Our completions compared: a window, RFC 3339 (default: every stored one).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub(crate) struct WindowQuery {
    /// Our completions from this instant (RFC 3339; default: all stored).
    from: Option<String>,
    /// Until this instant, exclusive (default: all stored).
    to: Option<String>,
}

/// `GET /v1/reference-sets/{id}/distillation-test` query and `POST` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub(crate) struct TestQuery {
    /// The control set's id.
    control: i64,
    /// Our completions from this instant (RFC 3339; default: all stored).
    from: Option<String>,
    /// Until this instant, exclusive (default: all stored).
    to: Option<String>,
}

/// A reference run's report (stored as the run wrote it; this is its shape).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // describes `JobBody::result` in the OpenAPI; never built
pub(crate) enum JobReport {
    /// An attribution run's.
    Attribution(Box<dw_app::AttributionReport>),
    /// A distillation test's.
    DistillationTest(Box<dw_app::DistillationReport>),
    /// A panel test's.
    PanelTest(Box<dw_app::PanelReport>),
    /// A fingerprint test's.
    FingerprintTest(Box<dw_app::FingerprintReport>),
}

/// A run of attribution or of the distillation test.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct JobBody {
    id: i64,
    /// `attribution`, `distillation_test`, `panel_test` or `fingerprint_test`.
    kind: &'static str,
    set_id: i64,
    /// A distillation test's control set.
    control_id: Option<i64>,
    /// A panel or fingerprint test's control sets, in the order given (empty for the others).
    control_ids: Vec<i64>,
    /// Our served completions a fingerprint test reads (absent: its default).
    sample: Option<i32>,
    #[serde(with = "time::serde::rfc3339::option")]
    from: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    to: Option<OffsetDateTime>,
    state: dw_domain::JobState,
    attempts: i32,
    #[schema(value_type = super::audits::Progress)]
    progress: serde_json::Value,
    /// The report, once done: attribution (accounts and clusters ranked by matched outputs, with the
    /// matched triples), a test (aligned prompts or answers read, statistics, decision, what it can and
    /// cannot show).
    #[schema(value_type = Option<JobReport>)]
    result: Option<serde_json::Value>,
    error: Option<String>,
    requested_by: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    finished_at: Option<OffsetDateTime>,
}

impl From<ReferenceJob> for JobBody {
    fn from(j: ReferenceJob) -> Self {
        JobBody {
            id: j.id,
            kind: j.spec.kind.as_str(),
            set_id: j.spec.set_id,
            control_id: j.spec.control_id,
            control_ids: j.spec.control_ids,
            sample: j.spec.sample,
            from: j.spec.from,
            to: j.spec.to,
            state: j.state,
            attempts: j.attempts,
            progress: j.progress,
            result: j.result,
            error: j.error,
            requested_by: j.spec.requested_by,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}

/// A run as a response: 200 when done (or failed), else 202 with where to
/// follow it and when to look again.
fn job_response(job: ReferenceJob, always_accepted: bool) -> Response {
    let pending = !job.state.is_finished();
    let status = if always_accepted || pending { StatusCode::ACCEPTED } else { StatusCode::OK };
    let location = format!("/v1/reference-jobs/{}", job.id);
    let mut response = (status, Json(JobBody::from(job))).into_response();
    if status == StatusCode::ACCEPTED {
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

fn spec(
    kind: ReferenceJobKind,
    set_id: i64,
    control_id: Option<i64>,
    from: Option<&str>,
    to: Option<&str>,
    key_prefix: &str,
) -> Result<ReferenceJobSpec, ApiError> {
    let (from, to) = (optional_instant("from", from)?, optional_instant("to", to)?);
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ApiError::BadRequest("to: must be after from".into()));
    }
    Ok(ReferenceJobSpec {
        kind,
        set_id,
        control_id,
        control_ids: Vec::new(),
        sample: None,
        from,
        to,
        requested_by: format!("api:{key_prefix}"),
    })
}

/// `GET /v1/reference-sets/{id}/panel-test` and `…/fingerprint-test` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PanelQuery {
    /// The control sets' ids, comma-separated, in the order the report lists them (the panel test
    /// needs three or more; the fingerprint test one or more).
    controls: String,
    /// The fingerprint test only: our served completions to learn from (1 to 100,000; default 5,000).
    sample: Option<i32>,
    /// Our completions from this instant (RFC 3339; default: all stored).
    from: Option<String>,
    /// Until this instant, exclusive (default: all stored).
    to: Option<String>,
}

/// `POST /v1/reference-sets/{id}/panel-test` and `…/fingerprint-test` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PanelBody {
    /// The control sets' ids, in the order the report lists them (the panel test needs three or more;
    /// the fingerprint test one or more).
    controls: Vec<i64>,
    /// The fingerprint test only: our served completions to learn from (1 to 100,000; default 5,000).
    sample: Option<i32>,
    /// Our completions from this instant (RFC 3339; default: all stored).
    from: Option<String>,
    /// Until this instant, exclusive (default: all stored).
    to: Option<String>,
}

/// Comma-separated set ids, each named when it is not one.
fn id_list(field: &str, text: &str) -> Result<Vec<i64>, ApiError> {
    text.split(',')
        .map(|piece| {
            let piece = piece.trim();
            piece.parse::<i64>().map_err(|_| {
                ApiError::BadRequest(format!("{field}: {piece:?} is not a set id (give ids separated by commas)"))
            })
        })
        .collect()
}

fn panel_spec(
    kind: ReferenceJobKind,
    set_id: i64,
    controls: Vec<i64>,
    sample: Option<i32>,
    from: Option<&str>,
    to: Option<&str>,
    key_prefix: &str,
) -> Result<ReferenceJobSpec, ApiError> {
    let mut spec = spec(kind, set_id, None, from, to, key_prefix)?;
    spec.control_ids = controls;
    spec.sample = sample;
    Ok(spec)
}

#[utoipa::path(get, operation_id = "reference_sets_panel_test", path = "/v1/reference-sets/{id}/panel-test", tag = "reference sets", summary = "Was the suspect trained on our outputs? On the prompts we, the suspect and every control answered, does the suspect stand out from how close the controls come: the report of the newest run for these parameters, or a run queued", params(("id" = i64, Path, description = "the suspect set's id"), PanelQuery), responses((status = 200, description = "the run is done: its report in `result` (every model's closeness, the suspect's t and p against the controls, every control's against the others)", body = JobBody), (status = 202, description = "a run is queued or running (Location: the run, Retry-After: seconds)", body = JobBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn panel_test(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    NumericId(id): NumericId,
    QueryParams(q): QueryParams<PanelQuery>,
) -> Result<Response, ApiError> {
    asked(state, caller, ReferenceJobKind::PanelTest, id, q).await
}

#[utoipa::path(post, operation_id = "reference_sets_panel_test_run", path = "/v1/reference-sets/{id}/panel-test", tag = "reference sets", summary = "Queue a fresh run of the panel test", params(("id" = i64, Path, description = "the suspect set's id")), request_body = PanelBody, responses((status = 202, description = "queued (Location: the run)", body = JobBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn run_panel_test(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    NumericId(id): NumericId,
    JsonBody(body): JsonBody<PanelBody>,
) -> Result<Response, ApiError> {
    queued(state, caller, ReferenceJobKind::PanelTest, id, body).await
}

#[utoipa::path(get, operation_id = "reference_sets_fingerprint_test", path = "/v1/reference-sets/{id}/fingerprint-test", tag = "reference sets", summary = "Do the suspect's answers, to any prompts, carry the habits that tell our served answers from the controls' (phrases, openings, closings, layout)? The report of the newest run for these parameters, or a run queued", params(("id" = i64, Path, description = "the suspect set's id"), PanelQuery), responses((status = 200, description = "the run is done: its report in `result` (every model's share of our fingerprint, the decision, the habits behind it with their rates and examples)", body = JobBody), (status = 202, description = "a run is queued or running (Location: the run, Retry-After: seconds)", body = JobBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn fingerprint_test(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    NumericId(id): NumericId,
    QueryParams(q): QueryParams<PanelQuery>,
) -> Result<Response, ApiError> {
    asked(state, caller, ReferenceJobKind::FingerprintTest, id, q).await
}

#[utoipa::path(post, operation_id = "reference_sets_fingerprint_test_run", path = "/v1/reference-sets/{id}/fingerprint-test", tag = "reference sets", summary = "Queue a fresh run of the fingerprint test", params(("id" = i64, Path, description = "the suspect set's id")), request_body = PanelBody, responses((status = 202, description = "queued (Location: the run)", body = JobBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn run_fingerprint_test(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    NumericId(id): NumericId,
    JsonBody(body): JsonBody<PanelBody>,
) -> Result<Response, ApiError> {
    queued(state, caller, ReferenceJobKind::FingerprintTest, id, body).await
}

/// A panel or fingerprint test asked for by `GET`: the current run, or one queued.
async fn asked(
    state: ApiState,
    caller: crate::auth::Caller,
    kind: ReferenceJobKind,
    id: i64,
    q: PanelQuery,
) -> Result<Response, ApiError> {
    let controls = id_list("controls", &q.controls)?;
    let spec = panel_spec(kind, id, controls, q.sample, q.from.as_deref(), q.to.as_deref(), &caller.0.prefix)?;
    Ok(job_response(state.app().reference_job_for(&spec, &caller.actor()).await?, false))
}

/// A panel or fingerprint test queued afresh by `POST`.
async fn queued(
    state: ApiState,
    caller: crate::auth::Caller,
    kind: ReferenceJobKind,
    id: i64,
    body: PanelBody,
) -> Result<Response, ApiError> {
    let spec =
        panel_spec(kind, id, body.controls, body.sample, body.from.as_deref(), body.to.as_deref(), &caller.0.prefix)?;
    Ok(job_response(state.app().queue_reference_job(&spec, &caller.actor()).await?, true))
}

#[utoipa::path(get, operation_id = "reference_sets_distillation_test", path = "/v1/reference-sets/{id}/distillation-test", tag = "reference sets", summary = "Was the suspect trained on our outputs? A paired test against a control on the prompts all three answered: the report of the newest run for these parameters, or a run queued", params(("id" = i64, Path, description = "the suspect set's id"), TestQuery), responses((status = 200, description = "the run is done: its report in `result` (aligned prompts, per-measure and combined statistics, the decision: rejected, not rejected, inconclusive; examples; what it can and cannot show)", body = JobBody), (status = 202, description = "a run is queued or running (Location: the run, Retry-After: seconds)", body = JobBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn distillation_test(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    NumericId(id): NumericId,
    QueryParams(q): QueryParams<TestQuery>,
) -> Result<Response, ApiError> {
    let key = &caller.0;
    let kind = ReferenceJobKind::DistillationTest;
    let spec = spec(kind, id, Some(q.control), q.from.as_deref(), q.to.as_deref(), &key.prefix)?;
    Ok(job_response(state.app().reference_job_for(&spec, &caller.actor()).await?, false))
}

#[utoipa::path(post, operation_id = "reference_sets_distillation_test_run", path = "/v1/reference-sets/{id}/distillation-test", tag = "reference sets", summary = "Queue a fresh run of the distillation test", params(("id" = i64, Path, description = "the suspect set's id")), request_body = TestQuery, responses((status = 202, description = "queued (Location: the run)", body = JobBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn run_distillation_test(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    NumericId(id): NumericId,
    JsonBody(q): JsonBody<TestQuery>,
) -> Result<Response, ApiError> {
    let key = &caller.0;
    let kind = ReferenceJobKind::DistillationTest;
    let spec = spec(kind, id, Some(q.control), q.from.as_deref(), q.to.as_deref(), &key.prefix)?;
    Ok(job_response(state.app().queue_reference_job(&spec, &caller.actor()).await?, true))
}

#[utoipa::path(get, operation_id = "reference_sets_attribution", path = "/v1/reference-sets/{id}/attribution", tag = "reference sets", summary = "Which accounts (and clusters) were served the completions this suspect's outputs reproduce: the report of the newest run for this window, or a run queued", params(("id" = i64, Path, description = "the suspect set's id"), WindowQuery), responses((status = 200, description = "the run is done: its report in `result` (accounts and clusters ranked by matched outputs, the share of the set each explains, our prompt and completion beside the suspect's output)", body = JobBody), (status = 202, description = "a run is queued or running (Location: the run, Retry-After: seconds)", body = JobBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn attribution(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    NumericId(id): NumericId,
    QueryParams(q): QueryParams<WindowQuery>,
) -> Result<Response, ApiError> {
    let key = &caller.0;
    let spec = spec(ReferenceJobKind::Attribution, id, None, q.from.as_deref(), q.to.as_deref(), &key.prefix)?;
    Ok(job_response(state.app().reference_job_for(&spec, &caller.actor()).await?, false))
}

#[utoipa::path(post, operation_id = "reference_sets_attribution_run", path = "/v1/reference-sets/{id}/attribution", tag = "reference sets", summary = "Queue a fresh attribution run", params(("id" = i64, Path, description = "the suspect set's id")), request_body = WindowQuery, responses((status = 202, description = "queued (Location: the run)", body = JobBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn run_attribution(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    NumericId(id): NumericId,
    JsonBody(q): JsonBody<WindowQuery>,
) -> Result<Response, ApiError> {
    let key = &caller.0;
    let spec = spec(ReferenceJobKind::Attribution, id, None, q.from.as_deref(), q.to.as_deref(), &key.prefix)?;
    Ok(job_response(state.app().queue_reference_job(&spec, &caller.actor()).await?, true))
}

#[utoipa::path(get, operation_id = "reference_jobs_get", path = "/v1/reference-jobs/{id}", tag = "reference sets", summary = "A run of attribution or of the distillation test: state, progress, and its report once done", params(("id" = i64, Path, description = "the run's id")), responses((status = 200, description = "the run", body = JobBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn job(
    State(state): State<ApiState>,
    _: Analyst,
    Path(id): Path<String>,
) -> Result<Json<JobBody>, ApiError> {
    let parsed: i64 = id.parse().map_err(|_| ApiError::NotFound(format!("reference job {id:?}")))?;
    let job =
        state.app().reference_job(parsed).await?.ok_or_else(|| ApiError::NotFound(format!("reference job {id}")))?;
    Ok(Json(job.into()))
}
