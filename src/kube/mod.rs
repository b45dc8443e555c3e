//! kube (to be written).
