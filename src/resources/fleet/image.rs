//! Which snapshot new servers boot from: the ids given per architecture, a label selector's
//! newest match, or the snapshot of the Talos version and schematic, built when missing.

use std::collections::BTreeMap;

use crate::hcloud::Error;
use crate::hcloud::catalog::Architecture;
use crate::hcloud::labels;
use crate::snapshot::SnapshotKey;
use crate::snapshot::build::{BuildError, Builder};
use crate::talos::factory::Factory;
use crate::talos::version::TalosVersion;

use super::Operation;
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};

pub use crate::talos::factory::DEFAULT_SCHEMATIC;

/// Where new servers boot from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageSpec {
    /// Snapshot ids given per architecture.
    pub snapshot_ids: BTreeMap<Architecture, i64>,
    /// A label selector choosing the snapshot.
    pub selector: Option<String>,
    /// The Image Factory schematic (YAML) the snapshots are built from; `None`: plain Talos.
    pub schematic: Option<String>,
    /// Architectures whose snapshots the cluster ensures besides its control plane's.
    pub architectures: Vec<Architecture>,
    /// The schematic's id, once [`ImageSpec::resolve_schematic`] asked the factory (empty
    /// before).
    pub schematic_id: String,
}

impl ImageSpec {
    /// Whether the user brings their own snapshots (ids or a selector): hk8s then builds nothing.
    pub fn is_custom(&self) -> bool {
        !self.snapshot_ids.is_empty() || self.selector.is_some()
    }

    /// Sets [`ImageSpec::schematic_id`]: the factory's id for the schematic (no request for
    /// plain Talos).
    ///
    /// # Errors
    /// The factory's refusal, at `at` (where the schematic was configured).
    pub async fn resolve_schematic(
        &mut self,
        factory: &Factory,
        at: AttributePath,
    ) -> Result<(), Diagnostics> {
        let schematic = self.schematic.as_deref().unwrap_or_default();
        self.schematic_id = factory.schematic_id(schematic).await.map_err(|e| {
            Diagnostics::from(
                Diagnostic::error("The Image Factory refused the schematic", e.to_string()).at(at),
            )
        })?;
        Ok(())
    }

    /// The schematic new servers boot, as their [`labels::SCHEMATIC`] label records it; `None`
    /// for snapshots the user brings (hk8s cannot know what they hold).
    pub fn server_schematic(&self) -> Option<&str> {
        (!self.is_custom()).then(|| self.schematic_id())
    }

    /// Whether a server with `server_labels` runs the schematic this image wants. Servers
    /// without the label predate it and were made from the default schematic; with snapshots
    /// the user brings, every server is current (an id or selector change affects new servers
    /// only).
    pub fn is_current(&self, server_labels: &crate::hcloud::labels::Labels) -> bool {
        self.server_schematic().is_none_or(|wanted| {
            let label = server_labels
                .get(labels::SCHEMATIC)
                .map_or(DEFAULT_SCHEMATIC, String::as_str);
            labels::schematic_matches(label, wanted)
        })
    }

    fn schematic_id(&self) -> &str {
        if self.schematic_id.is_empty() {
            DEFAULT_SCHEMATIC
        } else {
            &self.schematic_id
        }
    }
}

/// The snapshot to boot `architecture` servers from: the configured id, the configured
/// selector's newest match, or the snapshot of this Talos version and schematic, built when
/// missing (the build server goes to `location` first).
///
/// # Errors
/// [`SnapshotError::Missing`] for a selector without a match; the build's failure.
pub async fn find_snapshot(
    op: &Operation,
    image: &ImageSpec,
    talos_version: &TalosVersion,
    architecture: Architecture,
    location: &str,
) -> Result<i64, SnapshotError> {
    if let Some(id) = image.snapshot_ids.get(&architecture) {
        return Ok(*id);
    }
    if let Some(selector) = &image.selector {
        let found = op
            .hcloud
            .list_snapshots_matching(selector, architecture)
            .await
            .map_err(SnapshotError::Api)?;
        return found
            .iter()
            .find(|image| image.is_available())
            .map(|image| image.id)
            .ok_or(SnapshotError::Missing(SnapshotMissing {
                selector: selector.clone(),
                architecture,
            }));
    }
    let builder = Builder {
        hcloud: op.hcloud.clone(),
        factory: op.factory.clone(),
        location: location.to_owned(),
    };
    let key = SnapshotKey {
        version: talos_version.clone(),
        schematic: image.schematic_id().to_owned(),
        architecture,
    };
    builder.ensure(&key).await.map_err(SnapshotError::Build)
}

/// The snapshot new servers need, looked up (and built) at most once per operation and only
/// when asked for, or started early with [`SnapshotSource::prefetch`] when servers will surely
/// be created: an update that creates no server never builds a snapshot.
#[derive(Clone)]
pub struct SnapshotSource {
    find: futures::future::Shared<futures::future::BoxFuture<'static, Result<i64, String>>>,
    what: String,
}

impl SnapshotSource {
    /// The snapshot for `architecture` servers; `what` names them in errors.
    pub fn new(
        op: &Operation,
        image: &ImageSpec,
        talos_version: &TalosVersion,
        architecture: Architecture,
        location: &str,
        what: impl Into<String>,
    ) -> Self {
        use futures::FutureExt as _;
        let (op, image, version, location) = (
            op.clone(),
            image.clone(),
            talos_version.clone(),
            location.to_owned(),
        );
        let find = async move {
            find_snapshot(&op, &image, &version, architecture, &location)
                .await
                .map_err(|e| {
                    crate::resources::fleet::redact_blobs(&crate::resources::fleet::chain(&e))
                })
        }
        .boxed()
        .shared();
        SnapshotSource {
            find,
            what: what.into(),
        }
    }

    /// Starts the lookup (and build) now, in the background.
    pub fn prefetch(&self) {
        tokio::spawn(self.find.clone());
    }

    /// The snapshot id.
    ///
    /// # Errors
    /// Why there is none, as a diagnostic.
    pub async fn id(&self) -> Result<i64, Diagnostics> {
        self.find.clone().await.map_err(|message| {
            Diagnostic::error(format!("No Talos image to boot {}", self.what), message).into()
        })
    }
}

/// The installer image for Talos upgrades: the Image Factory installer of the schematic the
/// nodes boot; with snapshots the user brings (ids or selector), the upstream installer.
pub fn installer(image: &ImageSpec, factory: &Factory, version: &TalosVersion) -> String {
    if image.is_custom() {
        crate::talos::ops::installer_image(None, version)
    } else {
        factory.installer_image(image.schematic_id(), version)
    }
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
        "no available {} snapshot matches image.selector {:?}; create one labelled that way, or \
         remove image.selector to let hk8s build the Talos snapshot it needs",
        .0.architecture.kubernetes_name(),
        .0.selector
    )]
    Missing(SnapshotMissing),
    /// The lookup failed.
    #[error(transparent)]
    Api(Error),
    /// The snapshot could not be built.
    #[error(transparent)]
    Build(BuildError),
}
