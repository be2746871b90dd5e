//! Accounts: created by the first event that names them.

use std::collections::BTreeMap;

use dw_domain::Event;
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;

/// Records that `events` were seen: creates their accounts and widens each
/// account's first/last-seen window.
pub async fn record_activity(conn: &mut PgConnection, events: &[&Event]) -> Result<(), StoreError> {
    // account → (org, first, last); a BTreeMap keeps lock order stable across
    // concurrent batches.
    let mut seen: BTreeMap<&str, (Option<&str>, OffsetDateTime, OffsetDateTime)> = BTreeMap::new();
    for e in events {
        let entry = seen.entry(&e.account_id).or_insert((e.org_id.as_deref(), e.timestamp, e.timestamp));
        entry.0 = entry.0.or(e.org_id.as_deref());
        entry.1 = entry.1.min(e.timestamp);
        entry.2 = entry.2.max(e.timestamp);
    }
    if seen.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = seen.keys().map(|k| (*k).to_owned()).collect();
    let orgs: Vec<Option<String>> = seen.values().map(|v| v.0.map(str::to_owned)).collect();
    let firsts: Vec<OffsetDateTime> = seen.values().map(|v| v.1).collect();
    let lasts: Vec<OffsetDateTime> = seen.values().map(|v| v.2).collect();
    sqlx::query!(
        r#"INSERT INTO accounts (account_id, org_id, first_seen, last_seen)
           SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
           ON CONFLICT (account_id) DO UPDATE SET
               org_id = COALESCE(EXCLUDED.org_id, accounts.org_id),
               first_seen = LEAST(accounts.first_seen, EXCLUDED.first_seen),
               last_seen = GREATEST(accounts.last_seen, EXCLUDED.last_seen)"#,
        &ids,
        &orgs as &[Option<String>],
        &firsts,
        &lasts
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// The account's id.
    pub account_id: String,
    /// Its organization, when an event named one.
    pub org_id: Option<String>,
    /// Its earliest event.
    pub first_seen: OffsetDateTime,
    /// Its latest event.
    pub last_seen: OffsetDateTime,
}

/// One account, if it exists.
pub async fn get(conn: &mut PgConnection, account_id: &str) -> Result<Option<AccountRow>, StoreError> {
    Ok(sqlx::query_as!(
        AccountRow,
        "SELECT account_id, org_id, first_seen, last_seen FROM accounts WHERE account_id = $1",
        account_id
    )
    .fetch_optional(&mut *conn)
    .await?)
}
