//! Idempotent bulk writes of events.
//!
//! A batch is written in two statements inside the caller's transaction:
//! [`claim_keys`] inserts each event's `(account_id, event_id)` into
//! `event_keys` and learns which were new; [`copy_events`] streams only those
//! into the partitioned `events` table with binary COPY. A key already present,
//! or being claimed by a concurrent transaction that then commits, makes the
//! event a duplicate, whatever its timestamp.

use std::collections::HashSet;

use dw_domain::{Event, EventIdSource};
use sqlx::{Connection, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;
use crate::copy_binary::CopyBuffer;

/// Claims the idempotency keys of `events` and returns, for each event, whether
/// it is new. Events must be unique by `(account_id, event_id)` within the
/// slice; the caller removes repeats first. `conn` must be in a transaction.
///
/// Most batches are all new: the keys are first inserted without asking which
/// were (under a savepoint); only when some were already there is that undone
/// and the insert repeated, returning the new ones.
pub async fn claim_keys(conn: &mut PgConnection, events: &[&Event]) -> Result<Vec<bool>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    // Insert in key order so that concurrent batches lock keys in the same
    // order and cannot deadlock on each other.
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|&a, &b| {
        (&events[a].account_id, &events[a].event_id).cmp(&(&events[b].account_id, &events[b].event_id))
    });
    let accounts: Vec<&str> = order.iter().map(|&i| events[i].account_id.as_str()).collect();
    let ids: Vec<&str> = order.iter().map(|&i| events[i].event_id.as_str()).collect();
    let times: Vec<OffsetDateTime> = order.iter().map(|&i| events[i].timestamp).collect();
    let mut attempt = conn.begin().await?;
    let inserted = sqlx::query!(
        r#"INSERT INTO event_keys (account_id, event_id, ts)
           SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
           ON CONFLICT DO NOTHING"#,
        &accounts as &[&str],
        &ids as &[&str],
        &times,
    )
    .execute(&mut *attempt)
    .await?
    .rows_affected();
    if inserted == events.len() as u64 {
        attempt.commit().await?;
        return Ok(vec![true; events.len()]);
    }
    attempt.rollback().await?;
    let claimed = sqlx::query!(
        r#"INSERT INTO event_keys (account_id, event_id, ts)
           SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
           ON CONFLICT DO NOTHING
           RETURNING account_id, event_id"#,
        &accounts as &[&str],
        &ids as &[&str],
        &times,
    )
    .fetch_all(&mut *conn)
    .await?;
    let claimed: HashSet<(String, String)> = claimed.into_iter().map(|r| (r.account_id, r.event_id)).collect();
    Ok(events.iter().map(|e| claimed.contains(&(e.account_id.clone(), e.event_id.clone()))).collect())
}

/// The columns [`copy_events`] writes, in order.
const COPY_STATEMENT: &str = "COPY events (account_id, ts, event_id, id_derived, model, endpoint, api_key_id, \
    org_id, conversation_id, messages, prompt, system_prompt, temperature, top_p, max_tokens, n, logprobs, \
    top_logprobs, seed, completion, finish_reason, prompt_tokens, completion_tokens, client_ip, user_agent, \
    metadata, ingest_id, history_logged) FROM STDIN (FORMAT binary)";
const COLUMNS: i16 = 28;
/// Bytes buffered before a chunk is sent to the server.
const CHUNK_BYTES: usize = 1 << 20;

/// Streams `events` into `events` with binary COPY, tagging them with
/// `ingest_id`. Their partitions must exist. Returns the rows written.
pub async fn copy_events(conn: &mut PgConnection, events: &[&Event], ingest_id: Uuid) -> Result<u64, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    // In account order: an account's rows of a batch lie together in the
    // table, as the audit reads them (no faster to write, measured).
    let mut ordered = events.to_vec();
    ordered.sort_by(|a, b| (&a.account_id, a.timestamp).cmp(&(&b.account_id, b.timestamp)));
    let mut copy = conn.copy_in_raw(COPY_STATEMENT).await?;
    let mut buf = CopyBuffer::new(CHUNK_BYTES + 64 * 1024);
    for event in ordered {
        write_row(&mut buf, event, ingest_id);
        if buf.len() >= CHUNK_BYTES {
            copy.send(buf.take_chunk()).await?;
        }
    }
    copy.send(buf.finish()).await?;
    Ok(copy.finish().await?)
}

