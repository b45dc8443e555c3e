//! hcloud (to be written).
