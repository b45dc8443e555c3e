//! Admin kubeconfigs minted locally from the Kubernetes CA in the secrets bundle, with no call
//! to the cluster: a new P-256 key, a certificate `CN=<username>`, `O=<groups>` (default
//! `admin` / `system:masters`), extended key usage clientAuth, valid from "now" for the TTL.
//! The kubeconfig has cluster `<cluster>`, user and context `<username>@<cluster>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::pki::{certs, keys::KeyAlgorithm};
use super::secrets::SecretsBundle;
use super::talosconfig::{ClientCredentials, Error, check_ttl};
use super::yaml;

/// Default user name.
pub const DEFAULT_USERNAME: &str = "admin";
/// Default group: cluster-admin through the built-in binding.
pub const DEFAULT_GROUP: &str = "system:masters";

/// What to mint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigRequest {
    /// Cluster name (names the cluster entry and the context).
    pub cluster_name: String,
    /// API server URL, `https://<load balancer>:6443`.
    pub server: String,
    /// Certificate common name (Kubernetes user name).
    pub username: String,
    /// Certificate organizations (Kubernetes groups).
    pub groups: Vec<String>,
    /// Certificate lifetime.
    pub ttl: Duration,
}

impl KubeconfigRequest {
    /// `admin` in `system:masters` for `cluster_name` at `server`, valid for `ttl`.
    pub fn admin(cluster_name: &str, server: &str, ttl: Duration) -> Self {
        Self {
            cluster_name: cluster_name.to_owned(),
            server: server.to_owned(),
            username: DEFAULT_USERNAME.to_owned(),
            groups: vec![DEFAULT_GROUP.to_owned()],
            ttl,
        }
    }
}

/// A minted kubeconfig and the credentials inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubeconfig {
    /// The kubeconfig YAML.
    pub yaml: String,
    /// The CA, client certificate and key it contains, and the certificate's expiry.
    pub credentials: ClientCredentials,
}

/// Mints a kubeconfig from the bundle's Kubernetes CA, valid from `now`.
///
/// # Errors
/// [`Error::InvalidTtl`], [`Error::Invalid`] (empty user name, server not `https://`) or
/// [`Error::Issue`].
pub fn mint<R: rand::CryptoRng + ?Sized>(
    secrets: &SecretsBundle,
    request: &KubeconfigRequest,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Kubeconfig, Error> {
    check_ttl(request.ttl)?;
    if request.username.is_empty() {
        return Err(Error::Invalid {
            reason: "the user name must not be empty".into(),
        });
    }
    if !request.server.starts_with("https://") {
        return Err(Error::Invalid {
            reason: format!("the server {:?} must be an https:// URL", request.server),
        });
    }
    let issued = certs::issue_client(
        &secrets.kubernetes_ca,
        &certs::ClientSpec {
            common_name: Some(&request.username),
            organizations: &request.groups,
            algorithm: KeyAlgorithm::EcdsaP256,
            not_before: now,
            validity: request.ttl,
        },
        rng,
    )
    .map_err(|source| Error::Issue { source })?;
    let credentials = ClientCredentials {
        ca_pem: secrets.kubernetes_ca.cert_pem.clone(),
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
        expires_at: now + request.ttl,
    };
    let name = format!("{}@{}", request.username, request.cluster_name);
    let file = KubeconfigFile {
        api_version: "v1".into(),
        kind: "Config".into(),
        clusters: vec![NamedCluster {
            name: request.cluster_name.clone(),
            cluster: ClusterEntry {
                server: request.server.clone(),
                certificate_authority_data: STANDARD.encode(&credentials.ca_pem),
            },
        }],
        users: vec![NamedUser {
            name: name.clone(),
            user: UserEntry {
                client_certificate_data: STANDARD.encode(&credentials.cert_pem),
                client_key_data: STANDARD.encode(&credentials.key_pem),
            },
        }],
        contexts: vec![NamedContext {
            name: name.clone(),
            context: ContextEntry {
                cluster: request.cluster_name.clone(),
                namespace: "default".into(),
                user: name.clone(),
            },
        }],
        current_context: name,
    };
    let yaml = yaml::to_string(&file).map_err(|source| Error::Yaml { source })?;
    Ok(Kubeconfig { yaml, credentials })
}

/// The kubeconfig file layout (`clientcmd/api/v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct KubeconfigFile {
    /// `v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `Config`.
    pub kind: String,
    /// Clusters.
    pub clusters: Vec<NamedCluster>,
    /// Users.
    pub users: Vec<NamedUser>,
    /// Contexts.
    pub contexts: Vec<NamedContext>,
    /// Current context.
    pub current_context: String,
}

/// A named cluster entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCluster {
    /// Name.
    pub name: String,
    /// Entry.
    pub cluster: ClusterEntry,
}

/// A cluster entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ClusterEntry {
    /// API server URL.
    pub server: String,
    /// base64 of the CA PEM.
    pub certificate_authority_data: String,
}

/// A named user entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedUser {
    /// Name.
    pub name: String,
    /// Entry.
    pub user: UserEntry,
}

/// A user entry with client-certificate authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct UserEntry {
    /// base64 of the certificate PEM.
    pub client_certificate_data: String,
    /// base64 of the key PEM.
    pub client_key_data: String,
}

/// A named context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedContext {
    /// Name.
    pub name: String,
    /// Entry.
    pub context: ContextEntry,
}

/// A context entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextEntry {
    /// Cluster name.
    pub cluster: String,
    /// Default namespace.
    pub namespace: String,
    /// User name.
    pub user: String,
}

#[cfg(test)]
#[path = "kubeconfig_tests.rs"]
mod tests;
