//! Talos API client credentials and the `talosconfig` file talosctl reads.
//!
//! The admin certificate is issued as Talos's `NewAdminCertificateAndKey` does: a new Ed25519
//! key signed by the Talos API CA (`certs.os`), subject `O=os:admin` with no common name, key
//! usage digitalSignature, extended key usage clientAuth only (apid rejects certificates with
//! other usages), valid from "now" for the requested TTL.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::pki::{self, certs, keys::KeyAlgorithm};
use super::secrets::SecretsBundle;
use super::yaml;

/// The Talos role of admin clients.
pub const ADMIN_ROLE: &str = "os:admin";

/// Errors from issuing credentials or rendering client configs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TTL is zero or negative.
    #[error("certificate TTL must be positive, got {ttl}")]
    InvalidTtl {
        /// The TTL given.
        ttl: Duration,
    },
    /// Issuing the certificate failed (e.g. a broken CA in the bundle).
    #[error("cannot issue the client certificate: {source}")]
    Issue {
        /// The PKI error.
        #[source]
        source: pki::Error,
    },
    /// A client config is missing something it needs.
    #[error("invalid client configuration: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// Rendering YAML failed.
    #[error("cannot render the client configuration: {source}")]
    Yaml {
        /// The YAML error.
        #[source]
        source: yaml::Error,
    },
}

/// A client certificate with its CA and expiry.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The CA certificate that authenticates the server (PEM).
    pub ca_pem: String,
    /// The client certificate (PEM).
    pub cert_pem: String,
    /// The client key (PEM, in Talos's label for its algorithm).
    pub key_pem: String,
    /// When the client certificate expires.
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("cert_pem", &self.cert_pem)
            .field("expires_at", &self.expires_at)
            .field("key_pem", &"[secret elided]")
            .finish()
    }
}

impl ClientCredentials {
    /// The key in the PEM form rustls reads: Talos's `ED25519 PRIVATE KEY` label is rewritten
    /// as `PRIVATE KEY` (same PKCS#8 body); other keys are unchanged.
    ///
    /// # Errors
    /// [`Error::Issue`] if the stored key is not valid PEM.
    pub fn rustls_key_pem(&self) -> Result<String, Error> {
        pki::keys::to_standard_label(&self.key_pem).map_err(|source| Error::Issue { source })
    }
}

pub(crate) fn check_ttl(ttl: Duration) -> Result<(), Error> {
    if ttl.is_positive() {
        Ok(())
    } else {
        Err(Error::InvalidTtl { ttl })
    }
}

/// Issues a Talos API admin certificate valid from `now` for `ttl`.
///
/// # Errors
/// [`Error::InvalidTtl`] or [`Error::Issue`].
pub fn issue_admin<R: rand::CryptoRng + ?Sized>(
    secrets: &SecretsBundle,
    now: OffsetDateTime,
    ttl: Duration,
    rng: &mut R,
) -> Result<ClientCredentials, Error> {
    check_ttl(ttl)?;
    let issued = certs::issue_client(
        &secrets.os_ca,
        &certs::ClientSpec {
            common_name: None,
            organizations: &[ADMIN_ROLE.to_owned()],
            algorithm: KeyAlgorithm::Ed25519,
            not_before: now,
            validity: ttl,
        },
        rng,
    )
    .map_err(|source| Error::Issue { source })?;
    Ok(ClientCredentials {
        ca_pem: secrets.os_ca.cert_pem.clone(),
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
        expires_at: now + ttl,
    })
}

/// A `talosconfig` file: one context named after the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Talosconfig {
    /// The current context.
    pub context: String,
    /// Contexts by name.
    pub contexts: IndexMap<String, TalosContext>,
}

/// One talosconfig context (`pkg/machinery/client/config.Context`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TalosContext {
    /// apid endpoints (the load balancer).
    pub endpoints: Vec<String>,
    /// Default target nodes (proxied through the endpoints).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// base64 of the CA PEM.
    pub ca: String,
    /// base64 of the client certificate PEM.
    pub crt: String,
    /// base64 of the client key PEM.
    pub key: String,
}

impl Talosconfig {
    /// Builds a talosconfig with one context, `cluster_name`, holding `credentials`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `endpoints` is empty.
    pub fn new(
        cluster_name: &str,
        endpoints: &[String],
        nodes: &[String],
        credentials: &ClientCredentials,
    ) -> Result<Self, Error> {
        if endpoints.is_empty() {
            return Err(Error::Invalid {
                reason: "a talosconfig needs at least one endpoint".into(),
            });
        }
        let context = TalosContext {
            endpoints: endpoints.to_vec(),
            nodes: nodes.to_vec(),
            ca: STANDARD.encode(&credentials.ca_pem),
            crt: STANDARD.encode(&credentials.cert_pem),
            key: STANDARD.encode(&credentials.key_pem),
        };
        Ok(Self {
            context: cluster_name.to_owned(),
            contexts: IndexMap::from([(cluster_name.to_owned(), context)]),
        })
    }

    /// Parses a talosconfig file.
    ///
    /// # Errors
    /// [`Error::Yaml`] for YAML that is not a talosconfig.
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        yaml::from_str(text).map_err(|source| Error::Yaml { source })
    }

    /// The client certificate (PEM) of the current context, if it has one that decodes.
    pub fn current_certificate(&self) -> Option<String> {
        let context = self.contexts.get(&self.context)?;
        String::from_utf8(STANDARD.decode(&context.crt).ok()?).ok()
    }

    /// Renders the YAML talosctl reads (`talosctl --talosconfig <file>`).
    ///
    /// # Errors
    /// [`Error::Yaml`] if rendering fails (not expected).
    pub fn to_yaml(&self) -> Result<String, Error> {
        yaml::to_string(self).map_err(|source| Error::Yaml { source })
    }
}

#[cfg(test)]
#[path = "talosconfig_tests.rs"]
mod tests;
