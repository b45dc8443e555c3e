//! Client certificates derived from their CA's key instead of generated: the same CA, subject,
//! validity and purpose always give the byte-identical key and certificate.
//!
//! This is what lets a Terraform data source return stable credentials (a plan after an apply
//! stays empty) without storing anything: the secret already in state, the CA key, is the root.
//!
//! - Key and serial: HKDF-SHA256 (RFC 5869) with the CA's private key (its PEM body) as input
//!   keying material, a fixed salt, and an `info` that encodes the purpose and every field of the
//!   certificate's [`ClientSpec`] (length-prefixed, so no two specs share an encoding). The
//!   output is one-way: the certificate's holder learns nothing about the CA key from its key.
//! - Signature: ECDSA P-256 CA keys sign with RFC 6979 deterministic nonces (aws-lc only signs
//!   with random ones); Ed25519 and RSA PKCS#1 v1.5 signatures are deterministic by
//!   construction, so those keys sign as usual. Any other CA key is refused.

use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Prk, Salt};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use p256::ecdsa::signature::Signer as _;
use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};

use super::certs::{self, CertAndKey, ClientSpec};
use super::keys;
use super::{Error, pem};

/// Domain separation: bumping it changes every derived credential.
const SALT: &[u8] = b"hk8s/derived-client-certificate/v1";

/// Output length for [`Prk::expand`].
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// Appends `bytes` with a 4-byte big-endian length prefix.
fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The HKDF `info` prefix naming `purpose` and every field of `spec`.
fn spec_info(purpose: &str, spec: &ClientSpec<'_>) -> Vec<u8> {
    let mut info = Vec::new();
    push_field(&mut info, purpose.as_bytes());
    push_field(&mut info, spec.common_name.unwrap_or("").as_bytes());
    push_field(&mut info, &[u8::from(spec.common_name.is_some())]);
    push_field(
        &mut info,
        &u32::try_from(spec.organizations.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for organization in spec.organizations {
        push_field(&mut info, organization.as_bytes());
    }
    push_field(&mut info, format!("{:?}", spec.algorithm).as_bytes());
    push_field(&mut info, &spec.not_before.unix_timestamp().to_be_bytes());
    push_field(&mut info, &spec.validity.whole_seconds().to_be_bytes());
    info
}

/// The key derivation for one certificate.
struct Kdf {
    prk: Prk,
    info: Vec<u8>,
}

impl Kdf {
    fn new(ca_key_der: &[u8], info: Vec<u8>) -> Self {
        Self {
            prk: Salt::new(HKDF_SHA256, SALT).extract(ca_key_der),
            info,
        }
    }

    /// `N` bytes for `label` (what they are used for) and `attempt`.
    fn bytes<const N: usize>(&self, label: &str, attempt: u8) -> Result<[u8; N], Error> {
        let failed = || Error::Derivation {
            step: "HKDF expand",
        };
        let mut out = [0u8; N];
        let label_field = {
            let mut field = Vec::new();
            push_field(&mut field, label.as_bytes());
            field.push(attempt);
            field
        };
        self.prk
            .expand(&[&self.info, &label_field], Len(N))
            .map_err(|_| failed())?
            .fill(&mut out)
            .map_err(|_| failed())?;
        Ok(out)
    }
}

/// A CA key that signs deterministically.
struct DeterministicSigner {
    /// The key as rcgen reads it: public key and algorithm, and the signature for Ed25519/RSA.
    pair: rcgen::KeyPair,
    /// For P-256 keys, the same key signing with RFC 6979 nonces.
    p256: Option<p256::ecdsa::SigningKey>,
}

impl DeterministicSigner {
    fn load(key_pem: &str) -> Result<Self, Error> {
        let pair = keys::load_signer(key_pem)?;
        let algorithm = pair.algorithm();
        if algorithm == &rcgen::PKCS_ECDSA_P256_SHA256 {
            let der = pem::decode(key_pem)?.der;
            // aws-lc reads SEC1 and PKCS#8 and hands out the raw scalar.
            let key = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &der)
                .or_else(|_| EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der))
                .map_err(|_| Error::Derivation {
                    step: "read the P-256 CA key",
                })?;
            let scalar: EcPrivateKeyBin<'_> =
                key.private_key()
                    .as_be_bytes()
                    .map_err(|_| Error::Derivation {
                        step: "read the P-256 CA key",
                    })?;
            let signing = p256::ecdsa::SigningKey::from_slice(scalar.as_ref()).map_err(|_| {
                Error::Derivation {
                    step: "read the P-256 CA key",
                }
            })?;
            return Ok(Self {
                pair,
                p256: Some(signing),
            });
        }
        let deterministic = algorithm == &rcgen::PKCS_ED25519
            || algorithm == &rcgen::PKCS_RSA_SHA256
            || algorithm == &rcgen::PKCS_RSA_SHA384
            || algorithm == &rcgen::PKCS_RSA_SHA512;
        if !deterministic {
            return Err(Error::Derivation {
                step: "the CA key's algorithm has no deterministic signature (use P-256, Ed25519 or RSA)",
            });
        }
        Ok(Self { pair, p256: None })
    }
}

impl PublicKeyData for DeterministicSigner {
    fn der_bytes(&self) -> &[u8] {
        self.pair.der_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.pair.algorithm()
    }
}

impl SigningKey for DeterministicSigner {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match &self.p256 {
            // ecdsa-with-SHA256, DER-encoded (r, s), as X.509 and rcgen's algorithm expect.
            Some(key) => {
                let signature: p256::ecdsa::Signature = key.sign(msg);
                Ok(signature.to_der().as_bytes().to_vec())
            }
            None => self.pair.sign(msg),
        }
    }
}

