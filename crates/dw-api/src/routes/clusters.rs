//! Clusters of linked accounts, for analysts: `GET /v1/clusters` (an
//! audit's clusters, largest first, paged) and `GET /v1/clusters/{id}` (its
//! members, why they are linked, their combined volume and signals).

use axum::Json;
use axum::extract::{Path, State};
use dw_app::ClusterView;
use serde::{Deserialize, Serialize};

use super::accounts::AccountRow;
use super::params::{cursor, page_size};
use crate::auth::Analyst;
use crate::extract::QueryParams;
use crate::{ApiError, ApiState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ClusterQuery {
    /// The audit (default: the latest finished one).
    audit: Option<i64>,
    /// Only clusters with a flagged member.
    #[serde(default)]
    flagged: bool,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ClusterRow {
    cluster_id: String,
    /// What the members share, in words.
    reason: String,
    members: i64,
    flagged_members: i64,
    requests: i64,
    max_risk: f64,
    mean_risk: f64,
    flag_id: Option<i64>,
    flag_status: Option<dw_domain::FlagStatus>,
}

impl From<ClusterView> for ClusterRow {
    fn from(c: ClusterView) -> Self {
        ClusterRow {
            cluster_id: c.cluster_id,
            reason: c.reason,
            members: c.members,
            flagged_members: c.flagged,
            requests: c.requests,
            max_risk: c.max_risk,
            mean_risk: c.mean_risk,
            flag_id: c.flag_id,
            flag_status: c.flag_status,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ClusterPage {
    audit_id: i64,
    clusters: Vec<ClusterRow>,
    next: Option<String>,
}

#[utoipa::path(get, operation_id = "clusters_list", path = "/v1/clusters", tag = "clusters", summary = "An audit's clusters of linked accounts, largest first", params(ClusterQuery), responses((status = 200, description = "a page of clusters", body = ClusterPage), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    _: Analyst,
    QueryParams(q): QueryParams<ClusterQuery>,
) -> Result<Json<ClusterPage>, ApiError> {
    let limit = page_size(q.limit)?;
    let after = q.cursor.as_deref().map(cursor::<i64, String>).transpose()?;
    let audit_id = match q.audit {
        Some(id) => id,
        None => state.app().latest_audit_id().await?,
    };
    let mut clusters = state.app().clusters(audit_id, q.flagged, after, limit + 1).await?;
    let next = (clusters.len() as i64 > limit).then(|| {
        clusters.truncate(limit as usize);
        let last = clusters.last().expect("a full page");
        format!("{}:{}", last.members, last.cluster_id)
    });
    Ok(Json(ClusterPage { audit_id, clusters: clusters.into_iter().map(ClusterRow::from).collect(), next }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DetailQuery {
    audit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SignalRow {
    signal: String,
    /// Members with it among their largest contributions.
    members: usize,
    mean_contribution: f64,
}

/// A cluster with its members. Its fields are a [`ClusterRow`]'s, but for
/// the count of members: `members` is the members themselves.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ClusterBody {
    audit_id: i64,
    cluster_id: String,
    /// What the members share, in words.
    reason: String,
    flagged_members: i64,
    requests: i64,
    max_risk: f64,
    mean_risk: f64,
    flag_id: Option<i64>,
    flag_status: Option<dw_domain::FlagStatus>,
    members: Vec<AccountRow>,
    signals: Vec<SignalRow>,
    /// What joins the members, edge by edge, the strongest first (at most
    /// 50; empty for audits published before edges were kept).
    edges: Vec<EdgeRow>,
}

/// One reason some members are linked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EdgeRow {
    /// The accounts it joins.
    members: Vec<String>,
    /// What they share, in words, with how rare it is.
    words: String,
    /// Whether it says one operator runs them (traces of one software on one
    /// infrastructure), rather than one owner (a card, a sign-up burst).
    operation: bool,
}

#[utoipa::path(get, operation_id = "clusters_get", path = "/v1/clusters/{id}", tag = "clusters", summary = "A cluster with its members and their signals", params(("id" = String, Path, description = "cluster id"), DetailQuery), responses((status = 200, description = "the cluster", body = ClusterBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    _: Analyst,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<DetailQuery>,
) -> Result<Json<ClusterBody>, ApiError> {
    let detail = state.app().cluster_detail(&id, q.audit).await?;
    let cluster = detail.cluster;
    Ok(Json(ClusterBody {
        audit_id: detail.audit_id,
        cluster_id: cluster.cluster_id,
        reason: cluster.reason,
        flagged_members: cluster.flagged,
        requests: cluster.requests,
        max_risk: cluster.max_risk,
        mean_risk: cluster.mean_risk,
        flag_id: cluster.flag_id,
        flag_status: cluster.flag_status,
        members: detail.members.into_iter().map(AccountRow::from).collect(),
        signals: detail
            .signals
            .into_iter()
            .map(|(signal, members, mean_contribution)| SignalRow { signal, members, mean_contribution })
            .collect(),
        edges: detail
            .edges
            .into_iter()
            .map(|e| EdgeRow { members: e.members, words: e.words, operation: e.operation })
            .collect(),
    }))
}
