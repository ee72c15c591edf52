//! Rules shared by the query parameters of list routes.

use serde_json::json;

use super::error::{ApiError, ApiResult};

/// Page size when a list route is called without `limit`.
pub const DEFAULT_LIMIT: i64 = 50;

/// The `limit` query parameter: [`DEFAULT_LIMIT`] when absent; a negative value is a 422,
/// as a `ge=0` constraint gives.
pub fn limit(value: Option<i64>) -> ApiResult<i64> {
    let limit = value.unwrap_or(DEFAULT_LIMIT);
    if limit < 0 {
        let mut item = ApiError::validation_item(
            "greater_than_equal",
            vec![json!("query"), json!("limit")],
            "Input should be greater than or equal to 0",
            json!(limit.to_string()),
        );
        item["ctx"] = json!({ "ge": 0 });
        return Err(ApiError::validation(vec![item]));
    }
    Ok(limit)
}
