//! Kubernetes: label, taint and object-name syntax, and a small API client (health, nodes,
//! server-side apply of any object, waits and drain) that knows nothing of Terraform.
//!
//! The client authenticates with a client certificate and trusts only the cluster's CA
//! ([`KubeCredentials`], read from a kubeconfig or given directly); every failure is a
//! [`Error`] naming the request.

mod client;
mod credentials;
mod drain;
mod error;
pub mod labels;
mod mapping;
pub mod names;
mod nodes;
mod objects;
mod wait;

pub use client::{KubeClient, KubeOptions};
pub use credentials::KubeCredentials;
pub use drain::{DrainOptions, DrainOutcome};
pub use error::{Error, RequestInfo, Result, Status, reason_for_code};
pub use mapping::{ResourceMapping, group_version_path};
pub use nodes::{NodeInfo, format_taint};
pub use objects::{Deletion, ListOptions, Propagation, equality_selector};
pub use wait::Deadline;
