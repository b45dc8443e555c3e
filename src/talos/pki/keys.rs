//! Private keys in the algorithms and encodings Talos uses.
//!
//! | use | algorithm | PEM label (body) |
//! |---|---|---|
//! | Talos API CA, admin client | Ed25519 | `ED25519 PRIVATE KEY` (PKCS#8) |
//! | etcd, Kubernetes, aggregator CAs, kubeconfig client | ECDSA P-256 | `EC PRIVATE KEY` (SEC1, with curve and public key) |
//! | service-account signing key | RSA-4096 | `RSA PRIVATE KEY` (PKCS#1) |
//!
//! This mirrors `siderolabs/crypto/x509/key.go`, so files move between talosctl and us unchanged.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use x509_parser::der_parser;

use super::{Error, pem};

/// The key algorithms Talos uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// Ed25519 (Talos API PKI).
    Ed25519,
    /// ECDSA on NIST P-256 with SHA-256 signatures (Kubernetes and etcd PKI).
    EcdsaP256,
    /// RSA with a 4096-bit modulus (service-account tokens, Talos > 1.6).
    Rsa4096,
}

/// A freshly generated private key.
pub struct GeneratedKey {
    /// The key in Talos's PEM encoding for its algorithm.
    pub pem: String,
    /// The key as rcgen needs it for signing; `None` for RSA, which only signs tokens.
    pub signer: Option<rcgen::KeyPair>,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GeneratedKey([secret elided])")
    }
}

/// Generates a key of `algorithm` from the operating system's CSPRNG (aws-lc cannot take a
/// caller's RNG, so generated keys are never reproducible; [`derive`] makes reproducible ones
/// from secret bytes).
///
/// # Errors
/// [`Error::KeyGeneration`] if the crypto library fails.
pub fn generate(algorithm: KeyAlgorithm) -> Result<GeneratedKey, Error> {
    let failed = |step: &'static str| Error::KeyGeneration { algorithm, step };
    match algorithm {
        KeyAlgorithm::Ed25519 => {
            encode_ed25519(&Ed25519KeyPair::generate().map_err(|_| failed("generate"))?)
        }
        KeyAlgorithm::EcdsaP256 => encode_p256(
            &EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
                .map_err(|_| failed("generate"))?,
        ),
        KeyAlgorithm::Rsa4096 => {
            let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa4096)
                .map_err(|_| failed("generate"))?;
            let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key)
                .map_err(|_| failed("encode PKCS#8"))?;
            let pkcs1 = pkcs8_inner_key(pkcs8.as_ref()).ok_or_else(|| failed("encode PKCS#1"))?;
            Ok(GeneratedKey {
                pem: pem::encode(pem::RSA_PRIVATE_KEY, &pkcs1),
                signer: None,
            })
        }
    }
}

fn encode_ed25519(key: &Ed25519KeyPair) -> Result<GeneratedKey, Error> {
    let failed = |step: &'static str| Error::KeyGeneration {
        algorithm: KeyAlgorithm::Ed25519,
        step,
    };
    // Go's MarshalPKCS8PrivateKey writes PKCS#8 v1 (no embedded public key).
    let pkcs8 = key.to_pkcs8v1().map_err(|_| failed("encode PKCS#8"))?;
    let signer = rcgen::KeyPair::try_from(pkcs8.as_ref())
        .map_err(|_| failed("load into the certificate builder"))?;
    Ok(GeneratedKey {
        pem: pem::encode(pem::ED25519_PRIVATE_KEY, pkcs8.as_ref()),
        signer: Some(signer),
    })
}

fn encode_p256(key: &EcdsaKeyPair) -> Result<GeneratedKey, Error> {
    let failed = |step: &'static str| Error::KeyGeneration {
        algorithm: KeyAlgorithm::EcdsaP256,
        step,
    };
    let sec1 = key
        .private_key()
        .as_der()
        .map_err(|_| failed("encode SEC1"))?;
    let pkcs8 = key.to_pkcs8v1().map_err(|_| failed("encode PKCS#8"))?;
    let signer = rcgen::KeyPair::try_from(pkcs8.as_ref())
        .map_err(|_| failed("load into the certificate builder"))?;
    Ok(GeneratedKey {
        pem: pem::encode(pem::EC_PRIVATE_KEY, sec1.as_ref()),
        signer: Some(signer),
    })
}

