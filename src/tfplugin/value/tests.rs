//! Value tests.
