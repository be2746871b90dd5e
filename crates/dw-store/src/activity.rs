//! What accounts did in a window, as the audit reads it.

use dw_domain::RequestRecord;
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;

/// The traffic an audit reads: a time window, optionally narrowed to some
/// accounts (a tip-off list) and to one model.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    /// First instant included.
    pub from: OffsetDateTime,
    /// First instant excluded.
    pub to: OffsetDateTime,
    /// Only these accounts, when given.
    pub accounts: Option<&'a [String]>,
    /// Only requests to this model, when given.
    pub model: Option<&'a str>,
    /// Attach the prompt vectors this embedding model stored, when given.
    pub vectors_of: Option<&'a str>,
}

impl Selection<'_> {
    /// Everything in `[from, to)`.
    pub fn window(from: OffsetDateTime, to: OffsetDateTime) -> Self {
        Selection { from, to, accounts: None, model: None, vectors_of: None }
    }
}

/// Requests per account in the selection, by account id.
pub async fn request_counts(
    conn: &mut PgConnection,
    selection: Selection<'_>,
) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT account_id, count(*) AS "requests!"
           FROM events WHERE ts >= $1 AND ts < $2
             AND ($3::text[] IS NULL OR account_id = ANY($3)) AND ($4::text IS NULL OR model = $4)
           GROUP BY account_id ORDER BY account_id"#,
        selection.from,
        selection.to,
        selection.accounts as Option<&[String]>,
        selection.model
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.account_id, r.requests)).collect())
}

/// Request times (Unix seconds) per account in `[from, to)`, in time order;
/// what an evaluator needs to count requests served before a flag.
pub async fn request_times(
    conn: &mut PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<(String, Vec<i64>)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT account_id, array_agg(extract(epoch FROM ts)::bigint ORDER BY ts) AS "times!"
           FROM events WHERE ts >= $1 AND ts < $2
           GROUP BY account_id ORDER BY account_id"#,
        from,
        to
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.account_id, r.times)).collect())
}

/// The first and last event time, when any event is stored.
pub async fn time_range(conn: &mut PgConnection) -> Result<Option<(OffsetDateTime, OffsetDateTime)>, StoreError> {
    let row = sqlx::query!(r#"SELECT min(ts) AS first, max(ts) AS last FROM events"#).fetch_one(&mut *conn).await?;
    Ok(row.first.zip(row.last))
}

/// Every request of a few named accounts in the selection, at once, in the
/// order of [`stream_requests`]. The read is planned for the accounts it
/// names, so it walks the `(account_id, ts)` index: a plan made once for any
/// list (PostgreSQL's generic plan, after a statement's fifth run) scans
/// the whole window, once per call. An audit calls this once per cluster.
pub async fn requests_of_accounts(
    conn: &mut PgConnection,
    selection: Selection<'_>,
) -> Result<Vec<RequestRecord>, StoreError> {
    use futures_util::TryStreamExt;
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan").execute(&mut *tx).await?;
    let requests = stream_requests(&mut tx, selection).try_collect().await?;
    tx.commit().await?;
    Ok(requests)
}

/// Every request of the selection as detection reads it, ordered by account
/// and time, streamed: the caller groups consecutive rows by account and never
/// needs the whole window in memory.
pub fn stream_requests<'c>(
    conn: &'c mut PgConnection,
    selection: Selection<'c>,
) -> impl futures_util::Stream<Item = Result<RequestRecord, StoreError>> + 'c {
    use futures_util::TryStreamExt;
    sqlx::query!(
        r#"SELECT e.account_id, e.event_id, e.ts, e.model, e.prompt, e.system_prompt,
                  CASE WHEN e.history_logged IS FALSE THEN NULL
                       ELSE greatest(coalesce(jsonb_array_length(e.messages)
                      - jsonb_array_length(jsonb_path_query_array(e.messages, '$[*] ? (@.role == "system" || @.role == "developer")'))
                      - 1, 0), 0) END::int AS "prior_turns?",
                  e.conversation_id, e.temperature, e.max_tokens, e.n, e.logprobs, e.finish_reason,
                  e.prompt_tokens, e.completion_tokens, e.client_ip, e.user_agent,
                  coalesce(e.metadata->>'user', e.metadata->'_unknown'->>'request.user') AS end_user,
                  m.dtype AS "vector_dtype?", m.dim AS "vector_dim?", m.vector AS "vector?"
           FROM events e
           LEFT JOIN embeddings m
             ON $5::text IS NOT NULL AND m.account_id = e.account_id AND m.event_id = e.event_id
            AND m.field = 'prompt' AND m.model_id = $5
           WHERE e.ts >= $1 AND e.ts < $2
             AND ($3::text[] IS NULL OR e.account_id = ANY($3)) AND ($4::text IS NULL OR e.model = $4)
           ORDER BY e.account_id, e.ts, e.event_id"#,
        selection.from,
        selection.to,
        selection.accounts as Option<&[String]>,
        selection.model,
        selection.vectors_of
    )
    .fetch(conn)
    .map_err(StoreError::from)
    .and_then(|r| async move {
        let prompt_vector = match (r.vector_dtype.as_deref(), r.vector_dim, r.vector) {
            (Some(dtype), Some(dim), Some(bytes)) => {
                Some(crate::embeddings::decode_stored(&r.event_id, dtype, dim, &bytes)?)
            }
            _ => None,
        };
        Ok(RequestRecord {
            account_id: r.account_id,
            event_id: r.event_id,
            ts_ms: (r.ts.unix_timestamp_nanos() / 1_000_000) as i64,
            model: r.model,
            prompt: r.prompt,
            system_prompt: r.system_prompt,
            prior_turns: r.prior_turns.map(|t| t.max(0) as u32),
            conversation_id: r.conversation_id,
            temperature: r.temperature,
            max_tokens: r.max_tokens,
            n: r.n,
            logprobs: r.logprobs,
            finish_reason: r.finish_reason,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            client_ip: r.client_ip.map(|net| net.addr()),
            user_agent: r.user_agent,
            end_user: r.end_user,
            prompt_vector,
        })
    })
}
