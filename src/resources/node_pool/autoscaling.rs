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

use crate::hcloud::labels::{SCHEMATIC, schematic_value};
use crate::hcloud::placement_groups::MAX_SERVERS_PER_GROUP;
use crate::kube::components::autoscaler::{
    self as component, CONFIG_SECRET, NodeGroup, RELEASE, Taint,
};
use crate::kube::components::{FIELD_MANAGER, NAMESPACE, labels};
use crate::kube::{Deadline, KubeClient, ListOptions, retry_transient};
use crate::provider::ProviderData;
use crate::resources::cluster_ref::ClusterRef;
use crate::resources::config_view as view;
use crate::resources::fleet::image as images;
use crate::resources::fleet::{Clients, Operation, failed, failure};
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::value::Value;

use super::machine;
use super::members::{
    DISK_ENCRYPTION_LABEL, LOCATION_LABEL, NODE_GROUP_LABEL, disk_encryption_label,
    node_group_name, placement_group_name, pool_labels, pool_selector,
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
        server_labels.insert(SCHEMATIC.to_owned(), schematic_value(schematic));
    }
    let taints = spec
        .taints
        .iter()
        .map(|t| Taint {
            key: t.key.clone(),
            value: t.value.clone().unwrap_or_default(),
            effect: t.effect.as_str().to_owned(),
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

/// How long an apply waits for the autoscaler to restart with a new configuration before it
/// goes on with a warning (the next apply brings stragglers up to date).
const RESTART_BUDGET: Duration = Duration::from_secs(5 * 60);

/// Writes the pool's node group, reassembles the autoscaler's configuration and waits (at most
/// [`RESTART_BUDGET`]) until the autoscaler runs it, so servers it makes from then on boot the
/// pool's current configuration. Returns a warning when it did not restart in time.
///
/// # Errors
/// Hetzner and Kubernetes errors, named; a node group name another cluster's servers use.
pub async fn publish(
    op: &Operation,
    kube: &KubeClient,
    spec: &PoolSpec,
) -> Result<Option<Diagnostic>, Diagnostics> {
    let (group, images) = node_group(op, spec).await?;
    check_group_is_ours(op, spec, &group.name).await?;
    tracing::info!(group = %group.name, min = group.min, max = group.max, "publishing the pool's autoscaler node group");
    let record = GroupRecord { group, images };
    let encoded = serde_json::to_string(&record)
        .map_err(|e| failed("Cannot encode the pool's node group", &e))?;
    let mut secret_labels = labels(RELEASE);
    secret_labels[GROUP_LABEL] = json!(record.group.name);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": group_secret_name(spec), "namespace": NAMESPACE, "labels": secret_labels},
        "stringData": {GROUP_KEY: encoded}});
    retry_transient(
        "write the pool's autoscaler node group",
        &op.deadline,
        || kube.apply(&secret, FIELD_MANAGER, true),
    )
    .await
    .map_err(|e| failed("Cannot write the pool's autoscaler node group", &e))?;
    let Some(hash) = assemble(&op.deadline, kube, Some(&record), None).await? else {
        return Ok(None);
    };
    let flag = format!("--nodes={}", record.group.nodes_flag());
    let budget = op.deadline.limited_to(RESTART_BUDGET);
    let running = kube
        .wait_release_template(
            NAMESPACE,
            RELEASE,
            "the pool's current node group",
            &budget,
            |template| {
                let annotated = template["metadata"]["annotations"]
                    [component::CONFIG_HASH_ANNOTATION]
                    == hash.as_str();
                let flagged = container_args(template).iter().any(|a| *a == flag);
                (!(annotated && flagged)).then(|| "an older configuration".to_owned())
            },
        )
        .await;
    match running {
        Ok(()) => Ok(None),
        Err(e) if budget.is_expired() && !op.deadline.is_expired() => {
            Ok(Some(Diagnostic::warning(
                "The cluster-autoscaler did not restart with the new configuration",
                format!(
                    "The pool's node group was written, but the cluster-autoscaler did not run it within \
                 {}s ({e}). Servers it makes meanwhile boot the previous configuration; the next \
                 apply brings them up to date. Check the cluster-autoscaler add-on's pods.",
                    RESTART_BUDGET.as_secs()
                ),
            )))
        }
        Err(e) => Err(failed(
            "Waiting for the cluster-autoscaler to run the pool's configuration failed",
            &e,
        )),
    }
}

