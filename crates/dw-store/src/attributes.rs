//! Account attributes: imported, and read by audits.

use std::collections::HashMap;

use dw_domain::AccountAttributes;
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;
use crate::activity::Selection;

fn instant(ms: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    ms.map(|ms| {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .map_err(|e| StoreError::Corrupt(format!("created_at {ms} ms: {e}")))
    })
    .transpose()
}

/// Writes `rows`: new accounts are inserted; for known ones the `columns`
/// given are set (an empty value clears one) and the others kept. Returns
/// (inserted, updated).
pub async fn upsert(
    conn: &mut PgConnection,
    rows: &[AccountAttributes],
    columns: &[&str],
) -> Result<(u64, u64), StoreError> {
    let given = |c: &str| columns.contains(&c);
    let mut inserted = 0;
    let mut updated = 0;
    for chunk in rows.chunks(10_000) {
        let ids: Vec<&str> = chunk.iter().map(|r| r.account_id.as_str()).collect();
        let created: Vec<Option<OffsetDateTime>> =
            chunk.iter().map(|r| instant(r.created_at_ms)).collect::<Result<_, _>>()?;
        let orgs: Vec<Option<&str>> = chunk.iter().map(|r| r.org.as_deref()).collect();
        let countries: Vec<Option<&str>> = chunk.iter().map(|r| r.country.as_deref()).collect();
        let payments: Vec<Option<&str>> = chunk.iter().map(|r| r.payment_fingerprint.as_deref()).collect();
        let domains: Vec<Option<&str>> = chunk.iter().map(|r| r.email_domain_fingerprint.as_deref()).collect();
        let rows = sqlx::query!(
            r#"INSERT INTO account_attributes AS a
                   (account_id, created_at, org, country, payment_fingerprint, email_domain_fingerprint)
               SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[])
               ON CONFLICT (account_id) DO UPDATE SET
                   created_at = CASE WHEN $7 THEN EXCLUDED.created_at ELSE a.created_at END,
                   org = CASE WHEN $8 THEN EXCLUDED.org ELSE a.org END,
                   country = CASE WHEN $9 THEN EXCLUDED.country ELSE a.country END,
                   payment_fingerprint = CASE WHEN $10 THEN EXCLUDED.payment_fingerprint ELSE a.payment_fingerprint END,
                   email_domain_fingerprint =
                       CASE WHEN $11 THEN EXCLUDED.email_domain_fingerprint ELSE a.email_domain_fingerprint END,
                   imported_at = now()
               RETURNING (xmax = 0) AS "inserted!""#,
            &ids as &[&str],
            &created as &[Option<OffsetDateTime>],
            &orgs as &[Option<&str>],
            &countries as &[Option<&str>],
            &payments as &[Option<&str>],
            &domains as &[Option<&str>],
            given("created_at"),
            given("org"),
            given("country"),
            given("payment_fingerprint"),
            given("email_domain_fingerprint")
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            if row.inserted {
                inserted += 1;
            } else {
                updated += 1;
            }
        }
    }
    Ok((inserted, updated))
}

/// The attributes of the accounts active in the selection, by account.
pub async fn for_selection(
    conn: &mut PgConnection,
    selection: Selection<'_>,
) -> Result<HashMap<String, AccountAttributes>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT a.account_id, a.created_at, a.org, a.country, a.payment_fingerprint, a.email_domain_fingerprint
           FROM account_attributes a
           WHERE EXISTS (SELECT 1 FROM events e
                         WHERE e.account_id = a.account_id AND e.ts >= $1 AND e.ts < $2
                           AND ($4::text IS NULL OR e.model = $4))
             AND ($3::text[] IS NULL OR a.account_id = ANY($3))"#,
        selection.from,
        selection.to,
        selection.accounts as Option<&[String]>,
        selection.model
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let attributes = AccountAttributes {
                created_at_ms: r.created_at.map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
                org: r.org,
                country: r.country,
                payment_fingerprint: r.payment_fingerprint,
                email_domain_fingerprint: r.email_domain_fingerprint,
                account_id: r.account_id.clone(),
            };
            (r.account_id, attributes)
        })
        .collect())
}
