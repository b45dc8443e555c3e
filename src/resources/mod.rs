//! Terraform resources of hk8s (schemas, plan-time validation and diffing, CRUD), and the small
//! Terraform-agnostic rules only they need.

pub mod config_patch;
pub mod duration;
