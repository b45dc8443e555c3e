//! Certificates issued the way `siderolabs/crypto/x509` issues them.
//!
//! - CAs (`NewSelfSignedCertificateAuthority`): random 128-bit serial, random 20-byte subject key
//!   identifier, subject = organization only (no CN), `CA:TRUE` critical, key usage
//!   `digitalSignature|keyCertSign` critical, extended key usage serverAuth+clientAuth, no
//!   authority key identifier.
//! - Client certificates (`NewKeyPair` from a CSR): random serial, subject CN/O as asked, key
//!   usage `digitalSignature` critical, the extended key usages asked for, authority key
//!   identifier = the CA's subject key identifier, no basic constraints, no subject key identifier.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::keys::{self, KeyAlgorithm};
use super::{Error, pem, subject};

/// A certificate and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct CertAndKey {
    /// `CERTIFICATE` PEM.
    pub cert_pem: String,
    /// Private key PEM in Talos's encoding for the algorithm.
    pub key_pem: String,
}

impl std::fmt::Debug for CertAndKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertAndKey")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[secret elided]")
            .finish()
    }
}

/// What a CA looks like; Talos's CAs differ only in key algorithm and organization.
#[derive(Debug, Clone, Copy)]
pub struct CaSpec<'a> {
    /// The subject's single `O`, or `None` for an empty subject (the aggregator CA).
    pub organization: Option<&'a str>,
    /// The CA key algorithm.
    pub algorithm: KeyAlgorithm,
    /// Start of validity (Talos uses "now").
    pub not_before: OffsetDateTime,
    /// Length of validity (Talos CAs: 87600 hours).
    pub validity: Duration,
}

/// What a client certificate looks like.
#[derive(Debug, Clone)]
pub struct ClientSpec<'a> {
    /// Subject common name, or `None` for none (the Talos admin certificate has none).
    pub common_name: Option<&'a str>,
    /// Subject organizations (Talos roles, Kubernetes groups).
    pub organizations: &'a [String],
    /// The new key's algorithm; Talos uses the CA's.
    pub algorithm: KeyAlgorithm,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// Length of validity.
    pub validity: Duration,
}

/// `rand`'s Go-compatible positive 128-bit serial: 16 random bytes, leading zeros dropped.
fn random_serial<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> SerialNumber {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    serial_from(bytes)
}

/// Issues a self-signed CA as Talos does.
///
/// # Errors
/// [`Error::KeyGeneration`] or [`Error::Certificate`] if the crypto library fails.
pub fn issue_ca<R: rand::CryptoRng + ?Sized>(
    spec: &CaSpec<'_>,
    rng: &mut R,
) -> Result<CertAndKey, Error> {
    let key = keys::generate(spec.algorithm)?;
    let signer = key.signer.as_ref().ok_or(Error::KeyGeneration {
        algorithm: spec.algorithm,
        step: "RSA keys cannot sign certificates here",
    })?;
    let mut subject_key_id = vec![0u8; 20];
    rng.fill_bytes(&mut subject_key_id);

    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    if let Some(organization) = spec.organization {
        params
            .distinguished_name
            .push(DnType::OrganizationName, organization);
    }
    params.serial_number = Some(random_serial(rng));
    params.not_before = spec.not_before;
    params.not_after = spec.not_before + spec.validity;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.key_identifier_method = KeyIdMethod::PreSpecified(subject_key_id);
    params.use_authority_key_identifier_extension = false;
    let cert = params
        .self_signed(signer)
        .map_err(|source| Error::Certificate { source })?;
    Ok(CertAndKey {
        cert_pem: pem::encode(pem::CERTIFICATE, cert.der()),
        key_pem: key.pem,
    })
}

/// Issues a client-authentication certificate (extended key usage clientAuth only) signed by
/// `ca`, with a new key.
///
/// # Errors
/// [`Error::Pem`] /
/// [`Error::UnsupportedKey`] / [`Error::InvalidCertificate`] for a broken CA, and
/// [`Error::Certificate`] if signing fails.
pub fn issue_client<R: rand::CryptoRng + ?Sized>(
    ca: &CertAndKey,
    spec: &ClientSpec<'_>,
    rng: &mut R,
) -> Result<CertAndKey, Error> {
    let ca_signer = keys::load_signer(&ca.key_pem)?;
    let key = keys::generate(spec.algorithm)?;
    sign_client(ca, &ca_signer, spec, key, random_serial(rng))
}

