//! TLS for apid: mutual TLS with the Talos admin credentials, or the unverified maintenance mode.
//!
//! Why our own connector instead of tonic's `ClientTlsConfig`: maintenance mode needs a custom
//! server-certificate verifier, which tonic's TLS options cannot take, and one code path for both
//! modes is simpler than two. For admin credentials we use rustls' stock WebPKI verifier with the
//! OS CA as the only root: it checks the chain, validity and the `serverAuth` key usage, and
//! matches the endpoint's IP address against the certificate's IP SANs (we connect by IP). rustls
//! runs on aws-lc-rs, which verifies and signs Ed25519 (the OS CA's and the client's key type).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;

use super::error::{CredentialPart, Error};

/// How the client authenticates to apid and verifies apid.
#[derive(Clone)]
pub enum Credentials {
    /// A configured node: mutual TLS. The server must present a certificate issued by `ca` that
    /// names the endpoint's IP address; the client presents `crt` (Talos role `os:admin`).
    ///
    /// All three are PEM, as found in a talosconfig (after base64-decoding). The key may carry
    /// Talos' own label `ED25519 PRIVATE KEY` (PKCS#8 inside), or be `PRIVATE KEY` (PKCS#8),
    /// `EC PRIVATE KEY` or `RSA PRIVATE KEY`.
    Admin {
        /// The Talos OS CA certificate (PEM; several certificates are all trusted).
        ca: Vec<u8>,
        /// The client certificate, optionally followed by its chain (PEM).
        crt: Vec<u8>,
        /// The client private key (PEM). Never logged: `Debug` redacts it.
        key: Vec<u8>,
    },
    /// A node without configuration (maintenance mode): no client certificate, and the server's
    /// self-signed certificate is **not verified** (there is nothing to verify it against).
    ///
    /// Use this only to hand a machine config to a fresh node with `ApplyConfiguration`: anyone
    /// who can intercept the connection can read that config. Maintenance-mode apid does not
    /// route by `node`, so talk to the node itself ([`ApidClient::direct`](super::ApidClient::direct)).
    Maintenance,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Admin { ca, crt, .. } => f
                .debug_struct("Admin")
                .field("ca", &String::from_utf8_lossy(ca))
                .field("crt", &String::from_utf8_lossy(crt))
                .field("key", &"<redacted>")
                .finish(),
            Self::Maintenance => f.write_str("Maintenance"),
        }
    }
}

/// Builds the rustls client configuration for `credentials` (ALPN `h2`, as gRPC servers demand).
pub(crate) fn client_config(credentials: &Credentials) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        // The aws-lc-rs provider supports the default versions; keep the error typed anyway.
        .map_err(|source| Error::RejectedCredentials {
            part: CredentialPart::Certificate,
            source,
        })?;
    let mut config = match credentials {
        Credentials::Admin { ca, crt, key } => {
            let roots = root_store(ca)?;
            let chain = certificate_chain(crt)?;
            let key = private_key(key)?;
            builder
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, key)
                .map_err(|source| Error::RejectedCredentials {
                    part: CredentialPart::Key,
                    source,
                })?
        }
        Credentials::Maintenance => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(MaintenanceModeSkipsServerVerification {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn root_store(ca_pem: &[u8]) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca_pem, CredentialPart::Ca)? {
        roots
            .add(cert)
            .map_err(|source| Error::RejectedCredentials {
                part: CredentialPart::Ca,
                source,
            })?;
    }
    Ok(roots)
}

fn certificate_chain(crt_pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    certificates(crt_pem, CredentialPart::Certificate)
}

/// All `CERTIFICATE` blocks of `pem`; at least one.
fn certificates(pem: &[u8], part: CredentialPart) -> Result<Vec<CertificateDer<'static>>, Error> {
    let invalid = |source| Error::InvalidPem { part, source };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    if certs.is_empty() {
        return Err(invalid(rustls::pki_types::pem::Error::NoItemsFound));
    }
    Ok(certs)
}

