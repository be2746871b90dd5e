//! Stored embeddings and the sample of events an embedding job works on.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;

/// Which text of an event a vector embeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The prompt analysis reads.
    Prompt,
    /// The completion.
    Completion,
}

impl Field {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Prompt => "prompt",
            Field::Completion => "completion",
        }
    }
}

/// How vectors are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorDtype {
    /// IEEE half precision, 2 bytes a value.
    F16,
    /// Single precision, 4 bytes a value.
    F32,
}

impl VectorDtype {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            VectorDtype::F16 => "f16",
            VectorDtype::F32 => "f32",
        }
    }

    /// The dtype of a stored name.
    pub fn parse(name: &str) -> Result<Self, StoreError> {
        match name {
            "f16" => Ok(VectorDtype::F16),
            "f32" => Ok(VectorDtype::F32),
            other => Err(StoreError::Corrupt(format!("embeddings.dtype {other:?}"))),
        }
    }

    /// Little-endian bytes of `vector`.
    pub fn encode(self, vector: &[f32]) -> Vec<u8> {
        match self {
            VectorDtype::F32 => vector.iter().flat_map(|v| v.to_le_bytes()).collect(),
            VectorDtype::F16 => vector.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
        }
    }

    /// The vector back from its bytes.
    pub fn decode(self, bytes: &[u8]) -> Vec<f32> {
        match self {
            VectorDtype::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            VectorDtype::F16 => {
                bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
        }
    }
}

/// An event picked for embedding (its key; texts are read in chunks later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventKey {
    /// The account.
    pub account_id: String,
    /// The event.
    pub event_id: String,
    /// When it happened.
    pub ts: OffsetDateTime,
}

/// How many of each account's events an embedding job takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Every event (GPU runs).
    All,
    /// At most this many per account, spread over its activity in the window.
    PerAccount(u32),
    /// At most this many per account and UTC day, spread over the day's
    /// activity: a finished day's sample never changes, so audits of growing
    /// windows reuse yesterday's vectors.
    PerAccountDay(u32),
}

