//! Reading a server's `user_data` the way Talos on Hetzner does: the machine configuration as plain
//! YAML, base64 of it, or base64 of its gzip (Talos ≥ 1.9 accepts all three).

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Why user data could not be read as a configuration.
#[derive(Debug, thiserror::Error)]
pub enum UserDataError {
    /// gzip data that does not inflate.
    #[error("user data is gzip but does not decompress")]
    Gzip(#[source] std::io::Error),
    /// The result is not UTF-8 text.
    #[error("user data is not UTF-8 text")]
    NotText,
}

/// The configuration text inside user data (`None` for empty user data: maintenance mode).
pub fn decode(user_data: &str) -> Result<Option<String>, UserDataError> {
    let trimmed = user_data.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = match STANDARD.decode(&compact) {
        Ok(bytes) if !trimmed.contains(':') => bytes,
        _ => user_data.as_bytes().to_vec(),
    };
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(UserDataError::Gzip)?;
        out
    } else {
        bytes
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| UserDataError::NotText)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn plain_base64_and_gzip_forms_are_read() {
        let yaml = "version: v1alpha1\nmachine:\n  type: worker\n";
        assert_eq!(decode(yaml).unwrap().as_deref(), Some(yaml));
        assert_eq!(
            decode(&STANDARD.encode(yaml)).unwrap().as_deref(),
            Some(yaml)
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(yaml.as_bytes()).unwrap();
        let packed = STANDARD.encode(gz.finish().unwrap());
        assert_eq!(decode(&packed).unwrap().as_deref(), Some(yaml));
        assert_eq!(decode("  ").unwrap(), None);
    }
}
