//! Rules shared by the query parameters of list routes.

use serde_json::json;

use super::error::{ApiError, ApiResult};

/// Page size when a list route is called without `limit`.
pub const DEFAULT_LIMIT: i64 = 50;

/// The `limit` query parameter of every list route, with [`DEFAULT_LIMIT`] when absent.
/// See [`limit_or`].
pub fn limit(value: Option<i64>) -> ApiResult<Option<i64>> {
    limit_or(value, Some(DEFAULT_LIMIT))
}

/// The `limit` query parameter with the route's own default (`None`: every row). The one rule
/// for every list route: a negative value is a 422, as a `ge=0` constraint gives (the
/// reference documents no bound, and a negative `LIMIT` fails on Postgres while SQLite reads it
/// as "no limit"); `0` means no limit, as the original's `if limit:` gives on most routes.
/// Returns the limit to apply, `None` meaning every row.
pub fn limit_or(value: Option<i64>, default: Option<i64>) -> ApiResult<Option<i64>> {
    match value {
        None => Ok(default),
        Some(0) => Ok(None),
        Some(limit) if limit > 0 => Ok(Some(limit)),
        Some(limit) => {
            let mut item = ApiError::validation_item(
                "greater_than_equal",
                vec![json!("query"), json!("limit")],
                "Input should be greater than or equal to 0",
                json!(limit.to_string()),
            );
            item["ctx"] = json!({ "ge": 0 });
            Err(ApiError::validation(vec![item]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_every_list() {
        assert_eq!(limit(None).ok(), Some(Some(DEFAULT_LIMIT)));
        assert_eq!(limit(Some(0)).ok(), Some(None));
        assert_eq!(limit(Some(7)).ok(), Some(Some(7)));
        assert_eq!(limit_or(None, None).ok(), Some(None));
        assert_eq!(limit_or(None, Some(10)).ok(), Some(Some(10)));
        let err = limit(Some(-1)).err().map(|e| (e.status.as_u16(), e.detail));
        let (status, detail) = err.unwrap_or_default();
        assert_eq!(status, 422);
        assert_eq!(detail[0]["loc"], json!(["query", "limit"]));
    }
}
