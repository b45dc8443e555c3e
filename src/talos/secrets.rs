//! The cluster secrets bundle: what `talosctl gen secrets` writes, generated and parsed the way
//! Talos's `pkg/machinery/config/generate/secrets` does.
//!
//! The YAML layout (`secrets.yaml`) is talosctl's: lower-case Go field names, 4-space indent,
//! `crt`/`key` holding base64 of the PEM text:
//!
//! ```yaml
//! cluster: {id, secret}
//! secrets: {bootstraptoken, secretboxencryptionsecret | aescbcencryptionsecret}
//! trustdinfo: {token}
//! certs: {etcd, k8s, k8saggregator, k8sserviceaccount (key only), os}
//! ```
//!
//! Generation per version contract (all supported contracts are newer than 1.6, so the
//! service-account key is RSA-4096 and encryption uses secretbox):
//!
//! | item | value |
//! |---|---|
//! | `certs.os` | Ed25519 CA, `O=talos` |
//! | `certs.k8s` | P-256 CA, `O=kubernetes` |
//! | `certs.k8saggregator` | P-256 CA, empty subject |
//! | `certs.etcd` | P-256 CA, `O=etcd` |
//! | CA validity | 87600 h from the injected "now" |
//! | `certs.k8sserviceaccount` | RSA-4096, PKCS#1 |
//! | tokens | `[0-9a-z]{6}.[0-9a-z]{16}` |
//! | `secretboxencryptionsecret`, `cluster.secret` | 32 random bytes, standard base64 |
//! | `cluster.id` | 32 random bytes; URL-safe base64 before 1.14, standard base64 from 1.14 |

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::pki::{self, certs, keys::KeyAlgorithm};
use super::version::VersionContract;
use super::yaml;

/// How long Talos's generated CAs are valid (`CAValidityTime = 87600h`).
pub const CA_VALIDITY: Duration = Duration::hours(87_600);

/// The secrets shared by every node of a cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretsBundle {
    /// Cluster identity used by discovery (`cluster.id`, `cluster.secret`).
    pub cluster_id: String,
    /// See [`Self::cluster_id`].
    pub cluster_secret: String,
    /// Kubernetes bootstrap token `[0-9a-z]{6}.[0-9a-z]{16}`.
    pub bootstrap_token: String,
    /// Encryption-at-rest key for Kubernetes secrets.
    pub encryption: EncryptionSecret,
    /// trustd token used by nodes to request certificates.
    pub trustd_token: String,
    /// etcd CA.
    pub etcd_ca: certs::CertAndKey,
    /// Kubernetes CA.
    pub kubernetes_ca: certs::CertAndKey,
    /// Kubernetes front-proxy (aggregator) CA.
    pub aggregator_ca: certs::CertAndKey,
    /// Kubernetes service-account signing key (PEM).
    pub service_account_key: String,
    /// Talos API CA.
    pub os_ca: certs::CertAndKey,
}

impl std::fmt::Debug for SecretsBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsBundle([secrets elided])")
    }
}

/// The Kubernetes secrets-encryption key; Talos writes secretbox for every contract after 1.2
/// and keeps accepting AES-CBC bundles made for older contracts.
#[derive(Clone, PartialEq, Eq)]
pub enum EncryptionSecret {
    /// `secretboxencryptionsecret` (32 bytes, standard base64).
    Secretbox(String),
    /// `aescbcencryptionsecret` from bundles generated for Talos ≤ 1.2.
    AesCbc(String),
}

