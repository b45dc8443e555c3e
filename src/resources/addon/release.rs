//! What an addon installs, from its planned (or stored) value and its cluster: the HelmChart
//! (chart, pinned version, values = derived defaults with the user's values merged over them)
//! and the objects it needs first (for hcloud-csi: the token Secret and the LUKS passphrase
//! Secret).

use std::time::Duration;

use serde_json::{Value as Json, json};

use super::catalog;
use crate::kube::components::NAMESPACE as SYSTEM_NAMESPACE;
use crate::kube::helm::{self, ChartSpec};
use crate::resources::cluster_ref::ClusterRef;
use crate::resources::config_view as view;
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::value::Value;

/// The hcloud-csi catalog name.
pub const CSI: &str = "hcloud-csi";
/// The cluster-autoscaler catalog name; its node groups come from autoscaled pools.
pub const AUTOSCALER: &str = crate::kube::components::autoscaler::RELEASE;
/// The Secret holding the LUKS passphrase of the encrypted storage class.
pub const CSI_ENCRYPTION_SECRET: &str = "hcloud-csi-encryption";
/// Label the CSI driver puts on the volumes it creates (with the cluster name), so a cluster's
/// destroy finds them.
pub const VOLUME_CLUSTER_LABEL: &str = "hk8s.io/cluster";

fn attr(name: &str) -> AttributePath {
    AttributePath::root(name)
}

/// One addon as the cluster will see it.
#[derive(Debug, Clone)]
pub struct AddonRelease {
    /// The HelmChart.
    pub chart: ChartSpec,
    /// Objects applied before the chart.
    pub prerequisites: Vec<Json>,
    /// Whether the addon (hcloud-csi, cluster-autoscaler) needs the token Secret `hcloud`
    /// (created when the cluster's cloud controller did not).
    pub needs_hcloud_secret: bool,
    /// Wait for the install and the workloads.
    pub wait: bool,
    /// How long that may take.
    pub timeout: Duration,
}

fn problem(path: &AttributePath, what: impl Into<String>) -> Diagnostics {
    Diagnostic::error("Unexpected addon value", what.into())
        .at(path.clone())
        .into()
}

/// Defaults the provider derives from the cluster for a catalog entry.
fn derived_values(name: &str, cluster: &ClusterRef) -> Json {
    match name {
        CSI => json!({
            "storageClasses": [
                {"name": "hcloud-volumes", "defaultStorageClass": true, "reclaimPolicy": "Delete"},
                {"name": "hcloud-volumes-encrypted", "reclaimPolicy": "Delete", "extraParameters": {
                    "csi.storage.k8s.io/node-publish-secret-name": CSI_ENCRYPTION_SECRET,
                    "csi.storage.k8s.io/node-publish-secret-namespace": SYSTEM_NAMESPACE,
                }},
            ],
            "controller": {"volumeExtraLabels": {VOLUME_CLUSTER_LABEL: cluster.name}},
        }),
        "cert-manager" => json!({"crds": {"enabled": true}}),
        AUTOSCALER => crate::kube::components::autoscaler::addon_values(
            cluster.network_id,
            (crate::kube::components::ccm::SECRET, "token"),
        ),
        _ => json!({}),
    }
}

/// Reads the release out of an addon value whose `cluster` is known.
///
/// # Errors
/// A value the plan should have settled is missing.
pub fn build(value: &Value, cluster: &ClusterRef) -> Result<AddonRelease, Diagnostics> {
    let name = view::string(value, &attr("name"))
        .ok_or_else(|| problem(&attr("name"), "the name is not known"))?
        .to_owned();
    let namespace = view::string(value, &attr("namespace"))
        .ok_or_else(|| problem(&attr("namespace"), "the namespace is not known"))?
        .to_owned();
    let version = view::string(value, &attr("version"))
        .ok_or_else(|| problem(&attr("version"), "the version is not known"))?
        .to_owned();
    let chart_path = attr("chart");
    let (repo, chart, mut values) = match view::known(value, &chart_path) {
        Some(_) => (
            view::string(value, &chart_path.attr("repository"))
                .unwrap_or_default()
                .to_owned(),
            view::string(value, &chart_path.attr("name"))
                .unwrap_or_default()
                .to_owned(),
            json!({}),
        ),
        None => {
            let entry = catalog::find(&name)
                .ok_or_else(|| problem(&attr("name"), format!("{name:?} is not in the catalog")))?;
            (
                entry.repository.to_owned(),
                entry.chart.to_owned(),
                derived_values(&name, cluster),
            )
        }
    };
    let user = view::string(value, &attr("values")).unwrap_or_default();
    let user = crate::resources::helm_values::parse(user)
        .map_err(|e| problem(&attr("values"), e.to_string()))?;
    helm::merge_values(&mut values, &user);
    let timeout = view::string(value, &attr("timeout"))
        .and_then(|t| crate::provider::parse_duration(t).ok())
        .unwrap_or(Duration::from_secs(600));
    let mut prerequisites = Vec::new();
    if name == CSI
        && let Some(passphrase) = view::string(value, &attr("encryption_passphrase"))
    {
        prerequisites.push(json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": CSI_ENCRYPTION_SECRET, "namespace": SYSTEM_NAMESPACE,
                         "labels": {"app.kubernetes.io/managed-by": "hk8s"}},
            "stringData": {"encryption-passphrase": passphrase},
        }));
    }
    Ok(AddonRelease {
        chart: ChartSpec {
            name: name.clone(),
            namespace,
            repo,
            chart,
            version,
            values: helm::values_yaml(&values),
            timeout: Some(timeout),
            labels: Default::default(),
        },
        prerequisites,
        needs_hcloud_secret: name == CSI || name == AUTOSCALER,
        wait: view::boolean(value, &attr("wait")).unwrap_or(true),
        timeout,
    })
}

/// A new LUKS passphrase: 32 random bytes, base64.
pub fn new_passphrase() -> String {
    use base64::Engine;
    use rand::Rng;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
