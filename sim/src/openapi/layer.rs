//! The middleware in front of the Hetzner API that hands every response to the [`Checker`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::Checker;

/// Largest body the checker buffers (the sim's biggest lists are far smaller).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Buffers the response, checks it and passes it on unchanged.
pub async fn check_responses(
    State(checker): State<Arc<Checker>>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path();
    // Nested under `/v1`: axum hands the inner router the path without the prefix.
    let path = path.strip_prefix("/v1").unwrap_or(path).to_string();
    let response = next.run(req).await;
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!("{method} {path}: cannot buffer the response to check it: {e}");
            return Response::from_parts(parts, Body::empty());
        }
    };
    let checker = checker.clone();
    let status = parts.status.as_u16();
    let checked = bytes.clone();
    // Validation is CPU work: off the async workers.
    let _ =
        tokio::task::spawn_blocking(move || checker.check(&method, &path, status, &checked)).await;
    Response::from_parts(parts, Body::from(bytes))
}
