//! Talos snapshots on Hetzner without local tools: found by label, and built when missing by
//! writing the Image Factory's `hcloud-<arch>.raw.xz` onto a temporary server's disk from its
//! rescue system, then snapshotting that disk (what `hcloud-upload-image` does).
//!
//! - [`build`]: one build, step by step, cleaning up after itself.
//! - [`lock`]: one build per (version, schematic, architecture) across concurrent applies: the
//!   temporary server's name is the lock, its heartbeat label says whether its builder lives.
//! - [`ssh`]: the SSH client for the rescue system.
//!
//! Knows nothing of Terraform.

pub mod build;
pub mod lock;
pub mod ssh;

/// Deletes the snapshots hk8s built (they carry [`ARCH_LABEL`]) of `version` and `schematic`,
/// in both architectures, that no server of the project boots from. Returns the ids deleted and
/// the ids kept because a server still uses them.
///
/// # Errors
/// Hetzner errors.
pub async fn delete_unused(
    client: &crate::hcloud::Client,
    version: &TalosVersion,
    schematic: &str,
) -> Result<(Vec<i64>, Vec<i64>), crate::hcloud::Error> {
    let selector = format!(
        "{}={version},{}={},{ARCH_LABEL}",
        labels::TALOS_VERSION,
        labels::SCHEMATIC,
        labels::schematic_value(schematic)
    );
    let (x86, arm, servers) = tokio::try_join!(
        client.list_snapshots_matching(&selector, Architecture::X86),
        client.list_snapshots_matching(&selector, Architecture::Arm),
        client.list_every_server(),
    )?;
    let in_use: std::collections::BTreeSet<i64> = servers
        .iter()
        .filter_map(|s| s.image.as_ref().map(|i| i.id))
        .collect();
    let (kept, unused): (Vec<i64>, Vec<i64>) = x86
        .iter()
        .chain(&arm)
        .map(|i| i.id)
        .partition(|id| in_use.contains(id));
    for id in &unused {
        client.delete_image(*id).await?;
    }
    Ok((unused, kept))
}

use std::fmt;

use crate::hcloud::catalog::Architecture;
use crate::hcloud::labels::{self, Labels, Selector};
use crate::talos::factory::Arch;
use crate::talos::version::TalosVersion;

/// Label naming the CPU architecture of a snapshot (`amd64`, `arm64`).
pub const ARCH_LABEL: &str = "hk8s.io/arch";
/// Label marking the temporary objects of a build (value [`BUILD_ROLE`] of [`labels::ROLE`]).
pub const BUILD_ROLE: &str = "image-build";

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SnapshotKey {
    /// Talos version.
    pub version: TalosVersion,
    /// Image Factory schematic id.
    pub schematic: String,
    /// CPU architecture.
    pub architecture: Architecture,
}

impl SnapshotKey {
    /// The factory's name for the architecture.
    pub fn arch(&self) -> Arch {
        match self.architecture {
            Architecture::X86 => Arch::Amd64,
            Architecture::Arm => Arch::Arm64,
        }
    }

    /// The labels of the snapshot (and, with the build role, of the build's objects).
    pub fn labels(&self) -> Labels {
        [
            (labels::TALOS_VERSION, self.version.to_string()),
            (labels::SCHEMATIC, labels::schematic_value(&self.schematic)),
            (ARCH_LABEL, self.arch().as_str().to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Selects the snapshots of this key, with the list's `architecture` filter: the arch
    /// label is not required, so snapshots labelled by hand with version and schematic (as
    /// hk8s documented before it built them) keep matching.
    pub fn snapshot_selector(&self) -> Selector {
        Selector::default()
            .with(labels::TALOS_VERSION, &self.version.to_string())
            .with(labels::SCHEMATIC, &labels::schematic_value(&self.schematic))
    }

    /// Selects the temporary objects of this key's build.
    pub fn build_selector(&self) -> Selector {
        let mut labels = self.labels();
        labels.insert(labels::ROLE.to_owned(), BUILD_ROLE.to_owned());
        Selector::from(&labels)
    }

    /// The build server's name, the same for every apply building this key: Hetzner refuses a
    /// second server of that name, which makes it the lock.
    pub fn build_name(&self) -> String {
        format!(
            "hk8s-image-{}-{}-{}",
            self.version.to_string().replace('.', "-"),
            &self.schematic[..self.schematic.len().min(12)],
            self.arch().as_str()
        )
    }
}

impl fmt::Display for SnapshotKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Talos {} {} (schematic {})",
            self.version,
            self.arch().as_str(),
            &self.schematic[..self.schematic.len().min(12)]
        )
    }
}
