//! talos (to be written).

pub mod apid;
