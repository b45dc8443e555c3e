//! The Talos PKI primitives: keys, PEM, and certificates issued exactly as
//! `siderolabs/crypto/x509` issues them. Pure except for key generation, which uses the
//! operating system's CSPRNG; serials and key identifiers come from the caller's RNG. Client
//! certificates can also be derived deterministically from their CA's key ([`derived`]).

pub mod certs;
pub mod derived;
pub mod keys;
pub mod pem;
mod subject;

/// Errors from key and certificate handling.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// PEM armour is missing or broken.
    #[error("invalid PEM: {reason}")]
    Pem {
        /// What is wrong.
        reason: &'static str,
    },
    /// The crypto library failed to generate or encode a key.
    #[error("cannot generate a {algorithm:?} key ({step})")]
    KeyGeneration {
        /// The algorithm asked for.
        algorithm: keys::KeyAlgorithm,
        /// The step that failed.
        step: &'static str,
    },
    /// A private key's body does not parse as a key Talos uses.
    #[error("the {label:?} PEM block is not a valid Talos key")]
    InvalidKey {
        /// The PEM label.
        label: String,
    },
    /// A key type that cannot sign certificates here.
    #[error("unsupported signing key in a {label:?} PEM block: {source}")]
    UnsupportedKey {
        /// The PEM label.
        label: String,
        /// rcgen's reason.
        #[source]
        source: rcgen::Error,
    },
    /// A certificate does not parse or cannot act as an issuer.
    #[error("invalid certificate: {reason}")]
    InvalidCertificate {
        /// What is wrong.
        reason: String,
    },
    /// Deriving a key or a deterministic signature failed.
    #[error("cannot derive the client credentials: {step}")]
    Derivation {
        /// The step that failed.
        step: &'static str,
    },
    /// Signing a certificate failed.
    #[error("cannot sign certificate: {source}")]
    Certificate {
        /// rcgen's error.
        #[source]
        source: rcgen::Error,
    },
}
