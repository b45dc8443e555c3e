#![allow(dead_code)]
pub mod hcl;
pub mod python;
pub mod world;
