//! The object a non-apply PATCH produces, by its content type: JSON merge patch (RFC 7386),
//! strategic merge patch ([`super::smp`], built-in kinds only: custom resources answer 415 as
//! the API server does), JSON patch ([`super::jsonpatch`]). Server-side apply is in
//! [`super::apply`].

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::jsonpatch::{self, JsonPatchError};
use super::smp::{self, SmpError};
use super::store::merge_patch;
use super::{ok_json, status};

/// `existing` (of `group_version`) patched by `body`, or the API server's error reply.
// The error is the finished HTTP reply.
#[allow(clippy::result_large_err)]
pub fn patched(
    group_version: &str,
    resource: &str,
    existing: &Value,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Response> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    // Objects the sim's controllers stored may lack `kind`; the resource names it then.
    let kind = existing["kind"]
        .as_str()
        .or_else(|| super::objects::known_kind(group_version, resource))
        .unwrap_or_default();
    let schema = smp::schema_for(group_version, kind);
    let parse = || {
        serde_json::from_slice::<Value>(body).map_err(|e| {
            status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("error decoding patch: {e}"),
            )
        })
    };
    match media {
        "application/merge-patch+json" | "application/json" | "" => {
            let mut obj = existing.clone();
            merge_patch(&mut obj, &parse()?);
            Ok(obj)
        }
        "application/strategic-merge-patch+json" if schema.is_some() => {
            smp::apply(existing, &parse()?, schema).map_err(|e| smp_error(&e))
        }
        "application/json-patch+json" => jsonpatch::apply(existing, body).map_err(|e| match e {
            JsonPatchError::Decode(m) => status(StatusCode::BAD_REQUEST, "BadRequest", &m),
            JsonPatchError::Apply(m) => unprocessable(&m),
        }),
        _ => {
            let mut accepted = vec![
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ];
            if schema.is_some() {
                accepted.insert(2, "application/strategic-merge-patch+json");
            }
            Err(status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                &format!(
                    "the body of the request was in an unknown format - accepted media types include: {}",
                    accepted.join(", ")
                ),
            ))
        }
    }
}

/// The API server's answer to a JSON patch that does not apply:
/// `NewGenericServerResponse(422, …, isUnexpectedResponse=false)`, whose generic message drops
/// the library's words (so does a real server; the sim logs them).
fn unprocessable(cause: &str) -> Response {
    tracing::debug!(cause, "JSON patch does not apply");
    ok_json(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "the server rejected our request due to an error in our request",
            "reason": "Invalid", "details": {}, "code": 422}),
    )
}

/// `interpretStrategicMergePatchError`: malformed directives are 400, a list element without
/// its merge key is an internal error (500), as in the API server.
fn smp_error(e: &SmpError) -> Response {
    match e {
        SmpError::BadFormat(_) => status(StatusCode::BAD_REQUEST, "BadRequest", &e.to_string()),
        SmpError::UnknownPatchType(_) | SmpError::NoMergeKey { .. } => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &e.to_string(),
        ),
    }
}
