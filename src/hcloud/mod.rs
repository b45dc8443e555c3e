//! Hetzner Cloud: the static catalog, address-plan rules and naming rules that plans check
//! before any API call (the API client itself comes later).

pub mod catalog;
pub mod cidr;
pub mod names;