/// Issues the client certificate `spec` describes, signed by `ca`, with a key and serial
/// derived from `ca`'s key, `purpose` and `spec`: calling it again with the same arguments
/// returns the same bytes. `purpose` separates uses (e.g. `"kubeconfig"`).
///
/// # Errors
/// [`Error::Pem`] / [`Error::UnsupportedKey`] / [`Error::InvalidCertificate`] for a broken CA,
/// [`Error::Derivation`] for a CA key that cannot sign deterministically,
/// [`Error::KeyGeneration`] for an RSA client key, [`Error::Certificate`] if signing fails.
pub fn issue_client(
    ca: &CertAndKey,
    spec: &ClientSpec<'_>,
    purpose: &str,
) -> Result<CertAndKey, Error> {
    let signer = DeterministicSigner::load(&ca.key_pem)?;
    let kdf = Kdf::new(&pem::decode(&ca.key_pem)?.der, spec_info(purpose, spec));
    let key = keys::derive(spec.algorithm, |attempt| kdf.bytes::<32>("key", attempt))?;
    let serial = certs::serial_from(kdf.bytes::<16>("serial", 0)?);
    certs::sign_client(ca, &signer, spec, key, serial)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::talos::pki::keys::KeyAlgorithm;
    use rand::SeedableRng;
    use time::{Duration, OffsetDateTime};

    fn ca(algorithm: KeyAlgorithm) -> CertAndKey {
        certs::issue_ca(
            &certs::CaSpec {
                organization: Some("kubernetes"),
                algorithm,
                not_before: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
                validity: Duration::hours(87600),
            },
            &mut rand::rngs::StdRng::seed_from_u64(1),
        )
        .unwrap()
    }

    fn spec<'a>(organizations: &'a [String], not_before: i64) -> ClientSpec<'a> {
        ClientSpec {
            common_name: Some("admin"),
            organizations,
            algorithm: KeyAlgorithm::EcdsaP256,
            not_before: OffsetDateTime::from_unix_timestamp(not_before).unwrap(),
            validity: Duration::hours(8),
        }
    }

    #[test]
    fn same_inputs_same_bytes_any_change_other_bytes() {
        let groups = vec!["system:masters".to_owned()];
        for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
            let ca = ca(algorithm);
            let first = issue_client(&ca, &spec(&groups, 1_800_000_000), "kubeconfig").unwrap();
            let again = issue_client(&ca, &spec(&groups, 1_800_000_000), "kubeconfig").unwrap();
            assert_eq!(first, again, "{algorithm:?}");
            let later = issue_client(&ca, &spec(&groups, 1_800_014_400), "kubeconfig").unwrap();
            assert_ne!(first.key_pem, later.key_pem);
            assert_ne!(first.cert_pem, later.cert_pem);
            let other = issue_client(&ca, &spec(&groups, 1_800_000_000), "other").unwrap();
            assert_ne!(first.key_pem, other.key_pem);
            let two = vec!["a".to_owned(), "b".to_owned()];
            let split = vec!["ab".to_owned()];
            assert_ne!(
                issue_client(&ca, &spec(&two, 1_800_000_000), "kubeconfig")
                    .unwrap()
                    .key_pem,
                issue_client(&ca, &spec(&split, 1_800_000_000), "kubeconfig")
                    .unwrap()
                    .key_pem,
                "fields are length-prefixed"
            );
            // Another CA (another key) derives other credentials for the same spec.
            let other_ca = issue_client(
                &self::ca(algorithm),
                &spec(&groups, 1_800_000_000),
                "kubeconfig",
            )
            .unwrap();
            assert_ne!(first.key_pem, other_ca.key_pem);
        }
    }

    #[test]
    fn several_groups_are_resigned_deterministically() {
        let ca = ca(KeyAlgorithm::EcdsaP256);
        let groups = vec!["deployers".to_owned(), "viewers".to_owned()];
        let first = issue_client(&ca, &spec(&groups, 1_800_000_000), "kubeconfig").unwrap();
        let again = issue_client(&ca, &spec(&groups, 1_800_000_000), "kubeconfig").unwrap();
        assert_eq!(first.cert_pem, again.cert_pem);
    }

    #[test]
    fn p256_signatures_follow_rfc_6979() {
        // RFC 6979 A.2.5, P-256 with SHA-256, message "sample".
        let scalar = [
            0xC9, 0xAF, 0xA9, 0xD8, 0x45, 0xBA, 0x75, 0x16, 0x6B, 0x5C, 0x21, 0x57, 0x67, 0xB1,
            0xD6, 0x93, 0x4E, 0x50, 0xC3, 0xDB, 0x36, 0xE8, 0x9B, 0x12, 0x7B, 0x8A, 0x62, 0x2B,
            0x12, 0x0F, 0x67, 0x21,
        ];
        let key = p256::ecdsa::SigningKey::from_slice(&scalar).unwrap();
        let signature: p256::ecdsa::Signature = key.sign(b"sample");
        let r = [
            0xEF, 0xD4, 0x8B, 0x2A, 0xAC, 0xB6, 0xA8, 0xFD, 0x11, 0x40, 0xDD, 0x9C, 0xD4, 0x5E,
            0x81, 0xD6, 0x9D, 0x2C, 0x87, 0x7B, 0x56, 0xAA, 0xF9, 0x91, 0xC3, 0x4D, 0x0E, 0xA8,
            0x4E, 0xAF, 0x37, 0x16,
        ];
        assert_eq!(&signature.to_bytes()[..32], &r);
    }
}
