//! Certificates the simulated nodes need, written independently of the provider's PKI code: PEM
//! decoding (including Talos's `ED25519 PRIVATE KEY` label), checking that a certificate and a key
//! belong together, issuing serving certificates from a cluster CA, and reading a client
//! certificate's organisations (Talos roles, Kubernetes groups).

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// Why key material was refused.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Not PEM, or not valid base64 inside.
    #[error("{what} is not valid PEM")]
    Pem {
        /// Which field.
        what: String,
    },
    /// The base64 wrapping of a v1alpha1 `crt`/`key` field is broken.
    #[error("{what} is not valid base64")]
    Base64 {
        /// Which field.
        what: String,
    },
    /// The certificate does not parse as X.509.
    #[error("{what} is not an X.509 certificate")]
    Certificate {
        /// Which field.
        what: String,
    },
    /// The key does not parse as Ed25519, ECDSA or RSA.
    #[error("{what} is not a supported private key")]
    Key {
        /// Which field.
        what: String,
    },
    /// The key is not the one the certificate was issued for.
    #[error("{what}: certificate and key do not match")]
    Mismatch {
        /// Which pair.
        what: String,
    },
    /// rcgen could not sign.
    #[error("cannot issue certificate: {0}")]
    Issue(#[source] rcgen::Error),
}

/// One PEM block: its label and DER body.
#[derive(Debug, Clone)]
pub struct PemBlock {
    /// e.g. `CERTIFICATE`, `ED25519 PRIVATE KEY`.
    pub label: String,
    /// The decoded body.
    pub der: Vec<u8>,
}

/// Decodes the first PEM block of `text`.
pub fn decode_pem(text: &str, what: &str) -> Result<PemBlock, PkiError> {
    let err = || PkiError::Pem {
        what: what.to_string(),
    };
    let start = text.find("-----BEGIN ").ok_or_else(err)?;
    let rest = &text[start + 11..];
    let label_end = rest.find("-----").ok_or_else(err)?;
    let label = rest[..label_end].to_string();
    let body_start = label_end + 5;
    let end_marker = format!("-----END {label}-----");
    let body_end = rest.find(&end_marker).ok_or_else(err)?;
    let body: String = rest[body_start..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD.decode(body).map_err(|_| err())?;
    Ok(PemBlock { label, der })
}

/// Decodes a v1alpha1 `crt`/`key` field: base64 of a PEM document.
pub fn unwrap_base64_pem(field: &str, what: &str) -> Result<String, PkiError> {
    let bytes = STANDARD
        .decode(field.trim())
        .map_err(|_| PkiError::Base64 {
            what: what.to_string(),
        })?;
    String::from_utf8(bytes).map_err(|_| PkiError::Pem {
        what: what.to_string(),
    })
}

/// A parsed certificate (DER).
pub fn certificate_der(cert_pem: &str, what: &str) -> Result<CertificateDer<'static>, PkiError> {
    let block = decode_pem(cert_pem, what)?;
    if block.label != "CERTIFICATE" {
        return Err(PkiError::Certificate {
            what: what.to_string(),
        });
    }
    x509_parser::parse_x509_certificate(&block.der).map_err(|_| PkiError::Certificate {
        what: what.to_string(),
    })?;
    Ok(CertificateDer::from(block.der))
}

/// A signing key from any PEM Talos writes (Ed25519 PKCS#8, SEC1 EC, PKCS#8).
pub fn signing_key(key_pem: &str, what: &str) -> Result<KeyPair, PkiError> {
    let block = decode_pem(key_pem, what)?;
    KeyPair::try_from(block.der.as_slice()).map_err(|_| PkiError::Key {
        what: what.to_string(),
    })
}

/// Checks that a certificate and a key belong together (same public key). RSA keys (the
/// service-account key has no certificate) are not passed here.
pub fn check_pair(cert_pem: &str, key_pem: &str, what: &str) -> Result<(), PkiError> {
    let cert = certificate_der(cert_pem, what)?;
    let key = signing_key(key_pem, what)?;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(&cert).map_err(|_| PkiError::Certificate {
            what: what.to_string(),
        })?;
    if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(PkiError::Mismatch {
            what: what.to_string(),
        });
    }
    Ok(())
}

