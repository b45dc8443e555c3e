//! Kubernetes: label and taint syntax (the small API client comes later).

pub mod labels;
