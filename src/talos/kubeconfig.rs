//! Admin kubeconfigs minted locally from the Kubernetes CA in the secrets bundle, with no call
//! to the cluster: a P-256 key, a certificate `CN=<username>`, `O=<groups>` (default
//! `admin` / `system:masters`), extended key usage clientAuth, valid for the TTL.
//! The kubeconfig has cluster `<cluster>`, user and context `<username>@<cluster>`.
//!
//! Two ways to mint:
//! - [`mint`]: a fresh random key, valid from the given instant (credentials that never reach
//!   Terraform state or plans: the provider's own connections, the ephemeral resource, and the
//!   cluster's stored outputs, which are minted once and kept).
//! - [`mint_in_window`]: derived from the CA key for the renewal [`Window`] holding the given
//!   instant, so every read within one window returns the same bytes (the data source: a plan
//!   after an apply stays empty), and a read always gets at least half the TTL of validity.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::pki::{certs, derived, keys::KeyAlgorithm};
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

/// Checks the request's own fields.
fn check(request: &KubeconfigRequest) -> Result<(), Error> {
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
    Ok(())
}

fn client_spec(request: &KubeconfigRequest, not_before: OffsetDateTime) -> certs::ClientSpec<'_> {
    certs::ClientSpec {
        common_name: Some(&request.username),
        organizations: &request.groups,
        algorithm: KeyAlgorithm::EcdsaP256,
        not_before,
        validity: request.ttl,
    }
}

/// Mints a kubeconfig from the bundle's Kubernetes CA with a new random key, valid from `now`.
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
    check(request)?;
    let issued = certs::issue_client(&secrets.kubernetes_ca, &client_spec(request, now), rng)
        .map_err(|source| Error::Issue { source })?;
    render(secrets, request, issued, now + request.ttl)
}

/// The renewal window of credentials with lifetime `ttl`: time is cut into windows of half the
/// TTL (whole seconds, counted from the Unix epoch, so every reader agrees on them), and
/// credentials read during a window are valid from its start for the TTL. So a credential is
/// replaced only once less than half its lifetime remains, and one read at any instant stays
/// valid for at least `ttl / 2` after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start of the window, and of the credentials' validity.
    pub not_before: OffsetDateTime,
    /// End of the credentials' validity: `not_before + ttl`.
    pub not_after: OffsetDateTime,
    /// When the next window starts (`not_before + ttl / 2`): reads from then on get new
    /// credentials.
    pub renews_at: OffsetDateTime,
}

impl Window {
    /// The window holding `at` for credentials of lifetime `ttl`.
    ///
    /// # Errors
    /// [`Error::InvalidTtl`] for a TTL under 2 seconds (no whole-second half); [`Error::Invalid`]
    /// when the window falls outside the representable dates.
    pub fn holding(at: OffsetDateTime, ttl: Duration) -> Result<Self, Error> {
        let seconds = ttl.whole_seconds();
        if seconds < 2 {
            return Err(Error::InvalidTtl { ttl });
        }
        // Rounding the half down keeps `not_after - at > ttl - half >= ttl / 2`.
        let half = seconds / 2;
        let start = at.unix_timestamp().div_euclid(half) * half;
        let out_of_range = || Error::Invalid {
            reason: format!("no renewal window of {ttl} holds {at}"),
        };
        let instant = |offset: i64| {
            start
                .checked_add(offset)
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                .ok_or_else(out_of_range)
        };
        Ok(Self {
            not_before: instant(0)?,
            not_after: instant(seconds)?,
            renews_at: instant(half)?,
        })
    }
}

/// Mints the kubeconfig for the renewal [`Window`] holding `at`, with a key and certificate
/// derived from the Kubernetes CA key, the identity (user name, groups), the TTL and the window:
/// the same bytes for every call within one window, other bytes in the next.
///
/// # Errors
/// As [`mint`], plus [`Error::Issue`] for a CA key that cannot sign deterministically.
pub fn mint_in_window(
    secrets: &SecretsBundle,
    request: &KubeconfigRequest,
    at: OffsetDateTime,
) -> Result<Kubeconfig, Error> {
    check(request)?;
    let window = Window::holding(at, request.ttl)?;
    let issued = derived::issue_client(
        &secrets.kubernetes_ca,
        &client_spec(request, window.not_before),
        "hk8s_kubeconfig",
    )
    .map_err(|source| Error::Issue { source })?;
    render(secrets, request, issued, window.not_after)
}

/// The kubeconfig file holding `issued` (a certificate expiring at `expires_at`).
fn render(
    secrets: &SecretsBundle,
    request: &KubeconfigRequest,
    issued: certs::CertAndKey,
    expires_at: OffsetDateTime,
) -> Result<Kubeconfig, Error> {
    let credentials = ClientCredentials {
        ca_pem: secrets.kubernetes_ca.cert_pem.clone(),
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
        expires_at,
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
