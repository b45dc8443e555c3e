//! What `hk8s_cluster` and `hk8s_node_pool` both do with their servers, in one place so that the
//! two resources behave the same: the [`Operation`](operation::Operation) every step runs under
//! (one deadline, one error-to-diagnostic path), the Talos and Kubernetes [`clients`] through
//! the cluster's load balancer, the [`image`] lookup, [`servers`] created from machine
//! configurations, the health [`gates`] (built on `talos::ops` and `kube` waits), and the
//! [`removal`] of a node (out of the load balancer first, then out of the cluster, then gone).

pub mod clients;
pub mod gates;
pub mod image;
pub mod machine;
pub mod operation;
pub mod removal;
pub mod servers;

pub use clients::Clients;
pub use gates::NodeAddress;
pub use operation::{Operation, chain, failed, failure, redact_blobs, stopped_here};
