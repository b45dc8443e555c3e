//! The errors of the Kubernetes client, and the decoding of the API's `Status` replies.
//!
//! Every variant says which request or object it is about. No variant ever carries a secret:
//! credentials errors name the field and the problem, never its content.

use std::fmt;
use std::time::Duration;

/// One request, as errors name it: method and URL (the URL never holds credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// HTTP method.
    pub method: http::Method,
    /// Full URL, query included.
    pub url: String,
}

impl fmt::Display for RequestInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)
    }
}

/// A refused request as the API described it (a `meta/v1 Status` object), or as derived from
/// the HTTP status when the body was something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// HTTP status code.
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `Conflict`, `TooManyRequests`, `Forbidden`, …).
    pub reason: String,
    /// Human-readable message from the API (or the start of a non-Status body), followed by the
    /// messages of `details.causes` (e.g. which PodDisruptionBudget refused an eviction: `…:
    /// The disruption budget web needs 2 healthy pods and has 2 currently`).
    pub message: String,
}

/// Longest part of a non-Status body kept in a [`Status`] message.
const MAX_BODY_IN_MESSAGE: usize = 300;

impl Status {
    /// Decodes an error reply: the `Status` object when the body is one, otherwise the reason
    /// Kubernetes uses for the HTTP code and the (shortened) body as message.
    pub fn from_reply(code: u16, body: &[u8]) -> Status {
        #[derive(serde::Deserialize)]
        struct Wire {
            kind: Option<String>,
            #[serde(default)]
            reason: String,
            #[serde(default)]
            message: String,
            #[serde(default)]
            details: Option<Details>,
        }
        #[derive(serde::Deserialize)]
        struct Details {
            #[serde(default)]
            causes: Vec<Cause>,
        }
        #[derive(serde::Deserialize)]
        struct Cause {
            #[serde(default)]
            message: String,
        }
        if let Ok(wire) = serde_json::from_slice::<Wire>(body)
            && wire.kind.as_deref() == Some("Status")
        {
            return Status {
                code,
                reason: if wire.reason.is_empty() {
                    reason_for_code(code).to_owned()
                } else {
                    wire.reason
                },
                message: with_causes(
                    wire.message,
                    wire.details
                        .into_iter()
                        .flat_map(|d| d.causes)
                        .map(|c| c.message)
                        .filter(|m| !m.is_empty())
                        .collect(),
                ),
            };
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let message = match text.char_indices().nth(MAX_BODY_IN_MESSAGE) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_owned(),
        };
        Status {
            code,
            reason: reason_for_code(code).to_owned(),
            message,
        }
    }
}

/// `message`, then `: cause; cause` when the Status names causes (its final period moved after
/// them).
fn with_causes(message: String, causes: Vec<String>) -> String {
    if causes.is_empty() {
        return message;
    }
    format!("{}: {}", message.trim_end_matches('.'), causes.join("; "))
}

/// The `StatusReason` the API server uses for an HTTP code (`k8s.io/apimachinery` errors).
pub fn reason_for_code(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

/// Everything the Kubernetes client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The credentials cannot be used (malformed URL or PEM, missing kubeconfig entry).
    /// `field` names the input, `reason` the problem; never the secret itself.
    #[error("Kubernetes credentials: {field}: {reason}")]
    Credentials {
        /// Which input (`server`, `ca_pem`, `client_key_pem`, `kubeconfig context "x"`, …).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The kubeconfig is not YAML of the expected shape. Only the position is kept: the
    /// parser's message could quote the file, which holds the client key.
    #[error("Kubernetes credentials: the kubeconfig is not YAML of the expected shape{}", position(*line, *column))]
    KubeconfigYaml {
        /// Line of the problem (1-based), when known.
        line: Option<u64>,
        /// Column of the problem (1-based), when known.
        column: Option<u64>,
    },
    /// The HTTP client could not be built from the credentials (e.g. the key does not match a
    /// supported algorithm).
    #[error(
        "Kubernetes credentials: cannot build a TLS client from the CA, certificate and key: {source}"
    )]
    ClientSetup {
        /// reqwest's error (it names the part that failed, never the key).
        #[source]
        source: reqwest::Error,
    },
    /// The request did not get an HTTP reply (connection refused, TLS failure, timeout).
    #[error("Kubernetes API {request}: no reply: {source}")]
    Transport {
        /// The request.
        request: RequestInfo,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The API refused the request.
    #[error("Kubernetes API {request}: {status}")]
    Api {
        /// The request.
        request: RequestInfo,
        /// What the API said.
        status: Status,
    },
    /// A reply could not be decoded.
    #[error("Kubernetes API {request}: cannot decode the reply: {source}")]
    Decode {
        /// The request.
        request: RequestInfo,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// Discovery found no resource serving this kind (its group/version is not served, or the
    /// kind is not part of it, e.g. a custom resource whose definition is not installed).
    #[error(
        "Kubernetes API: no resource serves kind {kind} in {api_version} (is its CustomResourceDefinition installed?)"
    )]
    UnknownKind {
        /// `v1` or `group/version`.
        api_version: String,
        /// The kind.
        kind: String,
    },
    /// An object or argument the client cannot send (missing `apiVersion`, `kind`,
    /// `metadata.name`, a namespace for a namespaced kind, …).
    #[error("Kubernetes object {object}: {reason}")]
    InvalidObject {
        /// `kind namespace/name` as far as known.
        object: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// A drain cannot start: pods on the node need an option the caller did not give. Nothing
    /// was evicted (the node is cordoned).
    #[error("cannot drain node {node}: {reason}: {}", pods.join(", "))]
    DrainBlocked {
        /// The node.
        node: String,
        /// Which option is needed and why.
        reason: String,
        /// The pods, as `namespace/name`.
        pods: Vec<String>,
    },
    /// helm-controller's job for a release failed; `message` is helm's own error.
    #[error("helm release {release} failed: {message}")]
    ChartFailed {
        /// `namespace/name`.
        release: String,
        /// What helm said (e.g. `Error: INSTALLATION FAILED: chart "x" not found in … repository`).
        message: String,
    },
    /// A wait ran out of time.
    #[error("timed out after {elapsed:?} waiting for {what}; still pending: {}", pending.join("; "))]
    Timeout {
        /// What was awaited (e.g. `nodes prod-cp-1, prod-cp-2 Ready`).
        what: String,
        /// What had not happened yet, each with its last known state.
        pending: Vec<String>,
        /// How long the wait lasted.
        elapsed: Duration,
        /// The last error seen while polling, if the wait kept failing.
        #[source]
        last_error: Option<Box<Error>>,
    },
    /// The caller's cancellation token was cancelled during a wait.
    #[error("cancelled while waiting for {what}")]
    Cancelled {
        /// What was awaited.
        what: String,
    },
}

