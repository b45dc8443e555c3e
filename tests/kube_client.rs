//! The Kubernetes client (`hk8s::kube`) end to end: against hk8s-sim's Kubernetes API for a
//! cluster brought up like the provider does (health, nodes, server-side apply, selectors,
//! custom resources through discovery, drain within a PodDisruptionBudget, errors), and against
//! a mock API for what a test must script exactly (how often an eviction is refused, the
//! requests sent) and for key formats and a foreign CA.

#[path = "kube_client/mock_api.rs"]
mod mock_api;

#[path = "kube_client/drain.rs"]
mod drain;
#[path = "kube_client/identities.rs"]
mod identities;
#[path = "kube_client/nodes.rs"]
mod nodes;
#[path = "kube_client/objects.rs"]
mod objects;
#[path = "kube_client/sim_cluster.rs"]
mod sim_cluster;
#[path = "kube_client/sim_drain.rs"]
mod sim_drain;
