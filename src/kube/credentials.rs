//! What the client needs to reach a cluster: the API server URL, the CA that signs its serving
//! certificate, and a client certificate and key; read from a kubeconfig or given directly.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::error::{Error, Result};

/// Credentials for one cluster. `Debug` shows the server and certificates but never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct KubeCredentials {
    /// API server URL, `https://host:port` (no path).
    pub server: String,
    /// PEM of the CA (or CAs) trusted for the server's certificate; nothing else is trusted.
    pub ca_pem: String,
    /// PEM of the client certificate (optionally followed by intermediates).
    pub client_cert_pem: String,
    /// PEM of the client key: PKCS#8 (`PRIVATE KEY`, e.g. Ed25519 or P-256; Talos's
    /// `ED25519 PRIVATE KEY` label for the same PKCS#8 body is accepted too) or SEC1
    /// (`EC PRIVATE KEY`).
    pub client_key_pem: String,
}

impl fmt::Debug for KubeCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeCredentials")
            .field("server", &self.server)
            .field("ca_pem", &self.ca_pem)
            .field("client_cert_pem", &self.client_cert_pem)
            .field("client_key_pem", &"<redacted>")
            .finish()
    }
}

/// The parts of a kubeconfig the client reads; everything else is ignored.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct KubeconfigDoc {
    #[serde(default)]
    current_context: String,
    #[serde(default)]
    clusters: Vec<Named<ClusterEntry>>,
    #[serde(default)]
    users: Vec<Named<UserEntry>>,
    #[serde(default)]
    contexts: Vec<Named<ContextEntry>>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    entry: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ClusterEntry {
    server: String,
    #[serde(default)]
    certificate_authority_data: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UserEntry {
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
}

#[derive(Deserialize)]
struct ContextEntry {
    cluster: String,
    user: String,
}

fn credentials_error(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Credentials {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Decodes a `*-data` field (base64 of a PEM document).
fn decode_data(field: &str, value: Option<&String>) -> Result<String> {
    let value = value.ok_or_else(|| {
        credentials_error(
            field,
            "missing; only kubeconfigs with inline *-data fields are supported (not file paths, tokens or exec plugins)",
        )
    })?;
    let bytes = STANDARD
        .decode(value.trim())
        .map_err(|e| credentials_error(field, format!("not base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| credentials_error(field, "does not decode to PEM text"))
}

impl KubeCredentials {
    /// Reads the cluster and user of the kubeconfig's current context (the only context when
    /// `current-context` is empty and there is exactly one).
    ///
    /// # Errors
    /// [`Error::KubeconfigYaml`] when the text is not a kubeconfig, [`Error::Credentials`] when
    /// the context, cluster or user is missing or does not carry inline `*-data` credentials.
    pub fn from_kubeconfig(yaml: &str) -> Result<KubeCredentials> {
        // The parser's message can quote the input (a snippet around the error, or the value it
        // rejected), and a kubeconfig holds the client key: keep only where the problem is.
        let doc: KubeconfigDoc = serde_saphyr::from_str(yaml).map_err(|e| {
            let location = e.location();
            Error::KubeconfigYaml {
                line: location.map(|l| l.line()),
                column: location.map(|l| l.column()),
            }
        })?;
        let context = if doc.current_context.is_empty() {
            match doc.contexts.as_slice() {
                [only] => only,
                _ => {
                    return Err(credentials_error(
                        "current-context",
                        format!(
                            "empty, and the kubeconfig has {} contexts (need exactly one to pick it)",
                            doc.contexts.len()
                        ),
                    ));
                }
            }
        } else {
            doc.contexts
                .iter()
                .find(|c| c.name == doc.current_context)
                .ok_or_else(|| {
                    credentials_error(
                        "current-context",
                        format!("context {:?} is not in contexts", doc.current_context),
                    )
                })?
        };
        let cluster = doc
            .clusters
            .iter()
            .find(|c| c.name == context.entry.cluster)
            .ok_or_else(|| {
                credentials_error(
                    format!("context {:?}", context.name),
                    format!("cluster {:?} is not in clusters", context.entry.cluster),
                )
            })?;
        let user = doc
            .users
            .iter()
            .find(|u| u.name == context.entry.user)
            .ok_or_else(|| {
                credentials_error(
                    format!("context {:?}", context.name),
                    format!("user {:?} is not in users", context.entry.user),
                )
            })?;
        let credentials = KubeCredentials {
            server: cluster.entry.server.clone(),
            ca_pem: decode_data(
                &format!("cluster {:?} certificate-authority-data", cluster.name),
                cluster.entry.certificate_authority_data.as_ref(),
            )?,
            client_cert_pem: decode_data(
                &format!("user {:?} client-certificate-data", user.name),
                user.entry.client_certificate_data.as_ref(),
            )?,
            client_key_pem: decode_data(
                &format!("user {:?} client-key-data", user.name),
                user.entry.client_key_data.as_ref(),
            )?,
        };
        credentials.check()?;
        Ok(credentials)
    }

    /// Checks the shape of every field (an `https://` URL without path, PEM blocks of the
    /// expected kinds), so errors name the field instead of surfacing as TLS failures.
    ///
    /// # Errors
    /// [`Error::Credentials`] naming the field.
    pub fn check(&self) -> Result<()> {
        let url = reqwest::Url::parse(&self.server).map_err(|e| {
            credentials_error("server", format!("{:?} is not a URL: {e}", self.server))
        })?;
        if url.scheme() != "https" || url.host().is_none() {
            return Err(credentials_error(
                "server",
                format!("{:?} must be an https:// URL with a host", self.server),
            ));
        }
        if url.path() != "/" || url.query().is_some() {
            return Err(credentials_error(
                "server",
                format!("{:?} must not have a path or query", self.server),
            ));
        }
        require_pem("ca_pem", &self.ca_pem, &["CERTIFICATE"])?;
        require_pem("client_cert_pem", &self.client_cert_pem, &["CERTIFICATE"])?;
        require_pem(
            "client_key_pem",
            &self.client_key_pem,
            &[
                "PRIVATE KEY",
                "EC PRIVATE KEY",
                "RSA PRIVATE KEY",
                TALOS_ED25519_LABEL,
            ],
        )
    }

    /// The client key with Talos's `ED25519 PRIVATE KEY` label rewritten to the standard
    /// `PRIVATE KEY` (the body is PKCS#8 either way), which is what rustls reads.
    pub(crate) fn standard_client_key_pem(&self) -> String {
        self.client_key_pem
            .replace(
                &format!("-----BEGIN {TALOS_ED25519_LABEL}-----"),
                "-----BEGIN PRIVATE KEY-----",
            )
            .replace(
                &format!("-----END {TALOS_ED25519_LABEL}-----"),
                "-----END PRIVATE KEY-----",
            )
    }
}

/// The PEM label Talos writes for PKCS#8 Ed25519 keys.
const TALOS_ED25519_LABEL: &str = "ED25519 PRIVATE KEY";

/// Whether `text` holds a PEM block labelled with one of `labels`.
fn require_pem(field: &str, text: &str, labels: &[&str]) -> Result<()> {
    let found = labels
        .iter()
        .any(|label| text.contains(&format!("-----BEGIN {label}-----")));
    if found {
        Ok(())
    } else {
        Err(credentials_error(
            field,
            format!("no PEM block labelled {}", labels.join(" or ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END PRIVATE KEY-----\n";

    fn kubeconfig(current: &str, server: &str) -> String {
        let b = |s: &str| STANDARD.encode(s);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n- name: other\n  cluster:\n    server: https://10.0.0.9:6443\nusers:\n- name: admin@prod\n  user:\n    client-certificate-data: {ca}\n    client-key-data: {key}\ncontexts:\n- name: admin@prod\n  context:\n    cluster: prod\n    namespace: default\n    user: admin@prod\n- name: other\n  context:\n    cluster: other\n    user: admin@prod\ncurrent-context: {current}\n",
            ca = b(CA),
            key = b(KEY),
        )
    }

    #[test]
    fn reads_the_current_context() {
        let creds =
            KubeCredentials::from_kubeconfig(&kubeconfig("admin@prod", "https://127.50.0.1:6443"))
                .unwrap();
        assert_eq!(creds.server, "https://127.50.0.1:6443");
        assert_eq!(creds.ca_pem, CA);
        assert_eq!(creds.client_key_pem, KEY);
        let debug = format!("{creds:?}");
        assert!(!debug.contains("c2VjcmV0LWtleQ"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn missing_inline_data_and_contexts_are_named() {
        let err =
            KubeCredentials::from_kubeconfig(&kubeconfig("other", "https://h:6443")).unwrap_err();
        assert!(
            err.to_string()
                .contains("cluster \"other\" certificate-authority-data: missing"),
            "{err}"
        );
        let err =
            KubeCredentials::from_kubeconfig(&kubeconfig("nope", "https://h:6443")).unwrap_err();
        assert!(
            err.to_string()
                .contains("context \"nope\" is not in contexts"),
            "{err}"
        );
        let err = KubeCredentials::from_kubeconfig(&kubeconfig("admin@prod", "http://h:6443"))
            .unwrap_err();
        assert!(err.to_string().contains("must be an https:// URL"), "{err}");
        let err = KubeCredentials::from_kubeconfig("clusters: 3").unwrap_err();
        assert!(matches!(err, Error::KubeconfigYaml { .. }), "{err:?}");
    }

    #[test]
    fn yaml_errors_never_quote_the_kubeconfig() {
        let yaml = "users:\n- name: a\n  user:\n    client-key-data: c2VjcmV0LWtleQ==\n    client-certificate-data: [unclosed\ncontexts: 3\n";
        let err = KubeCredentials::from_kubeconfig(yaml).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("c2VjcmV0LWtleQ"), "{shown}");
        assert_eq!(
            err.to_string(),
            "Kubernetes credentials: the kubeconfig is not YAML of the expected shape (near line 5, column 30)"
        );
    }

    #[test]
    fn key_must_be_a_private_key_block() {
        let creds = KubeCredentials {
            server: "https://127.0.0.1:6443".into(),
            ca_pem: CA.into(),
            client_cert_pem: CA.into(),
            client_key_pem: CA.into(),
        };
        let err = creds.check().unwrap_err();
        assert!(
            err.to_string()
                .contains("client_key_pem: no PEM block labelled PRIVATE KEY"),
            "{err}"
        );
    }
}
