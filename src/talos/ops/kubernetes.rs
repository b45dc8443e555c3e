//! Kubernetes version upgrades at the Talos level.
//!
//! `talosctl upgrade-k8s` patches each node's machine configuration with the new component
//! images (kube-apiserver, kube-controller-manager, kube-scheduler and kube-proxy on control
//! planes, the kubelet everywhere), applies it without a reboot, and waits for the components
//! to run the new version: control planes first, one at a time, then workers. Here the caller
//! regenerates each node's complete configuration with the new
//! [`ClusterInput::kubernetes_version`](crate::talos::config::ClusterInput) (so the images come
//! from the same generator as at create time, and nothing else drifts), and
//! [`upgrade_kubernetes_node`] applies it to one node and waits until that node's kubelet
//! reports the new version; [`rolling()`](super::rolling()) sequences the nodes.
//! Where the kubelet version is read from is the caller's choice ([`KubeletVersions`]), since
//! this module does not talk to the Kubernetes API itself.

use std::future::Future;
use std::net::IpAddr;

use super::apply::{AppliedChange, RebootPolicy, apply_config};
use super::error::Error;
use super::poll::{Check, poll};
use crate::deadline::Deadline;
use crate::talos::apid::ApidClient;
use crate::talos::version::KubernetesVersion;

/// An error reading a kubelet version (any client's error; shown in progress and timeouts).
pub type ProbeError = Box<dyn std::error::Error + Send + Sync>;

/// Reads the kubelet version a node reports, e.g. `status.nodeInfo.kubeletVersion` of its
/// Kubernetes Node object.
pub trait KubeletVersions {
    /// The version the kubelet of the Kubernetes node `node_name` reports (`v1.35.0`), or
    /// `None` while the node is not registered. Errors are treated as "not yet" and retried
    /// within the budget (the API server restarts during an upgrade).
    fn kubelet_version(
        &self,
        node_name: &str,
    ) -> impl Future<Output = Result<Option<String>, ProbeError>> + Send;
}

/// Applies `config` (the node's complete machine configuration, regenerated with the new
/// Kubernetes version) to `node` without a reboot, then waits until the kubelet of the
/// Kubernetes node `node_name` reports `version`.
///
/// A Kubernetes version change never needs a reboot; if Talos says this configuration does,
/// something else changed too and the call fails with [`Error::RebootRequired`] without
/// applying anything (apply that change first with [`apply_config`]). Re-running on a node that
/// is done applies nothing new and returns as soon as the kubelet version matches.
///
/// # Errors
/// [`Error::RebootRequired`]; [`Error::Apid`] when the configuration is refused;
/// [`Error::Timeout`] / [`Error::Cancelled`] naming what the kubelet reported last (e.g.
/// `kubelet of cp-1 reports v1.35.0; waiting for v1.36.0`).
pub async fn upgrade_kubernetes_node<K>(
    client: &ApidClient,
    node: IpAddr,
    node_name: &str,
    config: &[u8],
    version: &KubernetesVersion,
    kubelets: &K,
    budget: &Deadline,
) -> Result<AppliedChange, Error>
where
    K: KubeletVersions + Sync,
{
    let applied = apply_config(client, node, config, RebootPolicy::Refuse, budget).await?;
    let wanted = version.image_tag();
    let what = format!("kubelet of {node_name} to report {wanted}");
    poll(budget, &what, node_name, || async {
        match kubelets.kubelet_version(node_name).await {
            Ok(Some(reported)) if reported.parse::<KubernetesVersion>().ok().as_ref() == Some(version) => {
                Check::Done(())
            }
            Ok(Some(reported)) => Check::pending(format!(
                "kubelet of {node_name} reports {reported}; waiting for {wanted}"
            )),
            Ok(None) => Check::pending(format!(
                "Kubernetes node {node_name} is not registered; waiting for its kubelet to report {wanted}"
            )),
            Err(err) => Check::pending(format!(
                "kubelet version of {node_name} could not be read ({err}); waiting for {wanted}"
            )),
        }
    })
    .await?;
    Ok(applied)
}
