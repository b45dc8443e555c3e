//! An autoscaled pool as a node group of the cluster-autoscaler (Hetzner provider).
//!
//! Each autoscaled pool keeps its node group in a Secret of its own in `kube-system`
//! ([`GROUP_LABEL`]): the group's `--nodes` bounds, the worker machine configuration as user
//! data, node labels and taints, server labels (the pool's, so the autoscaler's servers are
//! found, rolled and deleted with the pool's), placement group, and the snapshot for its
//! architecture. Whichever pool applies then reassembles the autoscaler's configuration from
//! every group Secret of the cluster ([`crate::kube::components::autoscaler`]): one writer at a
//! time sees every pool, and pools never overwrite each other's groups. The
//! `cluster-autoscaler` add-on owns the HelmChart (token, polling); the configuration reaches it
//! through helm-controller's HelmChartConfig overlay.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use tokio_util::sync::CancellationToken;

use crate::hcloud::labels::SCHEMATIC;
use crate::hcloud::placement_groups::MAX_SERVERS_PER_GROUP;
use crate::kube::components::autoscaler::{
    self as component, CONFIG_SECRET, NodeGroup, RELEASE, Taint,
};
use crate::kube::components::{FIELD_MANAGER, NAMESPACE, labels};
use crate::kube::{KubeClient, ListOptions};
use crate::provider::ProviderData;
use crate::resources::cluster_ref::ClusterRef;
use crate::resources::config_view as view;
use crate::resources::fleet::image as images;
use crate::resources::fleet::{Clients, Operation, failed, failure};
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::value::Value;

use super::machine;
use super::members::{
    DISK_ENCRYPTION_LABEL, LOCATION_LABEL, disk_encryption_label, node_group_name,
    placement_group_name, pool_labels, pool_selector,
};
use super::spec::{PoolSpec, Size};

/// Label of a pool's group Secret; its value is the node group's name.
pub const GROUP_LABEL: &str = "hk8s.io/autoscaler-node-group";
/// The key of the group Secret holding [`GroupRecord`] as JSON.
const GROUP_KEY: &str = "group.json";

/// What a pool's group Secret holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GroupRecord {
    group: NodeGroup,
    /// Architecture (`amd64`/`arm64`) → snapshot id, as text.
    images: BTreeMap<String, String>,
}

fn group_secret_name(spec: &PoolSpec) -> String {
    format!("hk8s-autoscaler-{}", spec.name)
}

/// The pool as a node group: its snapshot, placement group and machine configuration.
async fn node_group(
    op: &Operation,
    spec: &PoolSpec,
) -> Result<(NodeGroup, BTreeMap<String, String>), Diagnostics> {
    let Size::Autoscaled { min, max } = spec.size else {
        return Err(failure(
            "Not an autoscaled pool",
            "the node group of a fixed-size pool was asked for; this is a bug in the provider",
        ));
    };
    let location = spec.locations.first().cloned().unwrap_or_default();
    let snapshot = images::find_snapshot(
        op,
        &spec.cluster.image,
        &spec.cluster.talos_version,
        spec.architecture,
        &location,
    )
    .await
    .map_err(|e| {
        failed(
            format!(
                "No Talos image for the autoscaler to boot the pool's {} servers from",
                spec.architecture
            ),
            &e,
        )
    })?;
    let arch = spec.architecture.kubernetes_name().to_owned();
    let placement_group = if max as usize <= MAX_SERVERS_PER_GROUP {
        Some(
            ensure_placement_group(op, spec, &location)
                .await?
                .to_string(),
        )
    } else {
        // A spread group holds at most 10 servers and a node group names one group.
        None
    };
    // The hostname is left to Hetzner's metadata for autoscaled pools (see `machine`).
    let config = machine::worker_config(spec, "")
        .map_err(|e| failed("Cannot build the autoscaler's machine configuration", &e))?;
    let user_data = config
        .to_user_data()
        .map_err(|e| failed("Cannot encode the autoscaler's machine configuration", &e))?;
    let mut server_labels: BTreeMap<String, String> = pool_labels(&spec.cluster.name, &spec.name)
        .into_iter()
        .collect();
    server_labels.insert(
        DISK_ENCRYPTION_LABEL.to_owned(),
        disk_encryption_label(spec.cluster.disk_encryption).to_owned(),
    );
    if let Some(schematic) = spec.cluster.image.server_schematic() {
        server_labels.insert(SCHEMATIC.to_owned(), schematic.to_owned());
    }
    let taints = spec
        .taints
        .iter()
        .map(|t| {
            let text = t.talos_value();
            let (value, effect) = text.rsplit_once(':').unwrap_or(("", text.as_str()));
            Taint {
                key: t.key.clone(),
                value: value.to_owned(),
                effect: effect.to_owned(),
            }
        })
        .collect();
    let group = NodeGroup {
        name: node_group_name(&spec.cluster.name, &spec.name),
        min,
        max,
        server_type: spec.server_type.clone(),
        location,
        arch: arch.clone(),
        user_data,
        labels: spec.labels.clone(),
        taints,
        server_labels,
        placement_group,
    };
    Ok((group, [(arch, snapshot.to_string())].into()))
}

