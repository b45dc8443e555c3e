//! Certificates for the mock apid, shaped like Talos' own: an Ed25519 OS CA, a server
//! certificate with IP SANs, and an `os:admin` client certificate (EKU clientAuth only).

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_ED25519,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate with its private key.
pub struct Leaf {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key: KeyPair,
}

impl Leaf {
    /// The key as Talos writes it: PKCS#8 under the label `ED25519 PRIVATE KEY`.
    pub fn talos_key_pem(&self) -> String {
        self.key
            .serialize_pem()
            .replace("PRIVATE KEY-----", "ED25519 PRIVATE KEY-----")
    }

    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }
}

/// A certificate authority like Talos' OS CA.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

fn organization(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, name);
    dn
}

impl Ca {
    pub fn new() -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name = organization("talos");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// apid's server certificate: IP SANs, EKU serverAuth.
    pub fn server_cert(&self, ips: &[IpAddr]) -> Leaf {
        let mut params =
            CertificateParams::new(ips.iter().map(ToString::to_string).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = organization("talos");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// The talosconfig client certificate: O=os:admin, no CN, EKU clientAuth only.
    pub fn admin_client_cert(&self) -> Leaf {
        let mut params = CertificateParams::default();
        params.distinguished_name = organization("os:admin");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key,
        }
    }
}

/// The self-signed certificate a node in maintenance mode serves (it has no OS CA yet).
pub fn maintenance_self_signed() -> Leaf {
    let mut params = CertificateParams::new(vec!["maintenance.talos.invalid".to_owned()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let cert = params.self_signed(&key).unwrap();
    Leaf {
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        key,
    }
}