/// Errors from generating, parsing or validating a bundle.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Key or certificate generation failed.
    #[error("cannot generate {item}: {source}")]
    Generate {
        /// Which part of the bundle.
        item: &'static str,
        /// The PKI error.
        #[source]
        source: pki::Error,
    },
    /// The YAML does not parse or lacks required fields.
    #[error("invalid secrets YAML: {source}")]
    Yaml {
        /// The parser error (with line/column).
        #[source]
        source: yaml::Error,
    },
    /// A field is present but wrong; `field` is the YAML path (e.g. `certs.k8s.key`).
    #[error("invalid secrets bundle: {field}: {reason}")]
    Invalid {
        /// YAML path of the field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Generates a bundle as `talosctl gen secrets --talos-version <contract>` does.
///
/// `now` becomes every CA's NotBefore; `rng` supplies tokens, secrets, serials and key
/// identifiers (keys themselves come from the OS CSPRNG). With a seeded `rng` and fixed `now`
/// everything except key material and signatures is reproducible.
///
/// # Errors
/// [`Error::Generate`] if the crypto library fails.
pub fn generate<R: rand::CryptoRng + ?Sized>(
    contract: VersionContract,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<SecretsBundle, Error> {
    let mut ca = |item: &'static str, organization: Option<&str>, algorithm| {
        certs::issue_ca(
            &certs::CaSpec {
                organization,
                algorithm,
                not_before: now,
                validity: CA_VALIDITY,
            },
            &mut *rng,
        )
        .map_err(|source| Error::Generate { item, source })
    };
    // Same order as Talos's populate(): etcd, k8s, aggregator, service account, os.
    let etcd_ca = ca("certs.etcd", Some("etcd"), KeyAlgorithm::EcdsaP256)?;
    let kubernetes_ca = ca("certs.k8s", Some("kubernetes"), KeyAlgorithm::EcdsaP256)?;
    let aggregator_ca = ca("certs.k8saggregator", None, KeyAlgorithm::EcdsaP256)?;
    let service_account_key = pki::keys::generate(KeyAlgorithm::Rsa4096)
        .map_err(|source| Error::Generate {
            item: "certs.k8sserviceaccount",
            source,
        })?
        .pem;
    let os_ca = ca("certs.os", Some("talos"), KeyAlgorithm::Ed25519)?;

    let bootstrap_token = random_token(rng);
    let encryption = EncryptionSecret::Secretbox(STANDARD.encode(random_bytes::<32, R>(rng)));
    let trustd_token = random_token(rng);
    let cluster_id_bytes = random_bytes::<32, R>(rng);
    let cluster_id = if contract.cluster_id_standard_base64() {
        STANDARD.encode(cluster_id_bytes)
    } else {
        URL_SAFE.encode(cluster_id_bytes)
    };
    let cluster_secret = STANDARD.encode(random_bytes::<32, R>(rng));

    Ok(SecretsBundle {
        cluster_id,
        cluster_secret,
        bootstrap_token,
        encryption,
        trustd_token,
        etcd_ca,
        kubernetes_ca,
        aggregator_ca,
        service_account_key,
        os_ca,
    })
}

fn random_bytes<const N: usize, R: rand::CryptoRng + ?Sized>(rng: &mut R) -> [u8; N] {
    let mut bytes = [0u8; N];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// `[0-9a-z]{6}.[0-9a-z]{16}` by rejection sampling (bytes ≥ 252 are dropped so every
/// character is equally likely), as Talos's `genToken(6, 16)`.
fn random_token<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut part = |length: usize| {
        let mut out = String::with_capacity(length);
        while out.len() < length {
            let [byte] = random_bytes::<1, R>(rng);
            if byte < 252 {
                out.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
            }
        }
        out
    };
    let first = part(6);
    let second = part(16);
    format!("{first}.{second}")
}

// ---- The talosctl YAML layout. ----

#[derive(Serialize, Deserialize)]
struct SecretsFile {
    cluster: ClusterFile,
    secrets: EncryptionFile,
    trustdinfo: TrustdFile,
    certs: CertsFile,
}

#[derive(Serialize, Deserialize)]
struct ClusterFile {
    id: String,
    secret: String,
}

#[derive(Serialize, Deserialize)]
struct EncryptionFile {
    bootstraptoken: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aescbcencryptionsecret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secretboxencryptionsecret: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct TrustdFile {
    token: String,
}

#[derive(Serialize, Deserialize)]
struct CertsFile {
    etcd: PemPairFile,
    k8s: PemPairFile,
    k8saggregator: PemPairFile,
    k8sserviceaccount: PemKeyFile,
    os: PemPairFile,
}

#[derive(Serialize, Deserialize)]
struct PemPairFile {
    crt: String,
    key: String,
}

#[derive(Serialize, Deserialize)]
struct PemKeyFile {
    key: String,
}

fn decode_pem_field(field: &'static str, value: &str) -> Result<String, Error> {
    let bytes = STANDARD.decode(value.trim()).map_err(|_| Error::Invalid {
        field,
        reason: "expected base64 of a PEM block".into(),
    })?;
    String::from_utf8(bytes).map_err(|_| Error::Invalid {
        field,
        reason: "the base64 does not decode to PEM text".into(),
    })
}

impl SecretsBundle {
    /// Parses a `secrets.yaml` as written by `talosctl gen secrets` (or [`Self::to_yaml`]) and
    /// validates it with [`Self::validate`].
    ///
    /// # Errors
    /// [`Error::Yaml`] for malformed YAML or missing fields, [`Error::Invalid`] naming the field
    /// that is wrong.
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        let file: SecretsFile = yaml::from_str(text).map_err(|source| Error::Yaml { source })?;
        let pair = |crt_field, key_field, pair: &PemPairFile| -> Result<certs::CertAndKey, Error> {
            Ok(certs::CertAndKey {
                cert_pem: decode_pem_field(crt_field, &pair.crt)?,
                key_pem: decode_pem_field(key_field, &pair.key)?,
            })
        };
        let encryption = match (
            file.secrets.secretboxencryptionsecret,
            file.secrets.aescbcencryptionsecret,
        ) {
            (Some(secret), None) => EncryptionSecret::Secretbox(secret),
            (None, Some(secret)) => EncryptionSecret::AesCbc(secret),
            (None, None) => {
                return Err(Error::Invalid {
                    field: "secrets",
                    reason:
                        "one of secretboxencryptionsecret or aescbcencryptionsecret is required"
                            .into(),
                });
            }
            (Some(_), Some(_)) => {
                return Err(Error::Invalid {
                    field: "secrets",
                    reason:
                        "only one of secretboxencryptionsecret or aescbcencryptionsecret is allowed"
                            .into(),
                });
            }
        };
        let bundle = SecretsBundle {
            cluster_id: file.cluster.id,
            cluster_secret: file.cluster.secret,
            bootstrap_token: file.secrets.bootstraptoken,
            encryption,
            trustd_token: file.trustdinfo.token,
            etcd_ca: pair("certs.etcd.crt", "certs.etcd.key", &file.certs.etcd)?,
            kubernetes_ca: pair("certs.k8s.crt", "certs.k8s.key", &file.certs.k8s)?,
            aggregator_ca: pair(
                "certs.k8saggregator.crt",
                "certs.k8saggregator.key",
                &file.certs.k8saggregator,
            )?,
            service_account_key: decode_pem_field(
                "certs.k8sserviceaccount.key",
                &file.certs.k8sserviceaccount.key,
            )?,
            os_ca: pair("certs.os.crt", "certs.os.key", &file.certs.os)?,
        };
        bundle.validate()?;
        Ok(bundle)
    }

    /// Renders the bundle in talosctl's `secrets.yaml` layout. Parsing the output with
    /// [`Self::from_yaml`] and rendering again gives the same bytes.
    ///
    /// # Errors
    /// [`Error::Yaml`] if rendering fails (not expected for valid strings).
    pub fn to_yaml(&self) -> Result<String, Error> {
        let pair = |pair: &certs::CertAndKey| PemPairFile {
            crt: STANDARD.encode(&pair.cert_pem),
            key: STANDARD.encode(&pair.key_pem),
        };
        let (secretbox, aescbc) = match &self.encryption {
            EncryptionSecret::Secretbox(secret) => (Some(secret.clone()), None),
            EncryptionSecret::AesCbc(secret) => (None, Some(secret.clone())),
        };
        let file = SecretsFile {
            cluster: ClusterFile {
                id: self.cluster_id.clone(),
                secret: self.cluster_secret.clone(),
            },
            secrets: EncryptionFile {
                bootstraptoken: self.bootstrap_token.clone(),
                aescbcencryptionsecret: aescbc,
                secretboxencryptionsecret: secretbox,
            },
            trustdinfo: TrustdFile {
                token: self.trustd_token.clone(),
            },
            certs: CertsFile {
                etcd: pair(&self.etcd_ca),
                k8s: pair(&self.kubernetes_ca),
                k8saggregator: pair(&self.aggregator_ca),
                k8sserviceaccount: PemKeyFile {
                    key: STANDARD.encode(&self.service_account_key),
                },
                os: pair(&self.os_ca),
            },
        };
        yaml::to_string(&file).map_err(|source| Error::Yaml { source })
    }

    /// Checks every field the way Talos's `Bundle.Validate` does, plus the formats Talos checks
    /// later on the node: token syntax, 32-byte standard-base64 cluster and encryption secrets,
    /// CA certificates that are CAs and keys of the algorithm Talos uses for each.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first wrong field.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |field: &'static str, reason: String| Error::Invalid { field, reason };
        if self.cluster_id.is_empty() {
            return Err(invalid("cluster.id", "is required".into()));
        }
        check_base64_32("cluster.secret", &self.cluster_secret)?;
        check_token("secrets.bootstraptoken", &self.bootstrap_token)?;
        match &self.encryption {
            EncryptionSecret::Secretbox(secret) => {
                check_base64_32("secrets.secretboxencryptionsecret", secret)?;
            }
            EncryptionSecret::AesCbc(secret) => {
                check_base64_32("secrets.aescbcencryptionsecret", secret)?;
            }
        }
        check_token("trustdinfo.token", &self.trustd_token)?;
        for (crt_field, key_field, pair) in [
            ("certs.etcd.crt", "certs.etcd.key", &self.etcd_ca),
            ("certs.k8s.crt", "certs.k8s.key", &self.kubernetes_ca),
            (
                "certs.k8saggregator.crt",
                "certs.k8saggregator.key",
                &self.aggregator_ca,
            ),
            ("certs.os.crt", "certs.os.key", &self.os_ca),
        ] {
            let info = certs::inspect(&pair.cert_pem)
                .map_err(|source| invalid(crt_field, source.to_string()))?;
            if !info.is_ca {
                return Err(invalid(crt_field, "is not a CA certificate".into()));
            }
            pki::keys::check(&pair.key_pem)
                .map_err(|source| invalid(key_field, source.to_string()))?;
        }
        pki::keys::check(&self.service_account_key)
            .map_err(|source| invalid("certs.k8sserviceaccount.key", source.to_string()))?;
        Ok(())
    }

    /// The Kubernetes CA certificate (PEM), as clients need it.
    pub fn kubernetes_ca_cert(&self) -> &str {
        &self.kubernetes_ca.cert_pem
    }
}

fn check_token(field: &'static str, token: &str) -> Result<(), Error> {
    let valid_part = |part: &str, length: usize| {
        part.len() == length
            && part
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    match token.split_once('.') {
        Some((id, secret)) if valid_part(id, 6) && valid_part(secret, 16) => Ok(()),
        _ => Err(Error::Invalid {
            field,
            reason: "must match [0-9a-z]{6}.[0-9a-z]{16}".into(),
        }),
    }
}

fn check_base64_32(field: &'static str, value: &str) -> Result<(), Error> {
    match STANDARD.decode(value) {
        Ok(bytes) if bytes.len() == 32 => Ok(()),
        Ok(bytes) => Err(Error::Invalid {
            field,
            reason: format!("must decode to 32 bytes, got {}", bytes.len()),
        }),
        Err(_) => Err(Error::Invalid {
            field,
            reason: "must be standard base64".into(),
        }),
    }
}

#[cfg(test)]
#[path = "secrets_tests.rs"]
mod tests;
