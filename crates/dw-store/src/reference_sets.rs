//! Reference sets and their items: a suspect's (or a control's) outputs.

use dw_domain::ReferenceItem;
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;

/// A reference set, with how many items it holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferenceSet {
    /// Its id.
    pub id: i64,
    /// Its unique name.
    pub name: String,
    /// The suspect model, in the analyst's words.
    pub description: String,
    /// How the outputs were collected.
    pub collection: String,
    /// A control set: a model known not to be trained on our outputs.
    pub control: bool,
    /// Who created it.
    pub created_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Items stored.
    pub items: i64,
    /// Items whose prompt is known.
    pub items_with_prompt: i64,
}

/// What creating a set needs.
#[derive(Debug, Clone)]
pub struct NewReferenceSet<'a> {
    /// Unique name: a letter or digit, then letters, digits, `.`, `_`, `-`, up to 100 in all.
    pub name: &'a str,
    /// The suspect model.
    pub description: &'a str,
    /// How the outputs were collected.
    pub collection: &'a str,
    /// A control set.
    pub control: bool,
    /// Who creates it.
    pub created_by: &'a str,
}

/// Creates a set; `None` when the name is taken.
pub async fn create(conn: &mut PgConnection, new: &NewReferenceSet<'_>) -> Result<Option<ReferenceSet>, StoreError> {
    let id = sqlx::query_scalar!(
        r#"INSERT INTO reference_sets (name, description, collection, control, created_by)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (name) DO NOTHING
           RETURNING id"#,
        new.name,
        new.description,
        new.collection,
        new.control,
        new.created_by
    )
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => by_id(conn, id).await,
        None => Ok(None),
    }
}

