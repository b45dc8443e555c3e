//! The response checker (`--check-openapi`, `HK8S_SIM_CHECK_OPENAPI=1`): every answer of the
//! sim's Hetzner API is validated against the response schema Hetzner's published OpenAPI
//! description (vendored under `sim/openapi/hcloud/`) gives its operation and status. A body that does
//! not match is a fidelity bug of the sim: real clients (hcloud-go, the `hcloud` crate, the
//! Python client) decode what the description says. Violations are logged at WARN, kept in
//! memory and served at `GET /_sim/openapi`; the test builder fails a test that saw any.
//!
//! Off by default: it buffers every response body. The description is decompressed and parsed
//! once per process, each response schema compiled the first time it is needed.

mod allow;
mod convert;
mod layer;
mod spec;

use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use serde_json::Value;

pub use allow::{ALLOWED, Allowed};
pub use layer::check_responses;
pub use spec::{Spec, SpecError};

use spec::Described;

/// The environment variable that turns the checker on (`1`, `true`, `yes`, `on`).
pub const ENV: &str = "HK8S_SIM_CHECK_OPENAPI";

/// At most this many violations are kept (the count goes on).
const KEPT: usize = 1000;

/// Whether [`ENV`] asks for the checker.
pub fn enabled_by_env() -> bool {
    std::env::var(ENV).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// One response that does not match the description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Request method.
    pub method: String,
    /// Request path as sent (under `/v1`, without the query).
    pub path: String,
    /// The operation's path template, when the description has the path.
    pub operation: Option<String>,
    /// Response status.
    pub status: u16,
    /// Where in the body (JSON pointer; empty for the whole body).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} → {} at {:?}: {}",
            self.method, self.path, self.status, self.pointer, self.message
        )
    }
}

/// Checks responses and keeps what it found.
#[derive(Debug, Default)]
pub struct Checker {
    found: Mutex<Found>,
}

#[derive(Debug, Default)]
struct Found {
    kept: Vec<Violation>,
    total: usize,
}

impl Checker {
    /// A checker with nothing found yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks one response (`path` under `/v1`, `body` as sent) and records what is wrong.
    pub fn check(&self, method: &str, path: &str, status: u16, body: &[u8]) -> Vec<Violation> {
        let violations = examine(method, path, status, body);
        if !violations.is_empty() {
            let mut found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
            for v in &violations {
                tracing::warn!("response does not match the Hetzner OpenAPI description: {v}");
                found.total += 1;
                if found.kept.len() < KEPT {
                    found.kept.push(v.clone());
                }
            }
        }
        violations
    }

    /// The violations kept so far (the first [`KEPT`]).
    pub fn violations(&self) -> Vec<Violation> {
        self.found
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .kept
            .clone()
    }

    /// How many violations were found in all.
    pub fn total(&self) -> usize {
        self.found
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

/// The violations of one response, minus the allowed ones.
fn examine(method: &str, path: &str, status: u16, body: &[u8]) -> Vec<Violation> {
    let violation = |operation: Option<&str>, pointer: String, message: String| Violation {
        method: method.to_string(),
        path: path.to_string(),
        operation: operation.map(str::to_string),
        status,
        pointer,
        message,
    };
    let spec = match Spec::get() {
        Ok(spec) => spec,
        Err(e) => return vec![violation(None, String::new(), e.to_string())],
    };
    let operation = spec.operation(method, path);
    let template = operation.map(|(_, op)| op.template.as_str());
    let (index, key, schema) = match operation {
        Some((index, op)) => match spec.described(op, status) {
            Described::Body { key, schema } => (Some(index), key, schema),
            Described::NoBody if body.is_empty() => return Vec::new(),
            Described::NoBody => {
                return vec![violation(
                    template,
                    String::new(),
                    "the description gives this response no body, but it has one".into(),
                )];
            }
            Described::UnknownStatus
                if allow::covering(method, &op.template, status, "", &Value::Null).is_some() =>
            {
                return Vec::new();
            }
            Described::UnknownStatus => {
                return vec![violation(
                    template,
                    String::new(),
                    format!("the description has no response {status} for this operation"),
                )];
            }
        },
        // The real API answers paths it does not have with its error envelope.
        None if status >= 400 => match spec.error_schema() {
            Some(schema) => (None, "error".to_string(), schema),
            None => return Vec::new(),
        },
        None => {
            return vec![violation(
                None,
                String::new(),
                "the description has no such operation".into(),
            )];
        }
    };
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            return vec![violation(
                template,
                String::new(),
                format!("the body is not JSON: {e}"),
            )];
        }
    };
    spec.validate(index, &key, schema, &value)
        .into_iter()
        .filter(|(pointer, _, found)| {
            allow::covering(method, template.unwrap_or("*"), status, pointer, found).is_none()
        })
        .map(|(pointer, message, _)| violation(template, pointer, message))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_faithful_error_passes_and_a_float_integer_does_not() {
        let error = br#"{"error": {"code": "not_found", "message": "server 7 not found", "details": null}}"#;
        assert_eq!(examine("GET", "/servers/7", 404, error), Vec::new());
        let ssh_key =
            br#"{"ssh_key": {"id": 1.0, "name": "k", "fingerprint": "f", "public_key": "p",
            "labels": {}, "created": "2024-01-01T00:00:00+00:00"}}"#;
        let found = examine("GET", "/ssh_keys/1", 200, ssh_key);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pointer, "/ssh_key/id");
        assert_eq!(found[0].operation.as_deref(), Some("/ssh_keys/{id}"));
    }

    #[test]
    fn a_nullable_object_is_reported_where_it_fails() {
        let iso = |deprecation: &str| {
            format!(
                r#"{{"iso": {{"id": 1, "name": "x.iso", "description": "x", "type": "public",
                    "architecture": "x86", "deprecation": {deprecation}}}}}"#
            )
        };
        let ok = iso("null");
        assert_eq!(examine("GET", "/isos/1", 200, ok.as_bytes()), Vec::new());
        let ok = iso(
            r#"{"announced": "2024-01-01T00:00:00+00:00", "unavailable_after": "2024-04-01T00:00:00+00:00"}"#,
        );
        assert_eq!(examine("GET", "/isos/1", 200, ok.as_bytes()), Vec::new());
        let bad = iso(r#"{"announced": "2024-01-01T00:00:00+00:00", "unavailable_after": 5}"#);
        let found = examine("GET", "/isos/1", 200, bad.as_bytes());
        let pointers: Vec<&str> = found.iter().map(|v| v.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/iso/deprecation/unavailable_after"],
            "{found:?}"
        );
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        let spec = Spec::get().expect("the vendored description loads");
        let (_, op) = spec
            .operation("GET", "/servers/actions")
            .expect("an operation");
        assert_eq!(op.template, "/servers/actions");
        let (_, op) = spec.operation("GET", "/servers/42").expect("an operation");
        assert_eq!(op.template, "/servers/{id}");
        assert!(spec.operation("GET", "/nothing/here").is_none());
    }

    #[test]
    fn a_204_with_a_body_and_a_200_without_one_are_violations() {
        assert_eq!(examine("DELETE", "/ssh_keys/1", 204, b""), Vec::new());
        assert_eq!(examine("DELETE", "/ssh_keys/1", 204, b"{}").len(), 1);
        assert_eq!(examine("GET", "/ssh_keys/1", 200, b"").len(), 1);
    }

    #[test]
    fn a_success_on_a_path_the_description_lacks_is_a_violation() {
        let found = examine("GET", "/nothing/here", 200, b"{}");
        assert_eq!(found.len(), 1);
    }
}