/// Every argument of a pod template's containers (command and args).
fn container_args(template: &Json) -> Vec<&str> {
    template["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| {
            ["command", "args"]
                .into_iter()
                .flat_map(move |k| c[k].as_array().into_iter().flatten())
        })
        .filter_map(Json::as_str)
        .collect()
}

/// The node group name `<cluster>-<pool>` can be another cluster's (`prod` + `web-batch` and
/// `prod-web` + `batch`): its autoscaler would count this pool's servers as its own. Refused
/// when servers of the group belong to another cluster or pool.
async fn check_group_is_ours(
    op: &Operation,
    spec: &PoolSpec,
    group: &str,
) -> Result<(), Diagnostics> {
    let selector = crate::hcloud::labels::Selector::default().with(NODE_GROUP_LABEL, group);
    let servers = op
        .hcloud
        .list_servers(&selector)
        .await
        .map_err(|e| failed("Cannot list the node group's servers", &e))?;
    let foreign: Vec<&str> = servers
        .iter()
        .filter(|s| {
            s.labels.get(crate::hcloud::labels::CLUSTER) != Some(&spec.cluster.name)
                || s.labels.get(crate::hcloud::labels::POOL) != Some(&spec.name)
        })
        .map(|s| s.name.as_str())
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(Diagnostic::error(
        "Autoscaler node group name already in use",
        format!(
            "The cluster-autoscaler node group of this pool is named {group:?} (cluster name, \
             \"-\", pool name), and servers of another cluster or pool already carry that group \
             ({}). Rename this pool (or the cluster) so that the two names differ.",
            foreign.join(", ")
        ),
    )
    .at(AttributePath::root("name"))
    .into())
}

