//! Our own extractors: bad input always becomes a FastAPI-shaped 422 (never axum's plain
//! text), and the actor comes from the `user_id` header.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::compose;
use super::error::ApiError;
use crate::schemas::org::Actor;
use crate::state::AppState;

/// A JSON body. Malformed JSON, missing fields and wrong types give a 422 whose `loc`
/// points at the offending field.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_json_content_type(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "Request body too large")
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text())
            }
        })?;
        parse_json_body(&bytes).map(Json)
    }
}

/// A body is read as JSON only when it says it is JSON. A browser sends `text/plain`,
/// form-encoded or typeless bodies cross-site without a preflight; parsing those would let
/// any web page write through a local server.
pub fn require_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let essence = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        Some(t) if t.starts_with("application/") && t.ends_with("+json") => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        )),
    }
}

/// Parses a JSON request body into `T`, with FastAPI's error shapes.
pub fn parse_json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::validation(vec![ApiError::validation_item(
            "missing",
            vec![json!("body")],
            "Field required",
            Value::Null,
        )]));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|err| {
        let mut item = ApiError::validation_item(
            "json_invalid",
            vec![json!("body"), json!(err.column().saturating_sub(1))],
            "JSON decode error",
            json!({}),
        );
        item["ctx"] = json!({ "error": err.to_string() });
        ApiError::validation(vec![item])
    })?;
    from_value_at(value, "body")
}

/// Deserializes `value` into `T`; an error becomes a 422 item located under `root`.
pub fn from_value_at<T: DeserializeOwned>(value: Value, root: &str) -> Result<T, ApiError> {
    reject_nul_in_json(&value, &mut vec![json!(root)])?;
    match serde_path_to_error::deserialize::<_, T>(super::strict_json::Strict(&value)) {
        Ok(v) => Ok(v),
        Err(err) => {
            let mut loc = vec![json!(root)];
            for seg in err.path().iter() {
                match seg {
                    serde_path_to_error::Segment::Seq { index } => loc.push(json!(index)),
                    serde_path_to_error::Segment::Map { key } => loc.push(json!(key)),
                    serde_path_to_error::Segment::Enum { variant } => loc.push(json!(variant)),
                    serde_path_to_error::Segment::Unknown => {}
                }
            }
            let input = value_at(&value, &loc[1..]).cloned().unwrap_or(Value::Null);
            Err(ApiError::validation(vec![serde_error_item(
                &err.inner().to_string(),
                loc,
                input,
            )]))
        }
    }
}

/// Postgres cannot store U+0000 in `text` or `jsonb` while SQLite can, so input carrying one is
/// refused at the edge, before anything is written, the same way on both backends: a 422 whose
/// `loc` names the string (or object key) holding it.
fn nul_error(loc: Vec<Value>, input: Value) -> ApiError {
    ApiError::validation(vec![ApiError::validation_item(
        "value_error",
        loc,
        "Value error, NUL characters (\\u0000) are not allowed",
        input,
    )])
}

