//! talos (to be written).