/// ` (near line L, column C)` when the position is known.
fn position(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" (near line {line}, column {column})"),
        (Some(line), None) => format!(" (near line {line})"),
        _ => String::new(),
    }
}

/// Result with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The API's reply, when the API refused the request.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Error::Api { status, .. } => Some(status),
            _ => None,
        }
    }

    /// Whether the API does not serve the kind (its CRD is not installed).
    pub fn is_unknown_kind(&self) -> bool {
        matches!(self, Error::UnknownKind { .. })
    }

    /// Whether the API answered 404 `NotFound`.
    pub fn is_not_found(&self) -> bool {
        self.status().is_some_and(|s| s.code == 404)
    }

    /// Whether the API answered 409 (`Conflict`, or `AlreadyExists`).
    pub fn is_conflict(&self) -> bool {
        self.status().is_some_and(|s| s.code == 409)
    }

    /// Whether the API answered 429 `TooManyRequests` (rate limit, or an eviction a
    /// PodDisruptionBudget does not allow yet).
    pub fn is_too_many_requests(&self) -> bool {
        self.status().is_some_and(|s| s.code == 429)
    }

    /// Whether the API answered 403 `Forbidden` (the identity lacks the permission).
    pub fn is_forbidden(&self) -> bool {
        self.status().is_some_and(|s| s.code == 403)
    }

    /// Whether trying again later may succeed: no reply, or a 5xx/429 reply. Waits keep polling
    /// through these and report them if the time runs out.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. } => true,
            Error::Api { status, .. } => status.code == 429 || status.code >= 500,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bodies_are_decoded() {
        let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"configmaps"},"code":404}"#;
        let status = Status::from_reply(404, body);
        assert_eq!(status.reason, "NotFound");
        assert_eq!(status.message, "configmaps \"x\" not found");
        assert_eq!(
            status.to_string(),
            "404 NotFound: configmaps \"x\" not found"
        );
    }

    #[test]
    fn eviction_refusal_is_too_many_requests() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Cannot evict pod as it would violate the pod's disruption budget.","reason":"TooManyRequests","details":{"causes":[{"reason":"DisruptionBudget","message":"The disruption budget web needs 2 healthy pods and has 2 currently"}]},"code":429}"#;
        let err = Error::Api {
            request: RequestInfo {
                method: http::Method::POST,
                url: "https://127.0.0.1:6443/api/v1/namespaces/default/pods/web-0/eviction".into(),
            },
            status: Status::from_reply(429, body),
        };
        assert!(err.is_too_many_requests());
        assert!(err.is_transient());
        assert!(!err.is_not_found());
        assert!(err.to_string().contains("POST https://127.0.0.1:6443/api/v1/namespaces/default/pods/web-0/eviction: 429 TooManyRequests: Cannot evict pod"), "{err}");
    }

    #[test]
    fn non_status_bodies_keep_the_code_reason_and_a_short_message() {
        let status = Status::from_reply(
            500,
            b"[-]etcd failed: reason withheld\nreadyz check failed\n",
        );
        assert_eq!(status.reason, "InternalError");
        assert_eq!(
            status.message,
            "[-]etcd failed: reason withheld\nreadyz check failed"
        );
        let long = "x".repeat(1000);
        let status = Status::from_reply(502, long.as_bytes());
        assert_eq!(status.reason, "Unknown");
        assert_eq!(status.message.chars().count(), MAX_BODY_IN_MESSAGE + 1);
        // A Status without a reason gets the code's reason.
        let status = Status::from_reply(409, br#"{"kind":"Status","message":"busy"}"#);
        assert_eq!(
            (status.reason.as_str(), status.message.as_str()),
            ("Conflict", "busy")
        );
    }

    #[test]
    fn conflict_and_forbidden_helpers() {
        let api = |code| Error::Api {
            request: RequestInfo {
                method: http::Method::PATCH,
                url: "https://h/x".into(),
            },
            status: Status::from_reply(code, b""),
        };
        assert!(api(409).is_conflict());
        assert!(api(403).is_forbidden());
        assert!(!api(403).is_transient());
        assert!(api(503).is_transient());
        assert!(api(404).is_not_found());
    }
}
