//! Kubernetes: label, taint and object-name syntax, and a small API client that knows nothing
//! of Terraform.
//!
//! The client authenticates with a client certificate and trusts only the cluster's CA
//! ([`KubeCredentials`], read from a kubeconfig or given directly). It covers what the provider
//! needs: health ([`KubeClient::readyz`], [`KubeClient::version`]), nodes
//! ([`KubeClient::list_nodes`], cordon, delete), any object by `apiVersion` + `kind` through
//! discovery ([`KubeClient::apply`] is server-side apply, plus get, list, delete), waits bounded
//! by a [`Deadline`] that log progress and say what is still pending ([`KubeClient::wait_ready`],
//! [`KubeClient::wait_nodes`], [`KubeClient::wait_object`], …), [`retry_transient`] for single
//! operations, and [`KubeClient::drain`]. Every failure is an [`Error`] naming the request; none
//! carries a secret.
//!
//! ```no_run
//! # async fn example(kubeconfig: &str) -> Result<(), hk8s::kube::Error> {
//! use std::time::Duration;
//! use hk8s::kube::{Deadline, KubeClient, KubeCredentials, KubeOptions};
//!
//! let kube = KubeClient::new(&KubeCredentials::from_kubeconfig(kubeconfig)?, KubeOptions::default())?;
//! let budget = Deadline::after(Duration::from_secs(600));
//! kube.wait_ready(true, &budget).await?;
//! let nodes = kube
//!     .wait_nodes_ready(&["prod-cp-1".to_string(), "prod-cp-2".to_string()], &budget)
//!     .await?;
//! let chart = serde_json::json!({
//!     "apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
//!     "metadata": {"name": "cilium", "namespace": "kube-system"},
//!     "spec": {"repo": "https://helm.cilium.io", "chart": "cilium", "version": "1.18.0"},
//! });
//! kube.apply(&chart, "hk8s", true).await?;
//! # let _ = nodes;
//! # Ok(())
//! # }
//! ```

mod client;
pub mod components;
mod conditions;
mod credentials;
mod drain;
mod error;
pub mod helm;
pub mod labels;
mod mapping;
pub mod names;
mod nodes;
mod objects;
mod retry;
mod wait;

pub use client::{KubeClient, KubeOptions, KubeRetry};
pub use credentials::KubeCredentials;
pub use drain::{DrainOptions, DrainOutcome};
pub use error::{Error, RequestInfo, Result, Status, reason_for_code};
pub use mapping::{ResourceMapping, group_version_path};
pub use nodes::{NodeInfo, format_taint};
pub use objects::{Deletion, ListOptions, Propagation, equality_selector};
pub use wait::{Deadline, retry_transient};

/// Compile-time check: the client's futures can be spawned on a multi-threaded runtime.
#[cfg(test)]
#[allow(dead_code)]
fn futures_are_send(kube: &KubeClient, deadline: &Deadline) {
    fn send<T: Send>(_: T) {}
    let object = serde_json::Value::Null;
    send(kube.readyz());
    send(kube.list_nodes());
    send(kube.apply(&object, "hk8s", true));
    send(kube.list("v1", "Pod", None, &ListOptions::default()));
    send(kube.delete("v1", "Pod", Some("x"), "y", None));
    send(kube.wait_ready(true, deadline));
    send(kube.wait_nodes_ready(&[], deadline));
    send(kube.wait_node_gone("n", deadline));
    send(
        kube.wait_object("v1", "Pod", Some("x"), "y", "gone", deadline, |o| {
            o.map(|_| "present".to_string())
        }),
    );
    send(kube.wait_nodes(&[], "x", deadline, |_| None));
    send(retry_transient("x", deadline, || kube.list_nodes()));
    send(kube.drain("n", &DrainOptions::default(), deadline));
}
