//! Terraform resources of hk8s: schemas, validation at validate/plan time, plan-time diffing, and
//! CRUD. This is the one boundary where domain errors (`hcloud`, `kube`, `talos`) become
//! diagnostics at attribute paths; the rules themselves live in the domain modules, plus the small
//! Terraform-agnostic Go-duration rule only resources need ([`duration`]).

pub mod addon;
pub mod cluster;
pub mod cluster_ref;
pub mod config_view;
pub mod connection;
pub mod duration;
pub mod import_id;
pub mod kubeconfig;
pub mod node_pool;
pub mod nodes;
pub mod protection;
#[cfg(test)]
mod test_support;
pub mod unavailable;
pub mod validators;
