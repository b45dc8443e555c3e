//! PEM armour as Talos writes it: 64-column base64 between `-----BEGIN <label>-----` lines.
//!
//! Talos uses labels the usual tools don't (`ED25519 PRIVATE KEY` around PKCS#8), so encoding and
//! decoding keep the label explicit instead of guessing it from the contents.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Error;

/// PEM label of X.509 certificates.
pub const CERTIFICATE: &str = "CERTIFICATE";
/// PEM label Talos uses for Ed25519 keys (the body is PKCS#8).
pub const ED25519_PRIVATE_KEY: &str = "ED25519 PRIVATE KEY";
/// PEM label of SEC1 EC keys.
pub const EC_PRIVATE_KEY: &str = "EC PRIVATE KEY";
/// PEM label of PKCS#1 RSA keys.
pub const RSA_PRIVATE_KEY: &str = "RSA PRIVATE KEY";
/// PEM label of PKCS#8 keys, the form rustls accepts for Ed25519.
pub const PRIVATE_KEY: &str = "PRIVATE KEY";

/// Encodes `der` as one PEM block with `label`, ending in a newline.
pub fn encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A decoded PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The label between `BEGIN` and the dashes.
    pub label: String,
    /// The decoded body.
    pub der: Vec<u8>,
}

/// Decodes the first PEM block in `text` (text before it is ignored, as Go's `pem.Decode` does).
///
/// # Errors
/// [`Error::Pem`] when no complete block is found or its body is not base64.
pub fn decode(text: &str) -> Result<Block, Error> {
    let invalid = |reason: &'static str| Error::Pem { reason };
    let mut lines = text.lines().map(str::trim_end);
    let label = lines
        .by_ref()
        .find_map(|line| {
            line.strip_prefix("-----BEGIN ")
                .and_then(|rest| rest.strip_suffix("-----"))
        })
        .ok_or_else(|| invalid("no \"-----BEGIN\" line"))?
        .to_owned();
    let end_line = format!("-----END {label}-----");
    let mut body = String::new();
    let mut ended = false;
    for line in lines {
        if line == end_line {
            ended = true;
            break;
        }
        if line.contains(':') {
            return Err(invalid("encrypted or header-carrying PEM is not supported"));
        }
        body.push_str(line.trim());
    }
    if !ended {
        return Err(invalid("missing \"-----END\" line"));
    }
    let der = STANDARD
        .decode(body)
        .map_err(|_| invalid("the body is not base64"))?;
    Ok(Block { label, der })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_wraps_at_64_columns_and_decodes_back() {
        let der: Vec<u8> = (0..=255).collect();
        let text = encode(EC_PRIVATE_KEY, &der);
        assert!(text.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        assert!(text.ends_with("-----END EC PRIVATE KEY-----\n"));
        assert!(text.lines().all(|line| line.len() <= 64));
        assert_eq!(
            decode(&text).unwrap(),
            Block {
                label: EC_PRIVATE_KEY.into(),
                der
            }
        );
    }

    #[test]
    fn decode_refuses_truncated_blocks() {
        assert!(decode("-----BEGIN CERTIFICATE-----\nAAAA\n").is_err());
        assert!(decode("nothing here").is_err());
        assert!(decode("-----BEGIN X-----\n!!!!\n-----END X-----\n").is_err());
    }
}