/// One set by id.
pub async fn by_id(conn: &mut PgConnection, id: i64) -> Result<Option<ReferenceSet>, StoreError> {
    Ok(sqlx::query_as!(
        ReferenceSet,
        r#"SELECT s.id, s.name, s.description, s.collection, s.control, s.created_by, s.created_at,
                  count(i.id) AS "items!", count(i.prompt) AS "items_with_prompt!"
           FROM reference_sets s LEFT JOIN reference_items i ON i.set_id = s.id
           WHERE s.id = $1
           GROUP BY s.id"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// One set by name.
pub async fn by_name(conn: &mut PgConnection, name: &str) -> Result<Option<ReferenceSet>, StoreError> {
    let id =
        sqlx::query_scalar!("SELECT id FROM reference_sets WHERE name = $1", name).fetch_optional(&mut *conn).await?;
    match id {
        Some(id) => by_id(conn, id).await,
        None => Ok(None),
    }
}

/// Every set, newest first.
pub async fn list(conn: &mut PgConnection) -> Result<Vec<ReferenceSet>, StoreError> {
    Ok(sqlx::query_as!(
        ReferenceSet,
        r#"SELECT s.id, s.name, s.description, s.collection, s.control, s.created_by, s.created_at,
                  count(i.id) AS "items!", count(i.prompt) AS "items_with_prompt!"
           FROM reference_sets s LEFT JOIN reference_items i ON i.set_id = s.id
           GROUP BY s.id
           ORDER BY s.created_at DESC, s.id DESC"#
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Stores items in a set; an item already in the set (same prompt and
/// output) is skipped. Returns (stored, duplicates).
pub async fn add_items(
    conn: &mut PgConnection,
    set_id: i64,
    items: &[ReferenceItem],
) -> Result<(u64, u64), StoreError> {
    let mut stored = 0;
    // Bounded statements: one unnest per 5,000 items.
    for chunk in items.chunks(5_000) {
        let prompts: Vec<Option<String>> = chunk.iter().map(|i| i.prompt.clone()).collect();
        let outputs: Vec<String> = chunk.iter().map(|i| i.output.clone()).collect();
        let models: Vec<Option<String>> = chunk.iter().map(|i| i.model.clone()).collect();
        let metadata: Vec<Option<serde_json::Value>> = chunk.iter().map(|i| i.metadata.clone()).collect();
        let hashes: Vec<Vec<u8>> = chunk.iter().map(|i| i.content_hash.to_vec()).collect();
        let result = sqlx::query!(
            r#"INSERT INTO reference_items (set_id, prompt, output, model, metadata, content_hash)
               SELECT $1, p, o, m, d, h
               FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::bytea[]) AS u(p, o, m, d, h)
               ON CONFLICT (set_id, content_hash) DO NOTHING"#,
            set_id,
            &prompts as &[Option<String>],
            &outputs,
            &models as &[Option<String>],
            &metadata as &[Option<serde_json::Value>],
            &hashes
        )
        .execute(&mut *conn)
        .await?;
        stored += result.rows_affected();
    }
    Ok((stored, items.len() as u64 - stored))
}

/// A stored item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredReferenceItem {
    /// Its id.
    pub id: i64,
    /// The prompt, when known.
    pub prompt: Option<String>,
    /// The output.
    pub output: String,
    /// The model, when given.
    pub model: Option<String>,
}

/// A set's items after `after_id`, in id order, at most `limit`.
pub async fn items(
    conn: &mut PgConnection,
    set_id: i64,
    after_id: i64,
    limit: i64,
) -> Result<Vec<StoredReferenceItem>, StoreError> {
    Ok(sqlx::query_as!(
        StoredReferenceItem,
        r#"SELECT id, prompt, output, model FROM reference_items
           WHERE set_id = $1 AND id > $2 ORDER BY id LIMIT $3"#,
        set_id,
        after_id,
        limit
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// A set's items that carry a prompt: `(id, prompt, output)`, in id order.
pub async fn prompted_items(conn: &mut PgConnection, set_id: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT id, prompt AS "prompt!", output FROM reference_items
           WHERE set_id = $1 AND prompt IS NOT NULL ORDER BY id"#,
        set_id
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.prompt, r.output)).collect())
}

/// A prompt we served and answered, as alignment reads it (the completion is
/// fetched later, for the events that align: [`served_texts`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ServedPrompt {
    /// The account served.
    pub account_id: String,
    /// The event.
    pub event_id: String,
    /// What it asked.
    pub prompt: String,
}

/// Every prompt of `[from, to)` that we answered (a completion that is not
/// blank), in time order, streamed: what a reference set's prompts are
/// aligned with; only `accounts` and requests to `model`, when given (an
/// audit's narrowing). The window is read once, without an index on the
/// events' text (one would slow every ingest for an analyst's question).
pub fn stream_answered_prompts<'c>(
    conn: &'c mut PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
    accounts: Option<&'c [String]>,
    model: Option<&'c str>,
) -> impl futures_util::Stream<Item = Result<ServedPrompt, StoreError>> + 'c {
    use futures_util::TryStreamExt;
    sqlx::query_as!(
        ServedPrompt,
        r#"SELECT e.account_id, e.event_id, e.prompt FROM events e
           WHERE e.ts >= $1 AND e.ts < $2 AND e.completion IS NOT NULL AND btrim(e.completion) <> ''
             AND ($3::text[] IS NULL OR e.account_id = ANY($3)) AND ($4::text IS NULL OR e.model = $4)
           ORDER BY e.ts, e.account_id, e.event_id"#,
        from,
        to,
        accounts,
        model
    )
    .fetch(conn)
    .map_err(StoreError::from)
}

/// The outputs of every suspect (non-control) set, or of one set: what
/// attribution indexes. `(set name, item id, output)`, in item order.
pub async fn outputs(conn: &mut PgConnection, set_id: Option<i64>) -> Result<Vec<(String, i64, String)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT s.name, i.id, i.output FROM reference_items i JOIN reference_sets s ON s.id = i.set_id
           WHERE ($1::bigint IS NULL AND NOT s.control) OR i.set_id = $1
           ORDER BY i.id"#,
        set_id
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.name, r.id, r.output)).collect())
}

/// A completion we served, as attribution reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedCompletion {
    /// The account served.
    pub account_id: String,
    /// The event.
    pub event_id: String,
    /// What it asked.
    pub prompt: String,
    /// What we answered.
    pub completion: String,
}

/// Every completion of the selection, in account and time order, streamed.
pub fn stream_completions<'c>(
    conn: &'c mut PgConnection,
    selection: crate::activity::Selection<'c>,
) -> impl futures_util::Stream<Item = Result<ServedCompletion, StoreError>> + 'c {
    use futures_util::TryStreamExt;
    sqlx::query_as!(
        ServedCompletion,
        r#"SELECT e.account_id, e.event_id, e.prompt, e.completion AS "completion!" FROM events e
           WHERE e.ts >= $1 AND e.ts < $2 AND e.completion IS NOT NULL
             AND ($3::text[] IS NULL OR e.account_id = ANY($3)) AND ($4::text IS NULL OR e.model = $4)
           ORDER BY e.account_id, e.ts, e.event_id"#,
        selection.from,
        selection.to,
        selection.accounts as Option<&[String]>,
        selection.model
    )
    .fetch(conn)
    .map_err(StoreError::from)
}