/// Derives a key of `algorithm` from secret bytes instead of the CSPRNG: `secret(attempt)` must
/// return 32 uniformly distributed secret bytes, different for each attempt. Ed25519 uses them
/// as the seed; ECDSA P-256 as the scalar, asking for the next attempt in the (2^-32 likely)
/// case that they are zero or not below the group order. Same bytes, same key, same PEM.
///
/// # Errors
/// [`Error::KeyGeneration`] if the crypto library fails (or, for P-256, 16 attempts in a row
/// are out of range, which does not happen with a working key derivation function); RSA keys
/// cannot be derived.
pub fn derive(
    algorithm: KeyAlgorithm,
    mut secret: impl FnMut(u8) -> Result<[u8; 32], Error>,
) -> Result<GeneratedKey, Error> {
    let failed = |step: &'static str| Error::KeyGeneration { algorithm, step };
    match algorithm {
        KeyAlgorithm::Ed25519 => {
            let seed = secret(0)?;
            encode_ed25519(
                &Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| failed("derive"))?,
            )
        }
        KeyAlgorithm::EcdsaP256 => {
            for attempt in 0..16 {
                let scalar = secret(attempt)?;
                // ECDH's key loader checks 0 < scalar < n and computes the public point.
                let Ok(private) = aws_lc_rs::agreement::PrivateKey::from_private_key(
                    &aws_lc_rs::agreement::ECDH_P256,
                    &scalar,
                ) else {
                    continue;
                };
                let public = private
                    .compute_public_key()
                    .map_err(|_| failed("compute the public key"))?;
                let key = EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_ASN1_SIGNING,
                    &scalar,
                    public.as_ref(),
                )
                .map_err(|_| failed("derive"))?;
                return encode_p256(&key);
            }
            Err(failed("derive: no valid scalar"))
        }
        KeyAlgorithm::Rsa4096 => Err(failed("RSA keys cannot be derived")),
    }
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo`: for RSA that is the PKCS#1
/// `RSAPrivateKey`.
fn pkcs8_inner_key(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let (_, info) = der_parser::parse_der(pkcs8).ok()?;
    let fields = info.as_sequence().ok()?;
    fields.get(2)?.as_slice().ok().map(<[u8]>::to_vec)
}

/// Loads a signing key from any PEM Talos writes (`ED25519 PRIVATE KEY`, `EC PRIVATE KEY`,
/// `PRIVATE KEY`).
///
/// # Errors
/// [`Error::Pem`] for broken armour, [`Error::UnsupportedKey`] for other key types.
pub fn load_signer(key_pem: &str) -> Result<rcgen::KeyPair, Error> {
    let block = pem::decode(key_pem)?;
    rcgen::KeyPair::try_from(block.der.as_slice()).map_err(|source| Error::UnsupportedKey {
        label: block.label,
        source,
    })
}

/// The kind of a parsed private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Ed25519.
    Ed25519,
    /// ECDSA P-256.
    EcdsaP256,
    /// RSA of any size (kubeadm PKIs bring 2048-bit service-account keys).
    Rsa,
}

/// Checks that `key_pem` is a key Talos can read: the label matches its body and the body
/// parses (RSA PKCS#1, SEC1 EC, or PKCS#8 under `ED25519 PRIVATE KEY`/`PRIVATE KEY`).
///
/// # Errors
/// [`Error::Pem`] or [`Error::UnsupportedKey`] naming the label.
pub fn check(key_pem: &str) -> Result<KeyKind, Error> {
    let block = pem::decode(key_pem)?;
    let rejected = |label: &str| Error::InvalidKey {
        label: label.to_owned(),
    };
    match block.label.as_str() {
        pem::RSA_PRIVATE_KEY => aws_lc_rs::rsa::KeyPair::from_der(&block.der)
            .map(|_| KeyKind::Rsa)
            .map_err(|_| rejected(&block.label)),
        pem::EC_PRIVATE_KEY | pem::ED25519_PRIVATE_KEY | pem::PRIVATE_KEY => {
            let signer = load_signer(key_pem)?;
            if signer.algorithm() == &rcgen::PKCS_ED25519 {
                Ok(KeyKind::Ed25519)
            } else if signer.algorithm() == &rcgen::PKCS_ECDSA_P256_SHA256 {
                Ok(KeyKind::EcdsaP256)
            } else {
                Err(rejected(&block.label))
            }
        }
        _ => Err(rejected(&block.label)),
    }
}

/// Rewrites Talos's `ED25519 PRIVATE KEY` label as `PRIVATE KEY` (same PKCS#8 body), the form
/// rustls and most tools accept; other keys are returned unchanged.
///
/// # Errors
/// [`Error::Pem`] for broken armour.
pub fn to_standard_label(key_pem: &str) -> Result<String, Error> {
    let block = pem::decode(key_pem)?;
    if block.label == pem::ED25519_PRIVATE_KEY {
        Ok(pem::encode(pem::PRIVATE_KEY, &block.der))
    } else {
        Ok(key_pem.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_uses_talos_label_and_pkcs8() {
        let key = generate(KeyAlgorithm::Ed25519).unwrap();
        assert!(key.pem.starts_with("-----BEGIN ED25519 PRIVATE KEY-----\n"));
        assert_eq!(check(&key.pem).unwrap(), KeyKind::Ed25519);
        let standard = to_standard_label(&key.pem).unwrap();
        assert!(standard.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(
            pem::decode(&standard).unwrap().der,
            pem::decode(&key.pem).unwrap().der
        );
    }

    #[test]
    fn p256_is_sec1_with_curve_parameters() {
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        assert!(key.pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        // SEC1 with the named-curve parameters ([0] prime256v1) Go's ParseECPrivateKey needs.
        let der = pem::decode(&key.pem).unwrap().der;
        let prime256v1 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        assert!(der.windows(prime256v1.len()).any(|w| w == prime256v1));
        assert_eq!(check(&key.pem).unwrap(), KeyKind::EcdsaP256);
    }

    #[test]
    fn rsa_is_pkcs1_4096() {
        let key = generate(KeyAlgorithm::Rsa4096).unwrap();
        assert!(key.pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        let parsed =
            aws_lc_rs::rsa::KeyPair::from_der(&pem::decode(&key.pem).unwrap().der).unwrap();
        assert_eq!(parsed.public_modulus_len(), 512);
    }

    #[test]
    fn check_refuses_mislabelled_keys() {
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let der = pem::decode(&key.pem).unwrap().der;
        let mislabelled = pem::encode(pem::RSA_PRIVATE_KEY, &der);
        assert!(matches!(check(&mislabelled), Err(Error::InvalidKey { .. })));
    }
}
