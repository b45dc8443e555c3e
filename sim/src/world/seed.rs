//! The images every fresh world starts with: the catalog's system images for both architectures and
//! the Talos snapshots requested with `--talos-snapshots`.

use super::disk::{Disk, TalosDisk, talos_arch};
use super::{Collections, Image, World};
use crate::catalog::{DEFAULT_TALOS_SCHEMATIC, SYSTEM_IMAGES};

/// Label holding the Talos version of a snapshot.
pub const TALOS_VERSION_LABEL: &str = "hk8s.io/talos-version";
/// Label holding the Image Factory schematic of a snapshot.
pub const TALOS_SCHEMATIC_LABEL: &str = "hk8s.io/schematic";

/// The [`TALOS_SCHEMATIC_LABEL`] value hk8s writes for a schematic id: its first 63 characters
/// (a Hetzner label value holds at most 63; an Image Factory id has 64).
pub fn schematic_label_value(id: &str) -> String {
    id.chars().take(crate::labels::MAX_NAME_LEN).collect()
}

pub(super) fn seed_images(world: &mut World) {
    let created = world.clock.timestamp();
    let mut id = 0;
    for (name, flavor, version) in SYSTEM_IMAGES {
        for arch in ["x86", "arm"] {
            id += 1;
            world.data.images.insert(
                id,
                Image {
                    id,
                    kind: "system".into(),
                    status: "available".into(),
                    name: Some((*name).into()),
                    description: format!("{} {}", capitalize(flavor), version),
                    image_size: None,
                    disk_size: 5.0,
                    created: created.clone(),
                    created_from: None,
                    os_flavor: (*flavor).into(),
                    os_version: Some((*version).into()),
                    architecture: arch.into(),
                    labels: Default::default(),
                    protect_delete: false,
                    disk: Disk::System((*name).into()),
                },
            );
        }
    }
    for version in world.talos_versions.clone() {
        for arch in ["x86", "arm"] {
            let id = world.next_id();
            let disk = Disk::Talos(TalosDisk {
                version: version.clone(),
                schematic: DEFAULT_TALOS_SCHEMATIC.into(),
                arch: talos_arch(arch).into(),
            });
            let labels = [
                (TALOS_VERSION_LABEL.to_string(), version.clone()),
                (
                    TALOS_SCHEMATIC_LABEL.to_string(),
                    schematic_label_value(DEFAULT_TALOS_SCHEMATIC),
                ),
            ]
            .into_iter()
            .collect();
            world.data.images.insert(
                id,
                Image {
                    id,
                    kind: "snapshot".into(),
                    status: "available".into(),
                    name: None,
                    description: format!("Talos {version} ({arch})"),
                    image_size: Some(0.3),
                    disk_size: 20.0,
                    created: created.clone(),
                    created_from: None,
                    os_flavor: "unknown".into(),
                    os_version: None,
                    architecture: arch.into(),
                    labels,
                    protect_delete: false,
                    disk,
                },
            );
        }
    }
}

/// Disks for a state file written before the sim recorded them: system images hold their
/// system, snapshots labelled with a Talos version hold that version (with the labelled
/// schematic, else the default one) for their architecture, other snapshots hold nothing the sim
/// knows; servers hold their image's disk.
pub(super) fn derive_disks(data: &mut Collections) {
    for image in data.images.values_mut() {
        image.disk = if image.kind == "system" {
            image.name.clone().map_or(Disk::Unknown, Disk::System)
        } else if let Some(version) = image.labels.get(TALOS_VERSION_LABEL) {
            Disk::Talos(TalosDisk {
                version: version.clone(),
                schematic: image
                    .labels
                    .get(TALOS_SCHEMATIC_LABEL)
                    .filter(|label| !DEFAULT_TALOS_SCHEMATIC.starts_with(label.as_str()))
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_TALOS_SCHEMATIC.into()),
                arch: talos_arch(&image.architecture).into(),
            })
        } else {
            Disk::Unknown
        };
    }
    for server in data.servers.values_mut() {
        server.disk = server
            .image
            .and_then(|i| data.images.get(&i))
            .map_or(Disk::Unknown, |i| i.disk.clone());
    }
    data.disks_recorded = true;
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
