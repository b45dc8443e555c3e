//! The one error type of the Hetzner Cloud client layer.
//!
//! Every variant names the request or the objects it is about, so that `src/resources` can turn it
//! into a diagnostic without guessing (per-field `invalid_input` messages are kept structured in
//! [`ApiErrorDetails::fields`]). No variant ever holds the API token.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// Everything that can go wrong talking to the Hetzner Cloud API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API answered with its error envelope `{"error":{"code","message","details"}}`
    /// (or with a non-success status and no envelope, then `code` is `http_<status>`).
    #[error("{request}: Hetzner API error {code} (HTTP {status}): {message}{}", details.summary())]
    Api {
        /// `METHOD /path` of the request, without host, query or token.
        request: String,
        /// HTTP status of the reply.
        status: u16,
        /// Hetzner error code, e.g. `invalid_input`, `locked`, `not_found`.
        code: String,
        /// Human-readable message from the API.
        message: String,
        /// Structured details (per-field messages for `invalid_input`).
        details: ApiErrorDetails,
    },
    /// The request could not be sent or the reply could not be read (connection refused, reset,
    /// TLS failure).
    #[error("{request}: HTTP transport error")]
    Http {
        /// `METHOD /path` of the request.
        request: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// A success reply whose body is not the JSON this client expects.
    #[error("{request}: cannot decode the reply")]
    Decode {
        /// `METHOD /path` of the request.
        request: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// The deadline passed before the work was done; `pending` says what was still unfinished.
    #[error("timed out after {elapsed:?} waiting for {what}; still pending: {}", pending.join(", "))]
    Timeout {
        /// What was being waited for (e.g. `create servers prod-cp-1, prod-cp-2`).
        what: String,
        /// What had not finished when the deadline passed (actions, or the request being retried).
        pending: Vec<String>,
        /// How long the wait lasted.
        elapsed: Duration,
        /// The last retryable error seen, if the time went into retries.
        #[source]
        last_error: Option<Box<Error>>,
    },
    /// The operation was cancelled (Terraform's stop, or the caller's cancellation token).
    #[error("cancelled while {what}")]
    Cancelled {
        /// What was in progress.
        what: String,
    },
    /// One or more actions finished with status `error`.
    #[error("{what}: {} action(s) failed: {}", failures.len(), failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    ActionsFailed {
        /// What the actions were for.
        what: String,
        /// Each failed action with its error.
        failures: Vec<ActionFailure>,
    },
    /// An object with the wanted name exists but does not carry the labels this cluster puts on
    /// its objects: it belongs to someone else and is never adopted or changed.
    #[error(
        "{kind} {name:?} (id {id}) already exists without the labels {expected}; rename it or remove it, hk8s does not adopt objects it did not label"
    )]
    NameTaken {
        /// Kind of object (`server`, `network`, …).
        kind: &'static str,
        /// The name.
        name: String,
        /// Its id.
        id: i64,
        /// The labels it should carry, as a selector.
        expected: String,
    },
    /// A step whose Hetzner action kept failing: it was done `attempts` times within one
    /// operation (a server deleted and created again, an object ensured again), failing each time.
    #[error("{what} failed {attempts} times in a row; the last time: {last}")]
    StepFailed {
        /// The step, e.g. `create server prod-cp-2 in fsn1`.
        what: String,
        /// How often it was tried.
        attempts: u32,
        /// The last failure (usually [`Error::ActionsFailed`] with the action's error).
        last: Box<Error>,
    },
    /// Every location a server may go to refused it with `resource_unavailable` (Hetzner has no
    /// capacity there, e.g. "server location disabled").
    #[error(
        "no location would take server {server}: {}. Hetzner has no capacity for it there now; \
         add locations of the same network zone or try again later",
        refusals.join("; ")
    )]
    NoLocation {
        /// The server name.
        server: String,
        /// `location: message` for each refusal, in the order tried.
        refusals: Vec<String>,
    },
    /// The client configuration is unusable (bad endpoint URL, token with invalid characters).
    #[error("invalid Hetzner Cloud client configuration: {0}")]
    Config(String),
}