/// The pool's placement group in `location` (the first, `…-1`), made when missing.
async fn ensure_placement_group(
    op: &Operation,
    spec: &PoolSpec,
    location: &str,
) -> Result<i64, Diagnostics> {
    let name = placement_group_name(&spec.cluster.name, &spec.name, location, 1);
    let groups = op
        .hcloud
        .list_placement_groups(&pool_selector(&spec.cluster.name, &spec.name))
        .await
        .map_err(|e| failed("Cannot list the pool's placement groups", &e))?;
    if let Some(group) = groups.iter().find(|g| g.name == name) {
        return Ok(group.id);
    }
    let mut labels = pool_labels(&spec.cluster.name, &spec.name);
    labels.insert(LOCATION_LABEL.to_owned(), location.to_owned());
    let made = op
        .hcloud
        .create_placement_group(&name, &labels)
        .await
        .map_err(|e| failed(format!("Cannot create placement group {name}"), &e))?;
    Ok(made.value.id)
}

/// Writes the pool's node group and reassembles the autoscaler's configuration.
///
/// # Errors
/// Hetzner and Kubernetes errors, named.
pub async fn publish(
    op: &Operation,
    kube: &KubeClient,
    spec: &PoolSpec,
) -> Result<(), Diagnostics> {
    let (group, images) = node_group(op, spec).await?;
    tracing::info!(group = %group.name, min = group.min, max = group.max, "publishing the pool's autoscaler node group");
    let record = serde_json::to_string(&GroupRecord {
        group: group.clone(),
        images,
    })
    .map_err(|e| failed("Cannot encode the pool's node group", &e))?;
    let mut secret_labels = labels(RELEASE);
    secret_labels[GROUP_LABEL] = json!(group.name);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": group_secret_name(spec), "namespace": NAMESPACE, "labels": secret_labels},
        "stringData": {GROUP_KEY: record}});
    kube.apply(&secret, FIELD_MANAGER, true)
        .await
        .map_err(|e| failed("Cannot write the pool's autoscaler node group", &e))?;
    assemble(kube).await
}

/// Removes the pool's node group from the autoscaler's configuration, if it has one, and waits
/// until the autoscaler runs without it, so that it makes no more servers for the pool.
///
/// # Errors
/// Kubernetes errors, or the autoscaler not restarting within the operation's deadline.
pub async fn withdraw(
    op: &Operation,
    kube: &KubeClient,
    cluster: &str,
    pool: &str,
) -> Result<(), Diagnostics> {
    let group = node_group_name(cluster, pool);
    let secrets = kube
        .list(
            "v1",
            "Secret",
            Some(NAMESPACE),
            &ListOptions::default().labels(format!("{GROUP_LABEL}={group}")),
        )
        .await
        .map_err(|e| failed("Cannot list the pool's autoscaler node group", &e))?;
    if secrets.is_empty() {
        return Ok(());
    }
    tracing::info!(%group, "withdrawing the pool's autoscaler node group");
    for secret in &secrets {
        if let Some(name) = secret["metadata"]["name"].as_str() {
            kube.delete("v1", "Secret", Some(NAMESPACE), name, None)
                .await
                .map_err(|e| failed("Cannot delete the pool's autoscaler node group", &e))?;
        }
    }
    assemble(kube).await?;
    let flag_suffix = format!(":{group}");
    kube.wait_release_without_arg(NAMESPACE, RELEASE, &flag_suffix, &op.deadline)
        .await
        .map_err(|e| {
            failed(
                "The cluster-autoscaler did not restart without the pool's node group",
                &e,
            )
        })
}

