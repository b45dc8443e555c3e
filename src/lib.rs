//! terraform-provider-hk8s: Kubernetes clusters on Hetzner Cloud running Talos Linux.
//!
//! Layout (see DESIGN.md §3): [`tfplugin`] is a generic Terraform plugin-protocol framework,
//! [`resources`] are thin orchestration, [`hcloud`], [`talos`] and [`kube`] know nothing of
//! Terraform; [`snapshot`] builds Talos snapshots from them.

pub mod deadline;
pub mod docs;
pub mod hcloud;
pub mod kube;
pub mod provider;
pub mod resources;
pub mod snapshot;
pub mod talos;
pub mod tfplugin;