/// Parses a private key, accepting Talos' `ED25519 PRIVATE KEY` label.
///
/// Talos (Go) wraps PKCS#8 Ed25519 keys in a PEM block labelled `ED25519 PRIVATE KEY`, which no
/// PEM library knows; relabelling it `PRIVATE KEY` (PKCS#8) is all it takes.
pub(crate) fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    const TALOS_LABEL: &[u8] = b"ED25519 PRIVATE KEY-----";
    const PKCS8_LABEL: &[u8] = b"PRIVATE KEY-----";
    let relabelled = replace_all(pem, TALOS_LABEL, PKCS8_LABEL);
    PrivateKeyDer::from_pem_slice(&relabelled).map_err(|source| Error::InvalidPem {
        part: CredentialPart::Key,
        source,
    })
}

fn replace_all(haystack: &[u8], needle: &[u8], replacement: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(replacement);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Accepts any server certificate. **Only for maintenance mode**, where the node has no OS CA
/// yet and serves a self-signed certificate; see [`Credentials::Maintenance`].
///
/// The handshake signatures are still checked (against whatever key the server presented), so
/// the TLS session itself is sound; what is missing is any proof of *who* the server is.
#[derive(Debug)]
struct MaintenanceModeSkipsServerVerification {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for MaintenanceModeSkipsServerVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Opens TCP + TLS connections to one apid endpoint for tonic's `Channel`.
///
/// The server name verified is the endpoint's IP address, whatever URI tonic passes.
#[derive(Clone)]
pub(crate) struct TlsConnector {
    tls: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
    endpoint: SocketAddr,
}

impl TlsConnector {
    pub(crate) fn new(config: Arc<ClientConfig>, endpoint: SocketAddr) -> Self {
        Self {
            tls: tokio_rustls::TlsConnector::from(config),
            server_name: ServerName::IpAddress(endpoint.ip().into()),
            endpoint,
        }
    }
}

impl tonic::codegen::Service<http::Uri> for TlsConnector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let tcp = TcpStream::connect(this.endpoint).await?;
            tcp.set_nodelay(true)?;
            let tls = this.tls.connect(this.server_name, tcp).await?;
            Ok(TokioIo::new(tls))
        })
    }
}

/// Finds a rustls error in an error's source chain.
///
/// TLS failures reach us wrapped (tonic status → hyper → `io::Error` → rustls), and
/// `io::Error::source` skips the error it wraps, so `io::Error::get_ref` is checked explicitly.
pub(crate) fn tls_error_in(err: &(dyn std::error::Error + 'static)) -> Option<rustls::Error> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls.clone());
        }
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            if let Some(tls) = tls_error_in(inner) {
                return Some(tls);
            }
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn talos_ed25519_key_label_is_read_as_pkcs8() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let talos_pem = key
            .serialize_pem()
            .replace("PRIVATE KEY-----", "ED25519 PRIVATE KEY-----");
        assert!(talos_pem.contains("BEGIN ED25519 PRIVATE KEY"));
        let parsed = private_key(talos_pem.as_bytes()).unwrap();
        assert!(matches!(parsed, PrivateKeyDer::Pkcs8(_)));
        assert_eq!(parsed.secret_der(), key.serialized_der());
    }

    #[test]
    fn missing_key_is_an_invalid_pem_error_naming_the_key() {
        let err = private_key(b"no pem here").unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidPem {
                part: CredentialPart::Key,
                ..
            }
        ));
    }

    #[test]
    fn credentials_debug_redacts_the_key() {
        let creds = Credentials::Admin {
            ca: b"ca".to_vec(),
            crt: b"crt".to_vec(),
            key: b"very-secret".to_vec(),
        };
        let debug = format!("{creds:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn tls_errors_are_found_behind_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, tls.clone());
        let status = tonic::Status::from_error(Box::new(wrapped));
        assert_eq!(tls_error_in(&status), Some(tls));
        assert_eq!(tls_error_in(&io::Error::other("plain")), None);
    }
}