fn decode_record(secret: &Json) -> Option<GroupRecord> {
    let encoded = secret["data"][GROUP_KEY].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Rebuilds the configuration Secret and the HelmChartConfig from every group Secret of the
/// cluster (deletes both when none is left). Pools applying at once may interleave: the
/// assembly is repeated until the groups it saw are still the groups there are.
async fn assemble(kube: &KubeClient) -> Result<(), Diagnostics> {
    let list = || async {
        kube.list(
            "v1",
            "Secret",
            Some(NAMESPACE),
            &ListOptions::default().labels(GROUP_LABEL),
        )
        .await
        .map_err(|e| failed("Cannot list the autoscaler node groups", &e))
    };
    let versions = |secrets: &[Json]| -> Vec<String> {
        let mut v: Vec<String> = secrets
            .iter()
            .map(|s| {
                format!(
                    "{}@{}",
                    s["metadata"]["name"].as_str().unwrap_or_default(),
                    s["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or_default()
                )
            })
            .collect();
        v.sort();
        v
    };
    let mut secrets = list().await?;
    for _ in 0..5 {
        let mut groups = Vec::new();
        let mut images = BTreeMap::new();
        for secret in &secrets {
            match decode_record(secret) {
                Some(record) => {
                    images.extend(record.images);
                    groups.push(record.group);
                }
                None => tracing::warn!(
                    secret = secret["metadata"]["name"].as_str().unwrap_or_default(),
                    "an autoscaler node group Secret that cannot be read is left out"
                ),
            }
        }
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        if groups.is_empty() {
            for (api_version, kind, name) in [
                ("helm.cattle.io/v1", "HelmChartConfig", RELEASE),
                ("v1", "Secret", CONFIG_SECRET),
            ] {
                match kube
                    .delete(api_version, kind, Some(NAMESPACE), name, None)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.is_unknown_kind() => {}
                    Err(e) => {
                        return Err(failed("Cannot remove the autoscaler's configuration", &e));
                    }
                }
            }
        } else {
            let config = component::cluster_config(&images, &groups);
            for object in [
                component::config_secret(&config),
                component::chart_config(&config, &groups),
            ] {
                kube.apply(&object, FIELD_MANAGER, true)
                    .await
                    .map_err(|e| {
                        failed("Cannot write the cluster-autoscaler's configuration", &e)
                    })?;
            }
        }
        let again = list().await?;
        if versions(&again) == versions(&secrets) {
            return Ok(());
        }
        secrets = again;
    }
    Ok(())
}

/// How long a plan may spend asking the cluster whether the autoscaler is installed.
const PLAN_LOOKUP_BUDGET: Duration = Duration::from_secs(20);

/// The plan-time warning for an autoscaled pool whose cluster runs no cluster-autoscaler (its
/// HelmChart is absent): the pool would never grow. `None` when it is installed, when the
/// pool is not autoscaled, or when the cluster cannot be asked (not created yet, unreachable:
/// logged only).
pub async fn missing_autoscaler(
    data: &ProviderData,
    cancel: &CancellationToken,
    planned: &Value,
) -> Option<Diagnostic> {
    view::known(planned, &AttributePath::root("autoscaling")).filter(|a| !a.is_null())?;
    let connection =
        view::known(planned, &AttributePath::root("cluster")).filter(|c| !c.is_null())?;
    let cluster = ClusterRef::from_connection(connection).ok()?;
    let lookup = async {
        let clients = Clients::connect(
            &cluster.secrets,
            &cluster.endpoint_ip,
            &cluster.name,
            data.poll_interval,
        )
        .await
        .ok()?;
        clients
            .kube
            .get("helm.cattle.io/v1", "HelmChart", Some(NAMESPACE), RELEASE)
            .await
            .map_err(|e| tracing::info!(error = %e, "cannot tell whether the cluster-autoscaler is installed"))
            .ok()
    };
    let found = tokio::select! {
        found = tokio::time::timeout(PLAN_LOOKUP_BUDGET, lookup) => found.ok().flatten()?,
        () = cancel.cancelled() => return None,
    };
    found.is_none().then(|| {
        Diagnostic::warning(
            "No cluster-autoscaler runs in the cluster",
            format!(
                "This pool is autoscaled, but cluster {:?} has no cluster-autoscaler: the pool \
                 stays at the nodes it has and never grows for pending pods. Add \
                 `resource \"hk8s_addon\" \"autoscaler\" {{ cluster = hk8s_cluster.<name>.connection, \
                 name = \"cluster-autoscaler\" }}` (ignore this if that add-on is part of this plan).",
                cluster.name
            ),
        )
        .at(AttributePath::root("autoscaling"))
    })
}
