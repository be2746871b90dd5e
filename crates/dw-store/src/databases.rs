//! Throwaway databases on the same server, for evaluations that must start
//! from an empty schema without touching the service's own data.

use sqlx::PgConnection;

use crate::StoreError;

fn check_name(name: &str) -> Result<(), StoreError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if valid { Ok(()) } else { Err(StoreError::Corrupt(format!("not a usable database name: {name:?}"))) }
}

/// Creates an empty database.
pub async fn create(conn: &mut PgConnection, name: &str) -> Result<(), StoreError> {
    check_name(name)?;
    // Identifiers cannot be bound as parameters; the name was checked to be a
    // plain lower-case identifier above.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut *conn).await?;
    Ok(())
}

/// Drops a database, closing any connections still open to it.
pub async fn drop(conn: &mut PgConnection, name: &str) -> Result<(), StoreError> {
    check_name(name)?;
    // As in `create`: a checked identifier, not a bindable value.
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