/// Walks a JSON body for strings and keys containing NUL; `loc` is the path so far.
fn reject_nul_in_json(value: &Value, loc: &mut Vec<Value>) -> Result<(), ApiError> {
    match value {
        Value::String(s) if s.contains('\0') => Err(nul_error(loc.clone(), value.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                loc.push(json!(i));
                reject_nul_in_json(item, loc)?;
                loc.pop();
            }
            Ok(())
        }
        Value::Object(map) => {
            for (key, item) in map {
                loc.push(json!(key));
                if key.contains('\0') {
                    return Err(nul_error(loc.clone(), json!(key)));
                }
                reject_nul_in_json(item, loc)?;
                loc.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn value_at<'a>(value: &'a Value, path: &[Value]) -> Option<&'a Value> {
    let mut cur = value;
    for seg in path {
        cur = match seg {
            Value::Number(n) => cur.get(n.as_u64()? as usize)?,
            Value::String(s) => cur.get(s.as_str())?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Translates a serde error message into pydantic's error vocabulary.
fn serde_error_item(message: &str, mut loc: Vec<Value>, input: Value) -> Value {
    let backticked = |m: &str| m.split('`').nth(1).map(str::to_owned);
    if let Some(rest) = message.strip_prefix("missing field ") {
        if let Some(field) = backticked(rest) {
            loc.push(json!(field));
        }
        return ApiError::validation_item("missing", loc, "Field required", input);
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        // serde_path_to_error already ends the path at the unknown field.
        let field = backticked(rest);
        let at_field = field
            .as_ref()
            .is_some_and(|f| loc.last() == Some(&json!(f)));
        let extra_input = if at_field {
            input
        } else {
            field
                .as_ref()
                .and_then(|f| input.get(f.as_str()).cloned())
                .unwrap_or(Value::Null)
        };
        if let Some(field) = field.filter(|_| !at_field) {
            loc.push(json!(field));
        }
        return ApiError::validation_item(
            "extra_forbidden",
            loc,
            "Extra inputs are not permitted",
            extra_input,
        );
    }
    if message.starts_with("unknown variant") {
        let expected: Vec<String> = message
            .split("expected ")
            .nth(1)
            .unwrap_or_default()
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, s)| format!("'{s}'"))
            .collect();
        let msg = match expected.len() {
            0 => "Input should be a valid value".to_owned(),
            1 => format!("Input should be {}", expected[0]),
            n => format!(
                "Input should be {} or {}",
                expected[..n - 1].join(", "),
                expected[n - 1]
            ),
        };
        return ApiError::validation_item("enum", loc, msg, input);
    }
    let expected = message.split("expected ").nth(1).unwrap_or_default();
    let (kind, msg) = if message.starts_with("invalid type") || message.starts_with("invalid value")
    {
        if expected.contains("string") || expected.contains("char") {
            ("string_type", "Input should be a valid string")
        } else if expected.contains("bool") {
            ("bool_type", "Input should be a valid boolean")
        } else if expected.contains("i64")
            || expected.contains("u64")
            || expected.contains("i32")
            || expected.contains("integer")
        {
            ("int_type", "Input should be a valid integer")
        } else if expected.contains("f64") || expected.contains("f32") || expected.contains("float")
        {
            ("float_type", "Input should be a valid number")
        } else if expected.contains("sequence") {
            ("list_type", "Input should be a valid list")
        } else if expected.contains("map") || expected.contains("struct") {
            ("dict_type", "Input should be a valid dictionary")
        } else {
            ("value_error", message)
        }
    } else {
        ("value_error", message)
    };
    ApiError::validation_item(kind, loc, msg, input)
}

/// Query parameters. Repeated keys fill lists (`?tags=a&tags=b`).
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Parses a query string into `T`, with FastAPI's error shapes.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if let Some((key, value)) =
        form_urlencoded::parse(query.as_bytes()).find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(nul_error(
            vec![json!("query"), json!(key)],
            Value::String(value.into_owned()),
        ));
    }
    let de = serde_html_form::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize::<_, T>(de).map_err(|err| {
        let mut loc = vec![json!("query")];
        let field = err.path().iter().find_map(|seg| match seg {
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            _ => None,
        });
        let input = field
            .as_ref()
            .and_then(|f| {
                form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == f)
                    .map(|(_, v)| Value::String(v.into_owned()))
            })
            .unwrap_or(Value::Null);
        if let Some(field) = field {
            loc.push(json!(field));
        }
        let message = err.inner().to_string();
        let item = if message.starts_with("missing field") || message.starts_with("unknown variant")
        {
            serde_error_item(&message, loc, input)
        } else if message.contains("digit")
            || message.contains("integer")
            || message.contains("number")
        {
            ApiError::validation_item(
                "int_parsing",
                loc,
                "Input should be a valid integer, unable to parse string as an integer",
                input,
            )
        } else if message.contains("bool") {
            ApiError::validation_item(
                "bool_parsing",
                loc,
                "Input should be a valid boolean, unable to interpret input",
                input,
            )
        } else {
            serde_error_item(&message, loc, input)
        };
        ApiError::validation(vec![item])
    })
}

/// Path parameters; a failure is a 422 located under `path`.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Segments arrive percent-decoded, so `%00` is a NUL here (see `nul_error`).
        if let Ok(raw) = axum::extract::RawPathParams::from_request_parts(parts, state).await
            && let Some((name, value)) = raw.iter().find(|(_, v)| v.contains('\0'))
        {
            return Err(nul_error(
                vec![json!("path"), json!(name)],
                Value::String(value.to_owned()),
            ));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|rejection| {
                ApiError::validation(vec![ApiError::validation_item(
                    "value_error",
                    vec![json!("path")],
                    rejection.body_text(),
                    Value::Null,
                )])
            })
    }
}

/// The acting user: the one the `user_id` header names, the default user without one.
impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get("user_id").and_then(|v| v.to_str().ok());
        Ok(compose::orgs(state).resolve_actor(header).await?)
    }
}
