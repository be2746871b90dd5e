//! Query and body parameters every resource reads the same way: page sizes,
//! RFC 3339 instants and the cursors of keyset pages, each refused with a
//! 400 that names the field.

use std::str::FromStr;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ApiError;

/// Items per page unless `limit` says otherwise, and at most.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

/// The page size `limit` asks for.
pub(crate) fn page_size(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::BadRequest(format!("limit: {n} is not between 1 and {MAX_PAGE}"))),
    }
}

/// A risk level given as `level`, when given.
pub(crate) fn level(value: Option<&str>) -> Result<Option<dw_domain::RiskLevel>, ApiError> {
    value
        .map(|level| {
            level.parse().map_err(|_| {
                ApiError::BadRequest(format!("level: {level:?} is not one of none, low, medium, high, critical"))
            })
        })
        .transpose()
}

/// An RFC 3339 instant given as `field`.
pub(crate) fn instant(field: &str, value: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(value, &Rfc3339).map_err(|e| {
        ApiError::BadRequest(format!("{field}: expected an RFC 3339 timestamp such as 2026-11-02T00:00:00Z: {e}"))
    })
}

/// [`instant`] of an optional field.
pub(crate) fn optional_instant(field: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    value.map(|v| instant(field, v)).transpose()
}

/// An instant as the API writes it.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The refusal of a cursor the API did not give.
pub(crate) fn bad_cursor(cursor: &str) -> ApiError {
    ApiError::BadRequest(format!("cursor: {cursor:?} is not a cursor this API gave (use a page's next)"))
}

/// A `value:id` cursor (the sort value of the page's last item, then its
/// id); a float value must be finite, and the id not empty.
pub(crate) fn cursor<V: FromStr + CursorValue, I: FromStr>(cursor: &str) -> Result<(V, I), ApiError> {
    let (value, id) = cursor.split_once(':').ok_or_else(|| bad_cursor(cursor))?;
    let value: V = value.parse().map_err(|_| bad_cursor(cursor))?;
    if !value.usable() || id.is_empty() {
        return Err(bad_cursor(cursor));
    }
    Ok((value, id.parse().map_err(|_| bad_cursor(cursor))?))
}

/// A cursor's sort value.
pub(crate) trait CursorValue {
    /// Whether it can order a page (a float must be finite).
    fn usable(&self) -> bool;
}

impl CursorValue for f64 {
    fn usable(&self) -> bool {
        self.is_finite()
    }
}

impl CursorValue for i64 {
    fn usable(&self) -> bool {
        true
    }
}