fn write_row(buf: &mut CopyBuffer, e: &Event, ingest_id: Uuid) {
    let p = &e.request.params;
    buf.row(COLUMNS);
    buf.text(&e.account_id);
    buf.timestamptz(e.timestamp);
    buf.text(&e.event_id);
    buf.bool(e.event_id_source == EventIdSource::ContentHash);
    buf.text(&e.model);
    buf.opt_text(e.endpoint.as_deref());
    buf.opt_text(e.api_key_id.as_deref());
    buf.opt_text(e.org_id.as_deref());
    buf.opt_text(e.conversation_id.as_deref());
    match &e.request.messages {
        Some(messages) => buf.jsonb(messages),
        None => buf.null(),
    }
    buf.text(&e.request.prompt);
    buf.opt_text(e.request.system_prompt.as_deref());
    buf.opt_f32(p.temperature);
    buf.opt_f32(p.top_p);
    buf.opt_i32(p.max_tokens);
    buf.opt_i32(p.n);
    buf.opt_bool(p.logprobs);
    buf.opt_i32(p.top_logprobs);
    buf.opt_i64(p.seed);
    let response = e.response.as_ref();
    buf.opt_text(response.and_then(|r| r.content.as_deref()));
    buf.opt_text(response.and_then(|r| r.finish_reason.as_deref()));
    buf.opt_i32(e.usage.prompt_tokens);
    buf.opt_i32(e.usage.completion_tokens);
    buf.opt_inet(e.client.ip);
    buf.opt_text(e.client.user_agent.as_deref());
    buf.jsonb(&e.metadata);
    buf.uuid(ingest_id);
    buf.opt_bool(e.request.history_logged);
}

/// A stored event as analysis and the API read it back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The canonical event.
    pub event: Event,
    /// The batch that stored it.
    pub ingest_id: Uuid,
}

/// The events of one account in `[from, to)`, oldest first, at most `limit`.
pub async fn list_for_account(
    conn: &mut PgConnection,
    account_id: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT account_id, ts, event_id, id_derived, model, endpoint, api_key_id, org_id, conversation_id,
                  messages, prompt, system_prompt, temperature, top_p, max_tokens, n, logprobs, top_logprobs,
                  seed, completion, finish_reason, prompt_tokens, completion_tokens, client_ip, user_agent,
                  metadata, ingest_id, history_logged
           FROM events WHERE account_id = $1 AND ts >= $2 AND ts < $3
           ORDER BY ts, event_id LIMIT $4"#,
        account_id,
        from,
        to,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let messages = match r.messages {
                Some(json) => Some(
                    serde_json::from_value(json).map_err(|e| StoreError::Corrupt(format!("events.messages: {e}")))?,
                ),
                None => None,
            };
            let metadata = match r.metadata {
                serde_json::Value::Object(map) => map,
                other => return Err(StoreError::Corrupt(format!("events.metadata is not an object: {other}"))),
            };
            let has_response = r.completion.is_some() || r.finish_reason.is_some();
            let response =
                has_response.then_some(dw_domain::Response { content: r.completion, finish_reason: r.finish_reason });
            Ok(StoredEvent {
                event: Event {
                    event_id: r.event_id,
                    event_id_source: if r.id_derived { EventIdSource::ContentHash } else { EventIdSource::Given },
                    account_id: r.account_id,
                    timestamp: r.ts,
                    model: r.model,
                    endpoint: r.endpoint,
                    api_key_id: r.api_key_id,
                    org_id: r.org_id,
                    conversation_id: r.conversation_id,
                    request: dw_domain::Request {
                        messages,
                        prompt: r.prompt,
                        system_prompt: r.system_prompt,
                        params: dw_domain::SamplingParams {
                            temperature: r.temperature,
                            top_p: r.top_p,
                            max_tokens: r.max_tokens,
                            n: r.n,
                            logprobs: r.logprobs,
                            top_logprobs: r.top_logprobs,
                            seed: r.seed,
                        },
                        history_logged: r.history_logged,
                    },
                    response,
                    usage: dw_domain::Usage { prompt_tokens: r.prompt_tokens, completion_tokens: r.completion_tokens },
                    client: dw_domain::Client { ip: r.client_ip.map(|n| n.addr()), user_agent: r.user_agent },
                    metadata,
                },
                ingest_id: r.ingest_id,
            })
        })
        .collect()
}

/// How many events are stored (all partitions).
pub async fn count(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM events"#).fetch_one(&mut *conn).await?)
}