/// Removes the pool's node group from the autoscaler's configuration, if it is there, and waits
/// until no autoscaler process runs with it, so that none makes more servers for the pool.
/// Safe to repeat: the configuration is rewritten before the group's Secret goes, and the wait
/// runs every time.
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
    let selector = ListOptions::default().labels(format!("{GROUP_LABEL}={group}"));
    let secrets = retry_transient(
        "list the pool's autoscaler node group",
        &op.deadline,
        || kube.list("v1", "Secret", Some(NAMESPACE), &selector),
    )
    .await
    .map_err(|e| failed("Cannot list the pool's autoscaler node group", &e))?;
    let flag_suffix = format!(":{group}");
    let read = retry_transient(
        "read the cluster-autoscaler's configuration",
        &op.deadline,
        || {
            kube.get(
                "helm.cattle.io/v1",
                "HelmChartConfig",
                Some(NAMESPACE),
                RELEASE,
            )
        },
    )
    .await;
    let configured = match read {
        Ok(found) => found.is_some_and(|c| {
            c["spec"]["valuesContent"]
                .as_str()
                .is_some_and(|v| v.contains(&format!("\"{group}\"")))
        }),
        Err(e) if e.is_unknown_kind() => false,
        Err(e) => {
            return Err(failed(
                "Cannot read the cluster-autoscaler's configuration",
                &e,
            ));
        }
    };
    if !secrets.is_empty() || configured {
        tracing::info!(%group, "withdrawing the pool's autoscaler node group");
        assemble(&op.deadline, kube, None, Some(&group)).await?;
        for secret in &secrets {
            if let Some(name) = secret["metadata"]["name"].as_str() {
                retry_transient(
                    "delete the pool's autoscaler node group",
                    &op.deadline,
                    || kube.delete("v1", "Secret", Some(NAMESPACE), name, None),
                )
                .await
                .map_err(|e| failed("Cannot delete the pool's autoscaler node group", &e))?;
            }
        }
    }
    kube.wait_release_template(
        NAMESPACE,
        RELEASE,
        "without the pool's node group",
        &op.deadline,
        |template| {
            container_args(template)
                .iter()
                .any(|a| a.ends_with(&flag_suffix))
                .then(|| format!("still runs node group {group}"))
        },
    )
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
/// cluster, with `own` (the applying pool's record: its snapshots win, as they are the ones it
/// just resolved) and without `without` (a group being withdrawn); deletes both when no group is
/// left. Returns the configuration's hash, `None` when there is no group. Pools applying at
/// once may interleave: the assembly is repeated until the groups it saw are still the groups
/// there are.
///
/// # Errors
/// Kubernetes errors, or group Secrets that keep changing. Each request is repeated through
/// transient failures within `deadline` (reads, and idempotent applies and deletes).
async fn assemble(
    deadline: &Deadline,
    kube: &KubeClient,
    own: Option<&GroupRecord>,
    without: Option<&str>,
) -> Result<Option<String>, Diagnostics> {
    let all = ListOptions::default().labels(GROUP_LABEL);
    let list = || async {
        retry_transient("list the autoscaler node groups", deadline, || {
            kube.list("v1", "Secret", Some(NAMESPACE), &all)
        })
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
        let mut records: BTreeMap<String, GroupRecord> = BTreeMap::new();
        for secret in &secrets {
            match decode_record(secret) {
                Some(record) => {
                    records.insert(record.group.name.clone(), record);
                }
                None => tracing::warn!(
                    secret = secret["metadata"]["name"].as_str().unwrap_or_default(),
                    "an autoscaler node group Secret that cannot be read is left out"
                ),
            }
        }
        if let Some(own) = own {
            records.insert(own.group.name.clone(), own.clone());
        }
        if let Some(without) = without {
            records.remove(without);
        }
        let mut images = BTreeMap::new();
        for record in records.values() {
            images.extend(record.images.clone());
        }
        if let Some(own) = own {
            images.extend(own.images.clone());
        }
        let groups: Vec<NodeGroup> = records.into_values().map(|r| r.group).collect();
        let hash = if groups.is_empty() {
            for (api_version, kind, name) in [
                ("helm.cattle.io/v1", "HelmChartConfig", RELEASE),
                ("v1", "Secret", CONFIG_SECRET),
            ] {
                let deleted =
                    retry_transient("remove the autoscaler's configuration", deadline, || {
                        kube.delete(api_version, kind, Some(NAMESPACE), name, None)
                    })
                    .await;
                match deleted {
                    Ok(_) => {}
                    Err(e) if e.is_unknown_kind() => {}
                    Err(e) => {
                        return Err(failed("Cannot remove the autoscaler's configuration", &e));
                    }
                }
            }
            None
        } else {
            let config = component::cluster_config(&images, &groups);
            for object in [
                component::config_secret(&config),
                component::chart_config(&config, &groups),
            ] {
                retry_transient(
                    "write the cluster-autoscaler's configuration",
                    deadline,
                    || kube.apply(&object, FIELD_MANAGER, true),
                )
                .await
                .map_err(|e| failed("Cannot write the cluster-autoscaler's configuration", &e))?;
            }
            Some(component::config_hash(&config))
        };
        let again = list().await?;
        if versions(&again) == versions(&secrets) {
            return Ok(hash);
        }
        secrets = again;
    }
    Err(failure(
        "The autoscaler node groups kept changing",
        "other applies rewrote the cluster's autoscaler node groups five times while this one \
         assembled them; apply again",
    ))
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
