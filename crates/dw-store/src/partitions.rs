//! Monthly partitions of `events`: created on demand for any month an event
//! falls in (months-old backfills included), dropped by retention.
//!
//! Partition DDL names tables after their month, so it is built at run time
//! (identifiers cannot be bound as parameters); the names come from dates we
//! format ourselves, never from input.

use std::collections::BTreeSet;
use std::sync::Mutex;

use sqlx::PgPool;
use time::{Date, Month};

use crate::StoreError;

/// The partitions known to exist, so that ingest asks the database only about
/// months it has not seen yet.
#[derive(Debug, Default)]
pub struct PartitionCache {
    known: Mutex<BTreeSet<Date>>,
}

/// Lock key that serializes partition DDL across processes.
const PARTITION_LOCK: i64 = 0x6477_5f70_6172_7473; // "dw_parts"

/// The name of the partition that holds `month`.
pub fn partition_name(month: Date) -> String {
    format!("events_p{:04}_{:02}", month.year(), u8::from(month.month()))
}

fn next_month(month: Date) -> Date {
    let (year, m) = match month.month() {
        Month::December => (month.year() + 1, Month::January),
        m => (month.year(), m.next()),
    };
    Date::from_calendar_date(year, m, 1).unwrap_or(month)
}

fn month_from_name(name: &str) -> Option<Date> {
    let rest = name.strip_prefix("events_p")?;
    let (year, month) = rest.split_once('_')?;
    let month = Month::try_from(month.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(year.parse().ok()?, month, 1).ok()
}

impl PartitionCache {
    /// Makes sure a partition exists for each month (first days of months).
    pub async fn ensure(&self, pool: &PgPool, months: &BTreeSet<Date>) -> Result<(), StoreError> {
        let missing: Vec<Date> = {
            let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            months.iter().filter(|m| !known.contains(m)).copied().collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let mut tx = pool.begin().await?;
        sqlx::query!("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK).execute(&mut *tx).await?;
        for month in &missing {
            let ddl = format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF events FOR VALUES FROM ('{}') TO ('{}')",
                partition_name(*month),
                month,
                next_month(*month)
            );
            sqlx::query(sqlx::AssertSqlSafe(ddl)).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.extend(missing);
        Ok(())
    }

    /// Forgets what it knew (after partitions were dropped).
    pub fn clear(&self) {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The months that have a partition, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Date>, StoreError> {
    let names = sqlx::query_scalar!(
        r#"SELECT c.relname::text AS "name!"
           FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid
           JOIN pg_class p ON p.oid = i.inhparent
           WHERE p.relname = 'events'"#
    )
    .fetch_all(pool)
    .await?;
    let mut months: Vec<Date> = names.iter().filter_map(|n| month_from_name(n)).collect();
    months.sort();
    Ok(months)
}

/// Drops every partition whose whole month lies before `cutoff`, with the
/// idempotency keys of its events. Returns the months dropped.
pub async fn drop_before(pool: &PgPool, cache: &PartitionCache, cutoff: Date) -> Result<Vec<Date>, StoreError> {
    let mut dropped = Vec::new();
    for month in list(pool).await? {
        let end = next_month(month);
        if end > cutoff {
            continue;
        }
        let mut tx = pool.begin().await?;
        sqlx::query!("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK).execute(&mut *tx).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {}", partition_name(month))))
            .execute(&mut *tx)
            .await?;
        let end_ts = end.midnight().assume_utc();
        sqlx::query!("DELETE FROM event_keys WHERE ts < $1", end_ts).execute(&mut *tx).await?;
        sqlx::query!("DELETE FROM embeddings WHERE ts < $1", end_ts).execute(&mut *tx).await?;
        tx.commit().await?;
        dropped.push(month);
    }
    if !dropped.is_empty() {
        cache.clear();
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn names_round_trip_and_months_roll_over() {
        assert_eq!(partition_name(date!(2026 - 11 - 01)), "events_p2026_11");
        assert_eq!(month_from_name("events_p2026_11"), Some(date!(2026 - 11 - 01)));
        assert_eq!(month_from_name("events_x"), None);
        assert_eq!(next_month(date!(2026 - 12 - 01)), date!(2027 - 01 - 01));
        assert_eq!(next_month(date!(2026 - 01 - 01)), date!(2026 - 02 - 01));
    }
}
