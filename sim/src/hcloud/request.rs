//! Request plumbing shared by every API family: the JSON body extractor (with Hetzner's
//! `json_error`/`invalid_input` answers), id parsing, reply helpers and world locking.

use std::sync::{PoisonError, RwLockReadGuard, RwLockWriteGuard};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use crate::world::World;

/// The result of every handler.
pub type Reply = Result<Response, ApiError>;

/// 200 with a JSON body.
pub fn ok(body: Value) -> Reply {
    Ok(Json(body).into_response())
}

/// 201 with a JSON body (creates).
pub fn created(body: Value) -> Reply {
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// 204 without a body (synchronous deletes).
pub fn no_content() -> Reply {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Parses an id path segment; anything but an integer is `not_found` like the real API.
pub fn parse_id(kind: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(kind, raw))
}

impl AppState {
    /// Shared access to the world.
    pub fn read(&self) -> RwLockReadGuard<'_, World> {
        self.world.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Exclusive access to the world.
    pub fn write(&self) -> RwLockWriteGuard<'_, World> {
        self.world.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The body of every `change_protection` action that only knows `delete`.
#[derive(Debug, serde::Deserialize)]
pub struct DeleteProtection {
    /// Whether the object is protected from deletion; absent leaves it as it is.
    pub delete: Option<bool>,
}

impl DeleteProtection {
    /// `delete`, for the resources whose action requires it.
    ///
    /// # Errors
    /// Hetzner's `invalid_input` on `delete` when it is missing.
    pub fn required(&self) -> Result<bool, ApiError> {
        self.delete
            .ok_or_else(|| ApiError::field("delete", "Missing data for required field."))
    }
}

/// A JSON request body deserialized into `T`. A body that is not a JSON object is answered with
/// `json_error`; one that does not fit `T` with `invalid_input` naming the field when serde says which.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::Json(e.to_string()))?;
        let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&bytes).map_err(|e| ApiError::Json(e.to_string()))?
        };
        if !value.is_object() {
            return Err(ApiError::Json("request body must be a JSON object".into()));
        }
        serde_path_to_error::deserialize(value)
            .map(Body)
            .map_err(|e| invalid_field(&e))
    }
}

/// Hetzner's `invalid_input` for a body that does not fit: `details.fields` names the field by its
/// dotted path (`health_check.port`) with a message in Hetzner's words.
fn invalid_field(error: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let message = error.inner().to_string();
    let mut path = error.path().to_string();
    // serde reports a missing field at its parent; Hetzner names the field itself.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    if let Some(field) = missing {
        path = if path == "." {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
    }
    let text = if missing.is_some() {
        "Missing data for required field.".to_string()
    } else if message.starts_with("unknown field") {
        "Unknown field.".to_string()
    } else if message.contains("expected i64") || message.contains("expected i32") {
        "Not a valid integer.".to_string()
    } else if message.contains("expected a boolean") {
        "Not a valid boolean.".to_string()
    } else if message.contains("expected a string") {
        "Not a valid string.".to_string()
    } else if message.contains("expected a sequence") {
        "Not a valid list.".to_string()
    } else {
        // Strip serde's " at line 1 column 7" position, which means nothing to an API user.
        message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string()
    };
    let field = if path == "." { "body".into() } else { path };
    ApiError::field(&field, text)
}

impl World {
    /// Refuses to change a resource with a running action (`locked`), or when the fault model
    /// injects a lock.
    pub fn ensure_unlocked(&mut self, kind: &str, id: i64) -> Result<(), ApiError> {
        if self.has_running_action(kind, id) || self.faults.lock_resource() {
            return Err(ApiError::Locked(format!(
                "{kind} {id} is locked because of a running action"
            )));
        }
        Ok(())
    }
}
