//! Which snapshot new servers boot from: the ids given per architecture, a label selector's
//! newest match, or the snapshot labelled for the Talos version and the default schematic.

use std::collections::BTreeMap;

use crate::hcloud::catalog::Architecture;
use crate::hcloud::labels::{self, Selector};
use crate::hcloud::{Client, Error};

/// The Image Factory schematic of the snapshots hk8s looks for by default (Talos with no system
/// extensions; what `hk8s.io/schematic` holds on snapshots built for hk8s).
pub const DEFAULT_SCHEMATIC: &str =
    "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";

/// Where new servers boot from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageSpec {
    /// Snapshot ids given per architecture.
    pub snapshot_ids: BTreeMap<Architecture, i64>,
    /// A label selector choosing the snapshot.
    pub selector: Option<String>,
}

/// The snapshot to boot `architecture` servers from: the configured id, the configured selector's
/// newest match, or the newest snapshot labelled for this Talos version and the default schematic.
///
/// # Errors
/// [`SnapshotMissing`] saying what was looked for; Hetzner errors.
pub async fn find_snapshot(
    client: &Client,
    image: &ImageSpec,
    talos_version: &str,
    architecture: Architecture,
) -> Result<i64, SnapshotError> {
    if let Some(id) = image.snapshot_ids.get(&architecture) {
        return Ok(*id);
    }
    let selector_text = match &image.selector {
        Some(text) => text.clone(),
        None => Selector::default()
            .with(labels::TALOS_VERSION, talos_version)
            .with(labels::SCHEMATIC, DEFAULT_SCHEMATIC)
            .to_string(),
    };
    let found = client
        .list_snapshots_matching(&selector_text, architecture)
        .await
        .map_err(SnapshotError::Api)?;
    found
        .iter()
        .find(|image| image.is_available())
        .map(|image| image.id)
        .ok_or(SnapshotError::Missing(SnapshotMissing {
            selector: selector_text,
            architecture,
        }))
}

/// The installer image for Talos upgrades: the Image Factory installer of the schematic hk8s
/// boots from by default; with a custom image (ids or selector), the upstream installer.
pub fn installer(image: &ImageSpec, version: &crate::talos::version::TalosVersion) -> String {
    let custom = !image.snapshot_ids.is_empty() || image.selector.is_some();
    let schematic = (!custom).then_some(DEFAULT_SCHEMATIC);
    crate::talos::ops::installer_image(schematic, version)
}

/// No snapshot matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotMissing {
    /// The label selector used.
    pub selector: String,
    /// The architecture needed.
    pub architecture: Architecture,
}

/// Why no snapshot id came back.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// None matches.
    #[error(
        "no available {} Talos snapshot matches the labels {}; create one (for example with Talos's \
         Image Factory hcloud image written to a server's disk in rescue mode, then a snapshot \
         labelled that way) or set image.snapshot_ids / image.selector",
        .0.architecture.kubernetes_name(),
        .0.selector
    )]
    Missing(SnapshotMissing),
    /// The lookup failed.
    #[error(transparent)]
    Api(Error),
}
