//! Provider configuration (to be written).
