#![allow(dead_code)]
pub mod hcl;
pub mod kube;
pub mod python;
pub mod world;
