//! `terraform import hk8s_cluster.<name> <cluster name>`: rebuilds state from the objects labelled
//! for the cluster.
//!
//! Hetzner knows the servers, network, firewall and load balancer, and the snapshot's labels tell
//! the Talos version. What only the nodes know (Kubernetes version, pod and service ranges, CNI,
//! patches, labels, taints) cannot be read without the cluster's secrets, which Hetzner does not
//! hold: those attributes are imported as null, and the first plan records the configured values
//! in place, with no infrastructure change, once `secrets` is set in the configuration (see
//! `plan::adopt_imported`).

use crate::hcloud::labels;
use crate::tfplugin::diag::{Diagnostic, Diagnostics};
use crate::tfplugin::value::{Type, Value};

use super::observe;
use super::refresh;
use super::state;
use crate::resources::fleet::{Operation, failed};

/// The state of the existing cluster `name`.
///
/// # Errors
/// When nothing is labelled for the cluster, or Hetzner cannot be listed.
pub async fn import(op: &Operation, name: &str, value_type: &Type) -> Result<Value, Diagnostics> {
    let observed = observe::observe(&op.hcloud, name, None, observe::Servers::ControlPlanes)
        .await
        .map_err(|e| failed("Cannot read the cluster's Hetzner objects", &e))?;
    if observed.members.is_empty() {
        return Err(Diagnostic::error(
            "No such cluster",
            format!(
                "No control-plane server labelled {}={name} and {}=control-plane exists in this \
                 Hetzner project; check the name and the token's project.",
                labels::CLUSTER,
                labels::ROLE
            ),
        )
        .into());
    }
    let first = &observed.members[0];
    let image = match first.server.image.as_ref() {
        Some(image) => op
            .hcloud
            .get_image(image.id)
            .await
            .map_err(|e| failed("Cannot read the control plane's image", &e))?,
        None => None,
    };
    let talos_version = image
        .as_ref()
        .and_then(|i| i.labels.get(labels::TALOS_VERSION).cloned());
    let mut locations: Vec<String> = Vec::new();
    for member in &observed.members {
        if !locations.contains(&member.server.location.name) {
            locations.push(member.server.location.name.clone());
        }
    }
    let location = first.server.location.name.clone();
    let network = observed.network.as_ref();
    let lb = observed.api_load_balancer.as_ref();
    let lb_ip = lb.and_then(|l| l.public_ipv4()).map(str::to_owned);
    let firewall = observed.control_plane_firewall(name);
    let firewall_value = refresh::observed_firewall(&observed, name);
    let endpoint = lb_ip.as_ref().map(|ip| format!("https://{ip}:6443"));
    let text = |v: Option<String>| v.map_or(Value::Null, Value::from);
    let state = Value::object([
        ("name", Value::from(name)),
        ("id", Value::from(name)),
        ("location", Value::from(location.as_str())),
        ("talos_version", text(talos_version.clone())),
        (
            "control_plane",
            Value::object([
                (
                    "server_type",
                    Value::from(first.server.server_type.name.as_str()),
                ),
                ("count", Value::from(observed.members.len() as i64)),
                (
                    "locations",
                    Value::List(locations.into_iter().map(Value::from).collect()),
                ),
                ("allow_workloads", Value::Bool(false)),
            ]),
        ),
        (
            "network",
            Value::object([
                ("cidr", text(network.map(|n| n.ip_range.clone()))),
                (
                    "node_subnet",
                    text(
                        network
                            .and_then(|n| n.subnets.first())
                            .map(|s| s.ip_range.clone()),
                    ),
                ),
            ]),
        ),
        (
            "api_load_balancer",
            lb.map_or(Value::Null, |lb| {
                Value::object([
                    ("type", Value::from(lb.load_balancer_type.name.as_str())),
                    ("location", Value::from(lb.location.name.as_str())),
                ])
            }),
        ),
        ("firewall", firewall_value),
        ("delete_protection", Value::Bool(false)),
        (
            "disk_encryption",
            Value::Bool(observed.members.iter().all(|m| m.disk_encrypted())),
        ),
        ("endpoint", text(endpoint.clone())),
        ("host", text(endpoint)),
        (
            "network_id",
            network.map_or(Value::Null, |n| Value::from(n.id)),
        ),
        (
            "firewall_id",
            firewall.map_or(Value::Null, |f| Value::from(f.id)),
        ),
        (
            "load_balancer_id",
            lb.map_or(Value::Null, |l| Value::from(l.id)),
        ),
        (
            "nodes",
            network.map_or(Value::Null, |n| {
                let versions = observed
                    .members
                    .iter()
                    .filter_map(|m| Some((m.name().to_owned(), talos_version.clone()?)))
                    .collect();
                // The running configurations are read by the first refresh that has the secrets.
                state::nodes_value(&observed.members, n.id, &versions, &Default::default())
            }),
        ),
    ]);
    state
        .conform(value_type, &crate::tfplugin::diag::AttributePath::empty())
        .map_err(|e| failed("Cannot build the imported state", &e))
}
