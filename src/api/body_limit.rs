//! Over-limit request bodies (`DefaultBodyLimit`, `--max-body-bytes`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// A 413 is answered before the request body has been read to its end, so the rest of that
/// body still sits on the connection and it cannot carry another request; hyper drops it after
/// the response. Saying so with `Connection: close` makes hyper close it cleanly after writing,
/// and tells a keep-alive client to send its next request on a new connection instead of
/// failing it with "Server disconnected".
pub async fn close_after_413(mut response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
