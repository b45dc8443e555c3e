//! The state written after an apply: the planned value with every computed attribute filled in.
//!
//! Values the plan already knows are kept as planned (Terraform refuses a result that differs
//! from a known planned value); that is why the long-lived credentials (`kubeconfig`,
//! `talosconfig`, `client_*`) are minted once, at create, and kept until the plan asks for new
//! ones.

use time::OffsetDateTime;

use super::converge::Converged;
use super::spec::ClusterSpec;
use super::topology::Member;
use crate::resources::config_view as view;
use crate::resources::fleet::failed;
use crate::talos::kubeconfig::{self, KubeconfigRequest};
use crate::talos::secrets::SecretsBundle;
use crate::talos::talosconfig::{self, Talosconfig};
use crate::tfplugin::diag::{AttributePath, Diagnostics};
use crate::tfplugin::value::Value;

/// Lifetime of the admin credentials stored in state (`kubeconfig`, `talosconfig`, `client_*`).
pub const STATE_CREDENTIALS_TTL: time::Duration = time::Duration::days(365);

fn fill(value: &mut Value, name: &str, computed: impl FnOnce() -> Value) {
    let path = AttributePath::root(name);
    if view::is_unknown(value, &path) || value.get(name).is_none_or(Value::is_null) {
        value.set_at_path(&path, computed());
    }
}

/// The `nodes` attribute for these members, with the Talos versions and machine-configuration
/// hashes known for them (by node name).
pub fn nodes_value(
    members: &[Member],
    network: i64,
    versions: &std::collections::BTreeMap<String, String>,
    config_hashes: &std::collections::BTreeMap<String, String>,
) -> Value {
    Value::List(
        members
            .iter()
            .map(|m| {
                crate::resources::nodes::node_value(
                    &m.server,
                    network,
                    versions.get(m.name()),
                    config_hashes.get(m.name()),
                )
            })
            .collect(),
    )
}

/// The `connection` object.
pub fn connection_value(
    spec: &ClusterSpec,
    endpoint: &str,
    talos_endpoint: &str,
    network_id: i64,
    firewall_id: i64,
    secrets_yaml: &str,
    planned: &Value,
) -> Value {
    let image = planned.get("image").filter(|v| !v.is_null());
    let cni = match spec.cni {
        crate::talos::config::Cni::Flannel => "flannel",
        crate::talos::config::Cni::Cilium => "cilium",
        crate::talos::config::Cni::None => "none",
    };
    Value::object([
        ("cluster_id", Value::from(spec.name.as_str())),
        ("name", Value::from(spec.name.as_str())),
        ("location", Value::from(spec.location.as_str())),
        ("network_zone", Value::from(spec.network_zone.as_str())),
        ("endpoint", Value::from(endpoint)),
        ("talos_endpoint", Value::from(talos_endpoint)),
        ("network_id", Value::from(network_id)),
        ("firewall_id", Value::from(firewall_id)),
        ("talos_version", Value::from(spec.talos_version.to_string())),
        (
            "kubernetes_version",
            Value::from(spec.kubernetes_version.to_string()),
        ),
        ("network_cidr", Value::from(spec.network.cidr.to_string())),
        (
            "node_subnet",
            Value::from(spec.network.node_subnet.to_string()),
        ),
        ("pod_cidr", Value::from(spec.network.pod_cidr.to_string())),
        (
            "service_cidr",
            Value::from(spec.network.service_cidr.to_string()),
        ),
        ("cni", Value::from(cni)),
        ("disk_encryption", Value::Bool(spec.disk_encryption)),
        (
            "config_patches",
            planned
                .get("config_patches")
                .cloned()
                .unwrap_or(Value::Null),
        ),
        (
            "image_snapshot_ids",
            image
                .and_then(|i| i.get("snapshot_ids"))
                .cloned()
                .unwrap_or(Value::Null),
        ),
        (
            "image_selector",
            image
                .and_then(|i| i.get("selector"))
                .cloned()
                .unwrap_or(Value::Null),
        ),
        (
            "image_schematic",
            image
                .and_then(|i| i.get("schematic"))
                .cloned()
                .unwrap_or(Value::Null),
        ),
        ("secrets", Value::from(secrets_yaml)),
    ])
}

