//! In-place changes of running control-plane nodes during an update, one node at a time, each
//! gated on health before the next: the Talos upgrade (when the node runs another version), then
//! the regenerated machine configuration (labels, taints, patches, Kubernetes version), applied
//! live when Talos can and with a reboot only when the change needs one, then the Kubernetes
//! component versions checked on the node's kubelet.
//!
//! Every step checks what the node runs before acting, so an update interrupted halfway and run
//! again skips the nodes already done.

use crate::resources::fleet::clients::Kubelets;
use crate::resources::fleet::image as images;
use crate::resources::fleet::{Clients, Operation, failed};
use crate::talos::ops::{self, ChangeMode, ControlPlane, RebootPolicy};
use crate::talos::secrets::SecretsBundle;
use crate::tfplugin::diag::Diagnostics;

use super::converge::{address, gate};
use super::infra::Infra;
use super::machine;
use super::spec::ClusterSpec;
use super::topology::Member;

fn installer(op: &Operation, spec: &ClusterSpec) -> String {
    images::installer(&spec.image, &op.factory, &spec.talos_version)
}

/// Rolls every member to the desired Talos version and configuration.
///
/// # Errors
/// The first node that failed, with what was done and what remains.
pub async fn roll(
    op: &Operation,
    clients: &Clients,
    spec: &ClusterSpec,
    secrets: &SecretsBundle,
    infra: &Infra,
    members: &[Member],
) -> Result<(), Diagnostics> {
    let lb_ip = infra.public_ipv4().unwrap_or_default().to_owned();
    let control_planes: Vec<ControlPlane> = members
        .iter()
        .filter_map(|m| address(m, infra.network.id))
        .map(|a| ControlPlane::new(a.name, a.ip))
        .collect();
    let image = installer(op, spec);
    let kubelets = Kubelets(&clients.kube);
    let total = control_planes.len();
    for (done, node) in control_planes.iter().enumerate() {
        let budget = &op.deadline;
        let progress = |what: &str| {
            format!(
                "{what} on {} ({} of {total} control-plane nodes done; remaining: {})",
                node.name,
                done,
                control_planes[done..]
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let report = ops::upgrade_node(
            &clients.talos,
            node.ip,
            &spec.talos_version,
            &image,
            Some(&control_planes),
            budget,
        )
        .await
        .map_err(|e| failed(progress("The Talos upgrade failed"), &e))?;
        tracing::info!(node = %node.name, ?report, "Talos version checked");

        let config = machine::control_plane_config(spec, secrets, &lb_ip, &node.name)
            .map_err(|e| failed("Cannot build a machine configuration", &e))?
            .to_yaml()
            .map_err(|e| failed("Cannot build a machine configuration", &e))?;
        let applied = ops::apply_config(
            &clients.talos,
            node.ip,
            config.as_bytes(),
            RebootPolicy::Reboot,
            budget,
        )
        .await
        .map_err(|e| failed(progress("Applying the machine configuration failed"), &e))?;
        if applied.mode == ChangeMode::Rebooted {
            tracing::info!(node = %node.name, "configuration applied with a reboot");
            gate(op, clients, spec, members, infra).await?;
        }
        ops::upgrade_kubernetes_node(
            &clients.talos,
            node.ip,
            &node.name,
            config.as_bytes(),
            &spec.kubernetes_version,
            &kubelets,
            budget,
        )
        .await
        .map_err(|e| failed(progress("The Kubernetes upgrade failed"), &e))?;
        gate(op, clients, spec, members, infra).await?;
    }
    Ok(())
}
