//! Kubernetes: label, taint and object-name syntax (the small API client comes later).

pub mod labels;
pub mod names;
