//! The Hetzner error envelope `{"error":{"code","message","details"}}` and its HTTP statuses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error reply of the Hetzner Cloud API; every handler returns these, and one `IntoResponse`
/// impl turns them into the envelope with the status Hetzner uses for the code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 400 `invalid_input`, with one entry per offending field in `details.fields`; the message
    /// names them (`invalid input in field 'name'`).
    #[error("{}", invalid_input_message(fields))]
    InvalidInput {
        /// `(field name, messages)` pairs.
        fields: Vec<(String, Vec<String>)>,
    },
    /// 400 `invalid_input` whose message says what is wrong rather than where, e.g. "image has
    /// incompatible architecture"; `details.fields` names the field with the same message.
    #[error("{message}")]
    InvalidInputMessage {
        /// The message.
        message: String,
        /// The field it is about.
        field: String,
    },
    /// 400 `json_error`: the body was not the JSON object the endpoint takes.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// 401 `unauthorized`: missing or wrong bearer token.
    #[error("unable to authenticate")]
    Unauthorized,
    /// 404 `not_found`.
    #[error("{0}")]
    NotFound(String),
    /// 409 `uniqueness_error`, naming the field that must be unique.
    #[error("{field} is already used")]
    Uniqueness {
        /// The field whose value collides, e.g. `name`.
        field: String,
    },
    /// 409 `conflict`: the resource changed or is in a state that forbids the request.
    #[error("{0}")]
    Conflict(String),
    /// 423 `locked`: the resource has a running action.
    #[error("{0}")]
    Locked(String),
    /// 403 `protected`: delete (or rebuild) protection is enabled.
    #[error("{0}")]
    Protected(String),
    /// 403 `resource_limit_exceeded`.
    #[error("{0}")]
    ResourceLimit(String),
    /// 412 `placement_error`.
    #[error("{0}")]
    Placement(String),
    /// 412 `resource_unavailable`: Hetzner cannot provide the resource right now, e.g. "server
    /// location disabled" while a location has no capacity.
    #[error("{0}")]
    ResourceUnavailable(String),
    /// 422 `service_error`-like semantic refusals Hetzner reports with their own codes
    /// (`server_not_stopped`, `networks_overlap`, `ip_not_available`, `server_already_attached`…).
    #[error("{message}")]
    Coded {
        /// The Hetzner error code.
        code: &'static str,
        /// Human message.
        message: String,
    },
    /// 429 `rate_limit_exceeded`.
    #[error("limit of requests per hour reached")]
    RateLimited,
    /// 410 `deprecated_api_endpoint`: functionality Hetzner removed from the API; the details
    /// link the changelog announcement (hcloud-go decodes `details.announcement`).
    #[error("{message}")]
    Removed {
        /// Human message.
        message: String,
        /// URL of the changelog entry announcing the removal.
        announcement: &'static str,
    },
    /// 5xx injected by the fault model (`unavailable` 503 or `service_error` 500).
    #[error("{message}")]
    Injected5xx {
        /// 500 or 503.
        status: u16,
        /// Hetzner code matching the status.
        code: &'static str,
        /// Human message.
        message: String,
    },
}

impl ApiError {
    /// `invalid_input` for a single field.
    pub fn field(name: &str, message: impl Into<String>) -> Self {
        ApiError::InvalidInput {
            fields: vec![(name.to_string(), vec![message.into()])],
        }
    }

    /// `not_found` for something hk8s-sim does not model: says so, so a user's CI failing on it
    /// knows the real API may well serve it.
    pub fn unmodelled(what: impl std::fmt::Display) -> Self {
        ApiError::NotFound(format!("{what} is not modelled by hk8s-sim"))
    }

    /// `not_found` for a resource kind and id.
    pub fn not_found(kind: &str, id: impl std::fmt::Display) -> Self {
        ApiError::NotFound(format!("{kind} with ID '{id}' not found"))
    }

    /// The Hetzner error code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidInput { .. } | ApiError::InvalidInputMessage { .. } => "invalid_input",
            ApiError::Json(_) => "json_error",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::Uniqueness { .. } => "uniqueness_error",
            ApiError::Conflict(_) => "conflict",
            ApiError::Locked(_) => "locked",
            ApiError::Protected(_) => "protected",
            ApiError::ResourceLimit(_) => "resource_limit_exceeded",
            ApiError::Placement(_) => "placement_error",
            ApiError::ResourceUnavailable(_) => "resource_unavailable",
            ApiError::Coded { code, .. } => code,
            ApiError::RateLimited => "rate_limit_exceeded",
            ApiError::Removed { .. } => "deprecated_api_endpoint",
            ApiError::Injected5xx { code, .. } => code,
        }
    }

    /// The HTTP status Hetzner answers with for this code.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidInput { .. }
            | ApiError::InvalidInputMessage { .. }
            | ApiError::Json(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Uniqueness { .. } | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Locked(_) => StatusCode::LOCKED,
            ApiError::Protected(_) | ApiError::ResourceLimit(_) => StatusCode::FORBIDDEN,
            ApiError::Placement(_) | ApiError::ResourceUnavailable(_) => {
                StatusCode::PRECONDITION_FAILED
            }
            ApiError::Coded { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Removed { .. } => StatusCode::GONE,
            ApiError::Injected5xx { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    }

    fn details(&self) -> Value {
        match self {
            ApiError::InvalidInput { fields } => json!({
                "fields": fields.iter().map(|(name, messages)| json!({"name": name, "messages": messages})).collect::<Vec<_>>()
            }),
            ApiError::InvalidInputMessage { message, field } => {
                json!({"fields": [{"name": field, "messages": [message]}]})
            }
            ApiError::Uniqueness { field } => json!({"fields": [{"name": field}]}),
            ApiError::Removed { announcement, .. } => json!({"announcement": announcement}),
            _ => json!({}),
        }
    }

    /// The JSON envelope.
    pub fn body(&self) -> Value {
        json!({"error": {"code": self.code(), "message": self.to_string(), "details": self.details()}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

/// Hetzner's `invalid_input` message: `invalid input in field 'name'`, or for several fields
/// `invalid input in fields 'name', 'labels'`.
fn invalid_input_message(fields: &[(String, Vec<String>)]) -> String {
    let names: Vec<String> = fields.iter().map(|(name, _)| format!("'{name}'")).collect();
    match names.as_slice() {
        [one] => format!("invalid input in field {one}"),
        _ => format!("invalid input in fields {}", names.join(", ")),
    }
}

/// Collects per-field validation messages so a request reports every bad field at once, as the
/// real API does.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(String, Vec<String>)>);

impl FieldErrors {
    /// Records a message for `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        match self.0.iter_mut().find(|(name, _)| name == field) {
            Some((_, messages)) => messages.push(message.into()),
            None => self.0.push((field.to_string(), vec![message.into()])),
        }
    }

    /// Records `Missing data for required field.` when `value` is `None`.
    pub fn require<T>(&mut self, field: &str, value: &Option<T>) {
        if value.is_none() {
            self.add(field, "Missing data for required field.");
        }
    }

    /// `Ok` when nothing was recorded, otherwise `invalid_input` listing the fields.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::InvalidInput { fields: self.0 })
        }
    }
}