/// A positive serial from 16 bytes, leading zero bytes dropped (as Go's `rand.Int` serials).
pub(super) fn serial_from(bytes: [u8; 16]) -> SerialNumber {
    let first_nonzero = bytes.iter().position(|b| *b != 0).unwrap_or(15);
    SerialNumber::from_slice(&bytes[first_nonzero..])
}

/// Signs a client certificate for `key` with `ca_signer` (the key of `ca`).
pub(super) fn sign_client(
    ca: &CertAndKey,
    ca_signer: &impl rcgen::SigningKey,
    spec: &ClientSpec<'_>,
    key: keys::GeneratedKey,
    serial: SerialNumber,
) -> Result<CertAndKey, Error> {
    let ca_der = pem::decode(&ca.cert_pem)?.der;
    let issuer =
        Issuer::from_ca_cert_der(&ca_der.as_slice().into(), ca_signer).map_err(|source| {
            Error::InvalidCertificate {
                reason: format!("the CA certificate cannot be used as an issuer: {source}"),
            }
        })?;
    let signer = key.signer.as_ref().ok_or(Error::KeyGeneration {
        algorithm: spec.algorithm,
        step: "RSA client certificates are not supported",
    })?;

    let mut params = CertificateParams::default();
    params.distinguished_name = simple_subject(spec.common_name, spec.organizations.first());
    params.serial_number = Some(serial);
    params.not_before = spec.not_before;
    params.not_after = spec.not_before + spec.validity;
    params.is_ca = IsCa::NoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(signer, &issuer)
        .map_err(|source| Error::Certificate { source })?;
    let der = if spec.organizations.len() > 1 {
        let name = subject::encode(spec.common_name, spec.organizations);
        subject::replace(cert.der(), &name, ca_signer)?
    } else {
        cert.der().to_vec()
    };
    Ok(CertAndKey {
        cert_pem: pem::encode(pem::CERTIFICATE, &der),
        key_pem: key.pem,
    })
}

/// Builds `O=…, CN=…` (Go's order) when rcgen can express it: at most one organization.
fn simple_subject(common_name: Option<&str>, organization: Option<&String>) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    if let Some(organization) = organization {
        name.push(DnType::OrganizationName, organization.as_str());
    }
    if let Some(common_name) = common_name {
        name.push(DnType::CommonName, common_name);
    }
    name
}

/// Facts read back from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Whether basic constraints say `CA:TRUE`.
    pub is_ca: bool,
}

/// Parses a `CERTIFICATE` PEM and reads its validity end and CA flag.
///
/// # Errors
/// [`Error::Pem`] or [`Error::InvalidCertificate`].
pub fn inspect(cert_pem: &str) -> Result<CertInfo, Error> {
    let block = pem::decode(cert_pem)?;
    if block.label != pem::CERTIFICATE {
        return Err(Error::InvalidCertificate {
            reason: format!("expected a CERTIFICATE PEM block, found {:?}", block.label),
        });
    }
    let (_, cert) =
        X509Certificate::from_der(&block.der).map_err(|source| Error::InvalidCertificate {
            reason: source.to_string(),
        })?;
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|constraints| constraints.value.ca);
    Ok(CertInfo {
        not_after: cert.validity().not_after.to_datetime(),
        is_ca,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn ca_is_self_signed_with_talos_extensions() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let ca = issue_ca(
            &CaSpec {
                organization: Some("kubernetes"),
                algorithm: KeyAlgorithm::EcdsaP256,
                not_before: now(),
                validity: Duration::hours(87600),
            },
            &mut rng,
        )
        .unwrap();
        let info = inspect(&ca.cert_pem).unwrap();
        assert!(info.is_ca);
        assert_eq!(info.not_after, now() + Duration::hours(87600));
    }

    #[test]
    fn serials_are_positive_and_at_most_128_bits() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..64 {
            let serial = random_serial(&mut rng);
            assert!(!serial.as_ref().is_empty() && serial.as_ref().len() <= 16);
        }
    }
}
