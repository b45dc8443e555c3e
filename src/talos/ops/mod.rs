//! Talos node operations the cluster resource strings together: waiting for apid, bootstrapping
//! etcd once, growing and shrinking the control plane without losing etcd quorum, OS upgrades,
//! configuration changes with the apply mode they need, Kubernetes component upgrades, and
//! one-node-at-a-time rolls. Knows nothing of Terraform or Hetzner; everything goes through one
//! [`ApidClient`](super::apid::ApidClient) (usually connected to the load balancer and routed to
//! each node with `node` metadata).
//!
//! Every operation that waits takes a [`Deadline`]: a deadline and a cancellation token. Waits
//! poll with bounded backoff (one shared loop), log progress at INFO (what is awaited, the node,
//! elapsed and remaining time) every ~10 s or whenever the awaited state changes, and when the
//! deadline passes fail with [`Error::Timeout`] saying exactly what was still pending.
//!
//! - [`wait_apid`] (module [`nodes`]): every node answers `Version`.
//! - [`bootstrap_once`] (module [`bootstrap`]).
//! - [`wait_etcd_members`] (module [`etcd`]).
//! - [`remove_control_plane`], [`remove_dead_members`] (module [`removal`]).
//! - [`upgrade_node`], [`installer_image`] (module [`upgrade`]).
//! - [`apply_config`], [`dry_run`] (module [`apply`]).
//! - [`upgrade_kubernetes_node`] (module [`kubernetes`]).
//! - [`rolling()`] (module [`mod@rolling`]): one node at a time, stopping at the first failure.

mod error;
mod poll;

pub mod apply;
pub mod bootstrap;
pub mod etcd;
pub mod kubernetes;
pub mod nodes;
pub mod removal;
pub mod rolling;
pub mod upgrade;

pub use crate::deadline::Deadline;
pub use apply::{AppliedChange, ApplyPlan, ChangeMode, RebootPolicy, apply_config, dry_run};
pub use bootstrap::{Bootstrapped, bootstrap_once};
pub use error::{Error, RollStage};
pub use etcd::{ControlPlane, Membership, wait_etcd_members};
pub use kubernetes::{KubeletVersions, ProbeError, upgrade_kubernetes_node};
pub use nodes::wait_apid;
pub use removal::{DeadMembers, Removal, RemovalPath, remove_control_plane, remove_dead_members};
pub use rolling::rolling;
pub use upgrade::{UpgradeReport, installer_image, upgrade_api_for, upgrade_node};
