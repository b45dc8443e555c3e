//! What a server's system disk holds, and what an image holds: the sim decides what boots from the
//! bytes written to the disk, never from an image's labels (a snapshot labelled v1.14 that holds
//! v1.13 boots v1.13, as on the real platform). Internal only: nothing here is serialised to the
//! Hetzner API, only to `--state-file`.
//!
//! The Image Factory stand-in ([`crate::factory`]) serves raw images in the format of
//! [`raw_image`]; `dd` in the rescue system ([`crate::rescue`]) turns written bytes back into a
//! [`Disk`] with [`recognise`].

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The contents of a system disk (or of the image it was made from).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Disk {
    /// Nothing (discarded, or zero bytes written): boots nothing.
    #[default]
    Empty,
    /// A Hetzner system image (e.g. `ubuntu-24.04`): boots a Linux the sim does not model.
    System(String),
    /// A Talos disk image from the Image Factory.
    Talos(TalosDisk),
    /// Bytes the sim cannot identify (a truncated or foreign image): boots nothing.
    Unknown,
}

/// A Talos installation: what the node boots into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TalosDisk {
    /// Talos version (`v1.13.9`).
    pub version: String,
    /// Image Factory schematic id (64 hex digits).
    pub schematic: String,
    /// `amd64` or `arm64`.
    pub arch: String,
}

impl TalosDisk {
    /// The Hetzner architecture (`x86`, `arm`) this image boots on.
    pub fn hcloud_arch(&self) -> &'static str {
        hcloud_arch(&self.arch)
    }
}

/// Hetzner's architecture name for a Talos one (`amd64` → `x86`, `arm64` → `arm`).
pub fn hcloud_arch(talos_arch: &str) -> &'static str {
    if talos_arch == "arm64" { "arm" } else { "x86" }
}

/// Talos's architecture name for a Hetzner one (`x86` → `amd64`, `arm` → `arm64`).
pub fn talos_arch(hcloud_arch: &str) -> &'static str {
    if hcloud_arch == "arm" {
        "arm64"
    } else {
        "amd64"
    }
}

/// Size of a factory raw image in the sim: the header, then zeros (a real image is sparse too).
pub const RAW_IMAGE_SIZE: usize = 16 * 1024;

const MAGIC: &[u8] = b"HK8S-SIM TALOS RAW DISK IMAGE 1\n";

/// The raw disk image of `disk` (what `hcloud-<arch>.raw.xz` decompresses to): a header naming
/// version, schematic and architecture, its SHA-256, then zero padding to [`RAW_IMAGE_SIZE`].
pub fn raw_image(disk: &TalosDisk) -> Vec<u8> {
    let fields = format!(
        "version={}\nschematic={}\narch={}\n",
        disk.version, disk.schematic, disk.arch
    );
    let digest = hex(&Sha256::digest(fields.as_bytes()));
    let mut out = Vec::with_capacity(RAW_IMAGE_SIZE);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(fields.as_bytes());
    out.extend_from_slice(format!("sha256={digest}\n").as_bytes());
    out.resize(RAW_IMAGE_SIZE, 0);
    out
}

/// What a disk holds after `bytes` were written to it from its start: [`Disk::Empty`] for no
/// bytes, [`Disk::Talos`] for exactly one intact [`raw_image`], [`Disk::Unknown`] otherwise
/// (truncated, corrupted, or anything else).
pub fn recognise(bytes: &[u8]) -> Disk {
    if bytes.is_empty() {
        return Disk::Empty;
    }
    parse_raw(bytes).map_or(Disk::Unknown, Disk::Talos)
}

fn parse_raw(bytes: &[u8]) -> Option<TalosDisk> {
    if bytes.len() != RAW_IMAGE_SIZE {
        return None;
    }
    let rest = bytes.strip_prefix(MAGIC)?;
    let header_end = rest.iter().position(|b| *b == 0)?;
    let (header, padding) = rest.split_at(header_end);
    if padding.iter().any(|b| *b != 0) {
        return None;
    }
    let header = std::str::from_utf8(header).ok()?;
    let (fields, digest_line) = header.trim_end_matches('\n').rsplit_once('\n')?;
    let fields = format!("{fields}\n");
    if digest_line.strip_prefix("sha256=")? != hex(&Sha256::digest(fields.as_bytes())) {
        return None;
    }
    let field = |name: &str| {
        fields
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    Some(TalosDisk {
        version: field("version")?,
        schematic: field("schematic")?,
        arch: field("arch")?,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk() -> TalosDisk {
        TalosDisk {
            version: "v1.13.9".into(),
            schematic: crate::catalog::DEFAULT_TALOS_SCHEMATIC.into(),
            arch: "arm64".into(),
        }
    }

    #[test]
    fn a_raw_image_is_recognised_only_whole() {
        let raw = raw_image(&disk());
        assert_eq!(recognise(&raw), Disk::Talos(disk()));
        assert_eq!(recognise(&raw[..raw.len() - 1]), Disk::Unknown);
        assert_eq!(recognise(&raw[..100]), Disk::Unknown);
        let mut corrupted = raw.clone();
        corrupted[MAGIC.len() + 10] ^= 1;
        assert_eq!(recognise(&corrupted), Disk::Unknown);
        assert_eq!(recognise(b""), Disk::Empty);
        assert_eq!(recognise(&[0; RAW_IMAGE_SIZE]), Disk::Unknown);
    }
}