/// The events of `[from, to)` to embed under `budget`: the account's events
/// in time order (per day, for a daily budget) are cut into as many strata as
/// the budget allows and one event is taken from each, chosen by a hash of
/// its id, so the same window always gives the same sample. Only keys are
/// returned, ordered by account and time; events whose vector for `model_id`
/// and `field` exists already are left out.
pub async fn sample_unembedded(
    conn: &mut PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
    budget: Budget,
    model_id: &str,
    field: Field,
) -> Result<Vec<EventKey>, StoreError> {
    let (per_account, per_day) = match budget {
        Budget::All => (None, false),
        Budget::PerAccount(n) => (Some(i64::from(n)), false),
        Budget::PerAccountDay(n) => (Some(i64::from(n)), true),
    };
    let rows = sqlx::query_as!(
        EventKey,
        r#"WITH window_events AS (
               SELECT account_id, event_id, ts, day,
                      ntile(COALESCE($3::bigint, 2147483647)::int) OVER (PARTITION BY account_id, day ORDER BY ts, event_id) AS stratum
               FROM (SELECT account_id, event_id, ts,
                            CASE WHEN $6 THEN date_trunc('day', ts AT TIME ZONE 'UTC') END AS day
                     FROM events
                     WHERE ts >= $1 AND ts < $2 AND ($5 <> 'completion' OR completion IS NOT NULL)) AS days
           ), picked AS (
               SELECT account_id, event_id, ts,
                      row_number() OVER (PARTITION BY account_id, day, stratum ORDER BY md5(event_id), event_id) AS pick
               FROM window_events
           )
           SELECT p.account_id AS "account_id!", p.event_id AS "event_id!", p.ts AS "ts!"
           FROM picked p
           WHERE p.pick = 1
             AND NOT EXISTS (SELECT 1 FROM embeddings m
                             WHERE m.account_id = p.account_id AND m.event_id = p.event_id
                               AND m.field = $5 AND m.model_id = $4)
           ORDER BY p.account_id, p.ts, p.event_id"#,
        from,
        to,
        per_account,
        model_id,
        field.as_str(),
        per_day
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

/// The text of `field` for each key (in the order given; empty when absent).
pub async fn texts(conn: &mut PgConnection, keys: &[EventKey], field: Field) -> Result<Vec<String>, StoreError> {
    let accounts: Vec<String> = keys.iter().map(|k| k.account_id.clone()).collect();
    let ids: Vec<String> = keys.iter().map(|k| k.event_id.clone()).collect();
    let (from, to) = match (keys.iter().map(|k| k.ts).min(), keys.iter().map(|k| k.ts).max()) {
        (Some(a), Some(b)) => (a, b),
        _ => return Ok(Vec::new()),
    };
    // The time bounds let PostgreSQL skip partitions outside the chunk.
    let rows = sqlx::query!(
        r#"SELECT k.ord AS "ord!", CASE WHEN $4 = 'prompt' THEN e.prompt ELSE COALESCE(e.completion, '') END AS "text!"
           FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(account_id, event_id, ord)
           JOIN events e ON e.account_id = k.account_id AND e.event_id = k.event_id
           WHERE e.ts >= $3 AND e.ts <= $5"#,
        &accounts,
        &ids,
        from,
        field.as_str(),
        to
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = vec![String::new(); keys.len()];
    for row in rows {
        if let Some(slot) = usize::try_from(row.ord - 1).ok().and_then(|i| out.get_mut(i)) {
            *slot = row.text;
        }
    }
    Ok(out)
}

/// Vectors as the `dim` and `vector` columns hold them, after checking that
/// there is one for each of `count` rows (`what` names the rows).
pub(crate) fn encoded(
    count: usize,
    what: &str,
    vectors: &[Vec<f32>],
    dtype: VectorDtype,
) -> Result<(Vec<i32>, Vec<Vec<u8>>), StoreError> {
    if count != vectors.len() {
        return Err(StoreError::Corrupt(format!("{count} {what} for {} vectors", vectors.len())));
    }
    Ok((vectors.iter().map(|v| v.len() as i32).collect(), vectors.iter().map(|v| dtype.encode(v)).collect()))
}

/// Writes vectors for `keys` (same order) in one statement; vectors already
/// stored (by a concurrent job) are left as they are. A multi-row INSERT
/// rather than COPY because COPY cannot skip existing keys, and a batch here is
/// a few hundred rows, so the statement is not what costs.
pub async fn store(
    conn: &mut PgConnection,
    keys: &[EventKey],
    vectors: &[Vec<f32>],
    field: Field,
    model_id: &str,
    dtype: VectorDtype,
) -> Result<u64, StoreError> {
    let (dims, bytes) = encoded(keys.len(), "keys", vectors, dtype)?;
    let accounts: Vec<String> = keys.iter().map(|k| k.account_id.clone()).collect();
    let ids: Vec<String> = keys.iter().map(|k| k.event_id.clone()).collect();
    let times: Vec<OffsetDateTime> = keys.iter().map(|k| k.ts).collect();
    let result = sqlx::query!(
        r#"INSERT INTO embeddings (account_id, event_id, field, model_id, ts, dim, dtype, vector)
           SELECT a, e, $3, $4, t, d, $5, v
           FROM unnest($1::text[], $2::text[], $6::timestamptz[], $7::int[], $8::bytea[]) AS u(a, e, t, d, v)
           ON CONFLICT DO NOTHING"#,
        &accounts,
        &ids,
        field.as_str(),
        model_id,
        dtype.as_str(),
        &times,
        &dims,
        &bytes
    )
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// The stored vectors of `field` by `model_id` of these events, by
/// `(account_id, event_id)`; events without one are left out.
pub async fn vectors_of(
    conn: &mut PgConnection,
    keys: &[(String, String)],
    field: Field,
    model_id: &str,
) -> Result<std::collections::HashMap<(String, String), Vec<f32>>, StoreError> {
    let (accounts, events): (Vec<String>, Vec<String>) = keys.iter().cloned().unzip();
    let rows = sqlx::query!(
        r#"SELECT v.account_id, v.event_id, v.dim, v.dtype, v.vector
           FROM unnest($1::text[], $2::text[]) AS k(account_id, event_id)
           JOIN embeddings v ON v.account_id = k.account_id AND v.event_id = k.event_id
           WHERE v.field = $3 AND v.model_id = $4"#,
        &accounts,
        &events,
        field.as_str(),
        model_id
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let vector = decode_stored(&r.event_id, &r.dtype, r.dim, &r.vector)?;
            Ok(((r.account_id, r.event_id), vector))
        })
        .collect()
}

/// [`store`] for events known by `(account_id, event_id)` only: their times
/// are read from their idempotency keys. Keys of events not stored are
/// skipped.
pub async fn store_for_events(
    conn: &mut PgConnection,
    keys: &[(String, String)],
    vectors: &[Vec<f32>],
    field: Field,
    model_id: &str,
    dtype: VectorDtype,
) -> Result<u64, StoreError> {
    let (dims, bytes) = encoded(keys.len(), "keys", vectors, dtype)?;
    let (accounts, ids): (Vec<String>, Vec<String>) = keys.iter().cloned().unzip();
    let result = sqlx::query!(
        r#"INSERT INTO embeddings (account_id, event_id, field, model_id, ts, dim, dtype, vector)
           SELECT u.a, u.e, $3, $4, k.ts, u.d, $5, u.v
           FROM unnest($1::text[], $2::text[], $6::int[], $7::bytea[]) AS u(a, e, d, v)
           JOIN event_keys k ON k.account_id = u.a AND k.event_id = u.e
           ON CONFLICT DO NOTHING"#,
        &accounts,
        &ids,
        field.as_str(),
        model_id,
        dtype.as_str(),
        &dims,
        &bytes
    )
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// Up to `limit` stored vectors of `field` by `model_id` from the whole
/// window `[from, to)`, picked by a hash of their event ids, so the same
/// window gives the same sample in the same order (what the audit fits the
/// window's topics on).
pub async fn window_sample(
    conn: &mut PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
    field: Field,
    model_id: &str,
    limit: i64,
) -> Result<Vec<Vec<f32>>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT event_id, dim, dtype, vector FROM embeddings
           WHERE ts >= $1 AND ts < $2 AND field = $3 AND model_id = $4
           ORDER BY md5(account_id || '/' || event_id), account_id, event_id
           LIMIT $5"#,
        from,
        to,
        field.as_str(),
        model_id,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(|r| decode_stored(&r.event_id, &r.dtype, r.dim, &r.vector)).collect()
}

/// A stored vector.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVector {
    /// The event's key.
    pub key: EventKey,
    /// The vector.
    pub vector: Vec<f32>,
}

/// The vectors of one account's events in `[from, to)`, in time order.
pub async fn for_account(
    conn: &mut PgConnection,
    account_id: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
    field: Field,
    model_id: &str,
) -> Result<Vec<StoredVector>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT account_id, event_id, ts, dim, dtype, vector FROM embeddings
           WHERE account_id = $1 AND ts >= $2 AND ts < $3 AND field = $4 AND model_id = $5
           ORDER BY ts, event_id"#,
        account_id,
        from,
        to,
        field.as_str(),
        model_id
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let vector = decode_stored(&r.event_id, &r.dtype, r.dim, &r.vector)?;
            Ok(StoredVector { key: EventKey { account_id: r.account_id, event_id: r.event_id, ts: r.ts }, vector })
        })
        .collect()
}

/// A stored vector's values, checked against its stored dimension.
pub(crate) fn decode_stored(event_id: &str, dtype: &str, dim: i32, bytes: &[u8]) -> Result<Vec<f32>, StoreError> {
    let vector = VectorDtype::parse(dtype)?.decode(bytes);
    if vector.len() != dim as usize {
        return Err(StoreError::Corrupt(format!("embedding of {event_id} has {} values, not {dim}", vector.len())));
    }
    Ok(vector)
}