impl Error {
    /// The Hetzner error code if this is an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether Hetzner cannot provide the resource where it was asked for
    /// (`resource_unavailable`: "server location disabled", "error during placement"): capacity,
    /// not the request, is the problem, so another location may take it.
    pub fn is_unavailable(&self) -> bool {
        self.code() == Some(UNAVAILABLE)
    }

    /// Whether the API said the object does not exist (`not_found`); deletions count this as done.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some("not_found")
    }

    /// Whether the API refused a name (or key) that is already taken (`uniqueness_error`).
    pub fn is_uniqueness(&self) -> bool {
        self.code() == Some("uniqueness_error")
    }
}

/// The code of Hetzner's "no capacity here" refusals, of requests and of actions.
pub const UNAVAILABLE: &str = "resource_unavailable";

/// The `details` of an error envelope, reduced to what callers act on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ApiErrorDetails {
    /// For `invalid_input` and `uniqueness_error`: the offending fields with their messages.
    #[serde(default)]
    pub fields: Vec<InvalidField>,
}

impl ApiErrorDetails {
    fn summary(&self) -> String {
        if self.fields.is_empty() {
            return String::new();
        }
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|f| {
                if f.messages.is_empty() {
                    f.name.clone()
                } else {
                    format!("{}: {}", f.name, f.messages.join(", "))
                }
            })
            .collect();
        format!(" [{}]", fields.join("; "))
    }
}

/// One field named by an `invalid_input` (or `uniqueness_error`) reply.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InvalidField {
    /// The request field, e.g. `name` or `labels`.
    pub name: String,
    /// What is wrong with it.
    #[serde(default)]
    pub messages: Vec<String>,
}

/// An action that ended with status `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionFailure {
    /// Action id.
    pub id: i64,
    /// Hetzner command, e.g. `create_server`.
    pub command: String,
    /// Resources the action touched, as `type id` (e.g. `server 42`).
    pub resources: Vec<String>,
    /// The action's error code, e.g. `action_failed`.
    pub code: String,
    /// The action's error message.
    pub message: String,
}

impl fmt::Display for ActionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "action {} ({}) on {}: {}: {}",
            self.id,
            self.command,
            self.resources.join(", "),
            self.code,
            self.message
        )
    }
}

/// The wire shape of the error envelope.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    pub(crate) error: EnvelopeBody,
}

/// The inner object of the error envelope.
#[derive(Debug, Deserialize)]
pub(crate) struct EnvelopeBody {
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default, deserialize_with = "details_or_default")]
    pub(crate) details: ApiErrorDetails,
}

/// `details` is `null`, `{}` or an object with `fields`; anything else is ignored rather than
/// hiding the error code behind a decode failure.
fn details_or_default<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ApiErrorDetails, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// Builds [`Error::Api`] from a non-success reply: the envelope when there is one, otherwise a
/// synthetic `http_<status>` code with the start of the body as message.
pub(crate) fn api_error(request: &str, status: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope { error }) => Error::Api {
            request: request.to_string(),
            status,
            code: error.code,
            message: error.message,
            details: error.details,
        },
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let message: String = text.chars().take(200).collect();
            Error::Api {
                request: request.to_string(),
                status,
                code: format!("http_{status}"),
                message,
                details: ApiErrorDetails::default(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_invalid_input_with_fields() {
        let body = br#"{"error":{"code":"invalid_input","message":"invalid input in field 'name'","details":{"fields":[{"name":"name","messages":["Name must be a valid hostname."]}]}}}"#;
        let err = api_error("POST /servers", 400, body);
        let Error::Api { code, details, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(code, "invalid_input");
        assert_eq!(details.fields[0].name, "name");
        assert_eq!(
            details.fields[0].messages,
            ["Name must be a valid hostname."]
        );
        assert!(
            err.to_string()
                .contains("name: Name must be a valid hostname.")
        );
    }

    #[test]
    fn body_without_envelope_keeps_the_status() {
        let err = api_error("GET /servers", 502, b"<html>Bad Gateway</html>");
        assert_eq!(err.code(), Some("http_502"));
        assert!(err.to_string().contains("Bad Gateway"));
    }

    #[test]
    fn odd_details_do_not_hide_the_code() {
        let body = br#"{"error":{"code":"locked","message":"locked","details":[1,2]}}"#;
        assert_eq!(api_error("POST /x", 423, body).code(), Some("locked"));
    }
}