/// Up to `limit` completions we served in `[from, to)`, drawn evenly from
/// the whole window (ordered by a hash of the event's key, not by time, so
/// the sample is the same on every run and no day or account comes first).
pub async fn sample_completions(
    conn: &mut PgConnection,
    from: time::OffsetDateTime,
    to: time::OffsetDateTime,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query_scalar!(
        r#"SELECT e.completion AS "completion!" FROM events e
           WHERE e.ts >= $1 AND e.ts < $2 AND e.completion IS NOT NULL AND e.completion <> ''
           ORDER BY md5(e.account_id || '/' || e.event_id) LIMIT $3"#,
        from,
        to,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

/// Items' prompts and outputs by id.
pub async fn item_texts(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, StoredReferenceItem>, StoreError> {
    let rows = sqlx::query_as!(
        StoredReferenceItem,
        "SELECT id, prompt, output, model FROM reference_items WHERE id = ANY($1)",
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r)).collect())
}

/// Served events' prompts and completions by `(account_id, event_id)`.
pub async fn served_texts(
    conn: &mut PgConnection,
    keys: &[(String, String)],
) -> Result<std::collections::HashMap<(String, String), ServedCompletion>, StoreError> {
    let (accounts, events): (Vec<String>, Vec<String>) = keys.iter().cloned().unzip();
    let rows = sqlx::query_as!(
        ServedCompletion,
        r#"SELECT e.account_id, e.event_id, e.prompt, coalesce(e.completion, '') AS "completion!"
           FROM events e JOIN unnest($1::text[], $2::text[]) AS k(account_id, event_id)
             ON e.account_id = k.account_id AND e.event_id = k.event_id"#,
        &accounts,
        &events
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| ((r.account_id.clone(), r.event_id.clone()), r)).collect())
}

/// The clusters `accounts` belong to in an audit: `(account_id, cluster_id)`.
pub async fn clusters_of(
    conn: &mut PgConnection,
    audit_id: i64,
    accounts: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT account_id, cluster_id AS "cluster_id!" FROM audit_scores
           WHERE audit_id = $1 AND account_id = ANY($2) AND cluster_id IS NOT NULL"#,
        audit_id,
        accounts
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.account_id, r.cluster_id)).collect())
}

/// Up to `limit` items of `set_id` after `after_id` whose output has no
/// vector from `model_id`: `(id, output)`, in id order.
pub async fn unembedded_outputs(
    conn: &mut PgConnection,
    set_id: i64,
    model_id: &str,
    after_id: i64,
    limit: i64,
) -> Result<Vec<(i64, String)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT i.id, i.output FROM reference_items i
           WHERE i.set_id = $1 AND i.id > $3
             AND NOT EXISTS (SELECT 1 FROM reference_item_vectors v WHERE v.item_id = i.id AND v.model_id = $2)
           ORDER BY i.id LIMIT $4"#,
        set_id,
        model_id,
        after_id,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.output)).collect())
}

/// Stores the vectors of items' outputs (same order as `ids`), as float32;
/// vectors already stored are left as they are. Returns the rows written.
pub async fn store_output_vectors(
    conn: &mut PgConnection,
    ids: &[i64],
    vectors: &[Vec<f32>],
    model_id: &str,
) -> Result<u64, StoreError> {
    let dtype = crate::embeddings::VectorDtype::F32;
    let (dims, bytes) = crate::embeddings::encoded(ids.len(), "items", vectors, dtype)?;
    let result = sqlx::query!(
        r#"INSERT INTO reference_item_vectors (item_id, model_id, dim, dtype, vector)
           SELECT i, $2, d, $3, v FROM unnest($1::bigint[], $4::int[], $5::bytea[]) AS u(i, d, v)
           ON CONFLICT DO NOTHING"#,
        ids,
        model_id,
        dtype.as_str(),
        &dims,
        &bytes
    )
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// The stored vectors of `model_id` for the outputs of items `ids` (those
/// that have one).
pub async fn output_vectors(
    conn: &mut PgConnection,
    ids: &[i64],
    model_id: &str,
) -> Result<std::collections::HashMap<i64, Vec<f32>>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT item_id, dim, dtype, vector FROM reference_item_vectors
           WHERE item_id = ANY($1) AND model_id = $2"#,
        ids,
        model_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for r in rows {
        let vector = crate::embeddings::VectorDtype::parse(&r.dtype)?.decode(&r.vector);
        if vector.len() != r.dim as usize {
            return Err(StoreError::Corrupt(format!(
                "reference item {}: {} values, dim {}",
                r.item_id,
                vector.len(),
                r.dim
            )));
        }
        found.insert(r.item_id, vector);
    }
    Ok(found)
}

/// How many of `set_id`'s items have a vector from `model_id`.
pub async fn embedded_count(conn: &mut PgConnection, set_id: i64, model_id: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM reference_item_vectors v JOIN reference_items i ON i.id = v.item_id
           WHERE i.set_id = $1 AND v.model_id = $2"#,
        set_id,
        model_id
    )
    .fetch_one(&mut *conn)
    .await?)
}