/// The state after a successful create or update.
///
/// # Errors
/// When credentials cannot be minted.
pub fn after_apply(
    planned: &Value,
    spec: &ClusterSpec,
    converged: &Converged,
    secrets: &SecretsBundle,
    secrets_yaml: &str,
) -> Result<Value, Diagnostics> {
    let mut state = planned.clone();
    let network = converged.infra.network.id;
    let lb_ip = converged.infra.public_ipv4().unwrap_or_default().to_owned();
    let endpoint = format!("https://{lb_ip}:6443");
    let talos_endpoint = format!("{lb_ip}:50000");
    let now = OffsetDateTime::now_utc() - time::Duration::minutes(5);
    let mut rng = rand::rng();

    fill(&mut state, "id", || Value::from(spec.name.as_str()));
    fill(&mut state, "endpoint", || Value::from(endpoint.as_str()));
    fill(&mut state, "host", || Value::from(endpoint.as_str()));
    fill(&mut state, "ca_certificate", || {
        Value::from(secrets.kubernetes_ca.cert_pem.as_str())
    });
    fill(&mut state, "secrets", || Value::from(secrets_yaml));
    fill(&mut state, "network_id", || Value::from(network));
    fill(&mut state, "firewall_id", || {
        Value::from(converged.infra.firewall.id)
    });
    fill(&mut state, "load_balancer_id", || {
        Value::from(converged.infra.load_balancer.id)
    });
    // Every node runs the generated configuration once the apply is done (user data of a new
    // server, or the configuration the roll applied).
    let names: Vec<&str> = converged.members.iter().map(Member::name).collect();
    let hashes = super::machine::config_hashes(spec, secrets, &lb_ip, &names)
        .map_err(|e| failed("Cannot build a machine configuration", &e))?;
    fill(&mut state, "nodes", || {
        nodes_value(
            &converged.members,
            network,
            &converged.talos_versions,
            &hashes,
        )
    });
    // Planned empty (or unknown on create): a converged cluster has no node half-removed.
    let leaving_path = AttributePath::root("leaving_nodes");
    if view::is_unknown(&state, &leaving_path) {
        let leaving: Vec<String> = converged
            .members
            .iter()
            .filter(|m| m.is_leaving())
            .map(|m| m.name().to_owned())
            .collect();
        state.set_at_path(
            &leaving_path,
            Value::List(leaving.into_iter().map(Value::from).collect()),
        );
    }
    let connection = connection_value(
        spec,
        &endpoint,
        &talos_endpoint,
        network,
        converged.infra.firewall.id,
        secrets_yaml,
        planned,
    );
    fill(&mut state, "connection", || connection);

    let needs_kubeconfig = ["kubeconfig", "client_certificate", "client_key"]
        .iter()
        .any(|name| {
            !state
                .get(name)
                .is_some_and(|v| v.is_known() && !v.is_null())
        });
    if needs_kubeconfig {
        let minted = kubeconfig::mint(
            secrets,
            &KubeconfigRequest::admin(&spec.name, &endpoint, STATE_CREDENTIALS_TTL),
            now,
            &mut rng,
        )
        .map_err(|e| failed("Cannot mint the admin kubeconfig", &e))?;
        state.set_at_path(&AttributePath::root("kubeconfig"), Value::from(minted.yaml));
        state.set_at_path(
            &AttributePath::root("client_certificate"),
            Value::from(minted.credentials.cert_pem),
        );
        state.set_at_path(
            &AttributePath::root("client_key"),
            Value::from(minted.credentials.key_pem),
        );
    }
    let needs_talosconfig = !state
        .get("talosconfig")
        .is_some_and(|v| v.is_known() && !v.is_null());
    if needs_talosconfig {
        let credentials = talosconfig::issue_admin(secrets, now, STATE_CREDENTIALS_TTL, &mut rng)
            .map_err(|e| failed("Cannot mint the talosconfig", &e))?;
        let yaml = Talosconfig::new(&spec.name, std::slice::from_ref(&lb_ip), &[], &credentials)
            .and_then(|t| t.to_yaml())
            .map_err(|e| failed("Cannot write the talosconfig", &e))?;
        state.set_at_path(&AttributePath::root("talosconfig"), Value::from(yaml));
    }
    Ok(state)
}
