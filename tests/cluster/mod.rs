#![allow(dead_code)]
pub mod hcl;
pub mod world;