/// A serving certificate and its key, ready for rustls.
#[derive(Debug)]
pub struct ServingIdentity {
    /// Leaf then CA.
    pub chain: Vec<CertificateDer<'static>>,
    /// PKCS#8 key.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ServingIdentity {
    fn clone(&self) -> Self {
        ServingIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// Issues a serving certificate (EKU serverAuth, one year) from a CA for the given IPs and DNS
/// names. The leaf key has the CA's algorithm (Ed25519 from the OS CA, P-256 from Kubernetes').
pub fn issue_serving(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    common_name: &str,
    ips: &[IpAddr],
    dns: &[String],
) -> Result<ServingIdentity, PkiError> {
    let ca_key = signing_key(ca_key_pem, "CA key")?;
    let ca_der = certificate_der(ca_cert_pem, "CA certificate")?;
    let leaf_key = KeyPair::generate_for(ca_key.algorithm()).map_err(PkiError::Issue)?;
    let issuer = Issuer::from_ca_cert_der(&ca_der, ca_key).map_err(PkiError::Issue)?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    params.subject_alt_names = ips.iter().map(|ip| SanType::IpAddress(*ip)).collect();
    for d in dns {
        if let Ok(name) = d.as_str().try_into() {
            params.subject_alt_names.push(SanType::DnsName(name));
        }
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(365);
    let cert = params
        .signed_by(&leaf_key, &issuer)
        .map_err(PkiError::Issue)?;
    Ok(ServingIdentity {
        chain: vec![cert.der().clone(), ca_der],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    })
}

/// A self-signed Ed25519 certificate, as apid serves in maintenance mode.
pub fn self_signed(ips: &[IpAddr]) -> Result<ServingIdentity, PkiError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(PkiError::Issue)?;
    let mut params = CertificateParams::default();
    params.subject_alt_names = ips.iter().map(|ip| SanType::IpAddress(*ip)).collect();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key).map_err(PkiError::Issue)?;
    Ok(ServingIdentity {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    })
}

/// Issues a client certificate (EKU clientAuth) from a CA: what Talos's `Kubeconfig` RPC does for
/// the admin kubeconfig. Returns `(cert PEM, key PEM)`.
pub fn issue_client(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    common_name: &str,
    organization: &str,
) -> Result<(String, String), PkiError> {
    let ca_key = signing_key(ca_key_pem, "CA key")?;
    let ca_der = certificate_der(ca_cert_pem, "CA certificate")?;
    let leaf_key = KeyPair::generate_for(ca_key.algorithm()).map_err(PkiError::Issue)?;
    let issuer = Issuer::from_ca_cert_der(&ca_der, ca_key).map_err(PkiError::Issue)?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, organization);
    params.distinguished_name = name;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(365);
    let cert = params
        .signed_by(&leaf_key, &issuer)
        .map_err(PkiError::Issue)?;
    Ok((cert.pem(), leaf_key.serialize_pem()))
}

/// The organisations (O=) of a certificate: Talos roles (`os:admin`) or Kubernetes groups.
pub fn organizations(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert) else {
        return Vec::new();
    };
    parsed
        .subject()
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect()
}

/// The common name of a certificate (the Kubernetes user name).
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).ok()?;
    parsed
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok().map(str::to_string))
}

/// Base64 (standard) of a PEM string, as kubeconfigs and v1alpha1 configs carry them.
pub fn base64_of(text: &str) -> String {
    STANDARD.encode(text)
}

/// PEM of a DER certificate.
pub fn cert_pem(der: &CertificateDer<'_>) -> String {
    let body = STANDARD.encode(der.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(alg: &'static rcgen::SignatureAlgorithm) -> (String, String) {
        let key = KeyPair::generate_for(alg).unwrap();
        let mut params = CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn matching_and_mismatching_pairs_are_told_apart() {
        let (crt, key) = ca(&rcgen::PKCS_ED25519);
        let (_, other_key) = ca(&rcgen::PKCS_ED25519);
        check_pair(&crt, &key, "os CA").unwrap();
        let err = check_pair(&crt, &other_key, "os CA").unwrap_err();
        assert!(matches!(err, PkiError::Mismatch { .. }), "{err}");
    }

    #[test]
    fn talos_ed25519_label_is_read() {
        let (_, key) = ca(&rcgen::PKCS_ED25519);
        let relabelled = key.replace("PRIVATE KEY", "ED25519 PRIVATE KEY");
        signing_key(&relabelled, "key").unwrap();
    }

    #[test]
    fn issued_client_certificates_carry_the_organization() {
        let (crt, key) = ca(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (client, _) = issue_client(&crt, &key, "admin", "system:masters").unwrap();
        let der = certificate_der(&client, "client").unwrap();
        assert_eq!(organizations(&der), vec!["system:masters".to_string()]);
        assert_eq!(common_name(&der).as_deref(), Some("admin"));
    }
}
