//! Hetzner user data for Talos: `base64(gzip(machine config))`.
//!
//! Talos (≥ 1.9) on Hetzner reads the user data from the metadata service and accepts it
//! gzip-compressed and base64-encoded, which lets a ~60 KiB multi-document config fit Hetzner's
//! 32 KiB user-data limit. Encoding is deterministic (no gzip timestamp or file name), so equal
//! configs give equal user data and plans stay empty.

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::write::GzEncoder;

use super::yaml::Node;

/// Hetzner Cloud's user-data limit, in bytes of the string sent to the API.
pub const HETZNER_USER_DATA_LIMIT: usize = 32 * 1024;

/// Errors from building user data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Compression failed (not expected for in-memory buffers).
    #[error("cannot compress user data: {source}")]
    Compress {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The encoded config exceeds Hetzner's limit.
    #[error(
        "the machine configuration encodes to {size} bytes of user data, {over} bytes over Hetzner's {limit}-byte limit; \
         the largest documents are {largest}. Move bulky content out of the machine config: apply manifests as addons instead of \
         inline manifests, and shrink large config patches (files, certificates, extra manifests)"
    )]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// `size - limit`.
        over: usize,
        /// The limit.
        limit: usize,
        /// The biggest documents with their YAML sizes, e.g. `v1alpha1 (12345 bytes), …`.
        largest: String,
    },
}

/// Encodes a rendered machine configuration as Hetzner user data, checking the limit.
///
/// `documents` are used only to name the largest documents in the error.
///
/// # Errors
/// [`Error::TooLarge`] saying how far over the limit the result is and what to move out.
pub fn encode(config_yaml: &str, documents: &[Node]) -> Result<String, Error> {
    let encoded = encode_unchecked(config_yaml)?;
    if encoded.len() <= HETZNER_USER_DATA_LIMIT {
        return Ok(encoded);
    }
    let mut sizes: Vec<(String, usize)> = documents
        .iter()
        .map(|document| {
            let kind = document
                .get_path(&["kind"])
                .and_then(Node::as_str)
                .unwrap_or("v1alpha1")
                .to_owned();
            let size = super::yaml::to_string(document).map_or(0, |text| text.len());
            (kind, size)
        })
        .collect();
    sizes.sort_by(|a, b| b.1.cmp(&a.1));
    let largest = sizes
        .iter()
        .take(3)
        .map(|(kind, size)| format!("{kind} ({size} bytes of YAML)"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(Error::TooLarge {
        size: encoded.len(),
        over: encoded.len() - HETZNER_USER_DATA_LIMIT,
        limit: HETZNER_USER_DATA_LIMIT,
        largest,
    })
}

/// `base64(gzip(text))` at maximum compression, with no size check.
///
/// # Errors
/// [`Error::Compress`] if the compressor fails.
pub fn encode_unchecked(text: &str) -> Result<String, Error> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder
        .write_all(text.as_bytes())
        .map_err(|source| Error::Compress { source })?;
    let compressed = encoder
        .finish()
        .map_err(|source| Error::Compress { source })?;
    Ok(STANDARD.encode(compressed))
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;
    use crate::talos::yaml::{Mapping, Node};

    fn decode(user_data: &str) -> String {
        let compressed = STANDARD.decode(user_data).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn round_trips_through_gunzip_and_is_deterministic() {
        let text = "version: v1alpha1\nmachine:\n    type: worker\n";
        let encoded = encode(text, &[]).unwrap();
        assert_eq!(decode(&encoded), text);
        assert_eq!(encode(text, &[]).unwrap(), encoded);
        // gzip magic, no timestamp.
        let raw = STANDARD.decode(&encoded).unwrap();
        assert_eq!(&raw[..2], &[0x1f, 0x8b]);
        assert_eq!(&raw[4..8], &[0, 0, 0, 0]);
    }

    #[test]
    fn the_gzip_stream_is_readable_by_the_system_gzip() {
        let text = "hello: world\n";
        let raw = STANDARD.decode(encode(text, &[]).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.gz");
        std::fs::write(&path, raw).unwrap();
        let Ok(output) = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&path)
            .output()
        else {
            eprintln!("skipped: gzip not installed");
            return;
        };
        assert_eq!(String::from_utf8(output.stdout).unwrap(), text);
    }

    #[test]
    fn oversized_configs_say_how_far_over_and_what_is_big() {
        // Incompressible content: pseudo-random hex.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut noise = String::new();
        while noise.len() < 60_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            noise.push_str(&format!("{state:016x}"));
        }
        let mut manifest = Mapping::new();
        manifest.insert(
            "kind".into(),
            Node::String("KubeInlineManifestConfig".into()),
        );
        manifest.insert("contents".into(), Node::String(noise.clone()));
        let documents = vec![Node::Map(manifest)];
        let text = format!("kind: KubeInlineManifestConfig\ncontents: {noise}\n");
        let err = encode(&text, &documents).unwrap_err();
        let Error::TooLarge {
            size, over, limit, ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(*limit, 32_768);
        assert_eq!(*over, size - 32_768);
        let message = err.to_string();
        assert!(message.contains("KubeInlineManifestConfig"), "{message}");
        assert!(message.contains("addons"), "{message}");
    }
}
