//! Helm in a simulated cluster: the helm-controller stand-in ([`controller`]) that turns
//! `helm.cattle.io/v1` HelmCharts into klipper-helm Jobs ([`jobspec`]), the runner of
//! klipper-helm containers ([`runner`], [`entry`]) that installs, upgrades and uninstalls
//! releases ([`action`], [`release`]) of the charts the sim knows ([`charts`]), and what the
//! in-cluster stand-ins read of the releases ([`release()`], [`deployed`]).
//!
//! Nothing happens without helm-controller running in the cluster and its job pods running:
//! see the modules for the rules, which are those of the real components.

pub mod action;
pub mod charts;
pub mod controller;
pub mod entry;
pub mod jobspec;
pub mod release;
pub mod runner;
pub mod values;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;

pub use controller::FINALIZER;
pub use release::{Release, ReleaseView, deployed, release};
pub use runner::PodLog;

use super::store::Store;
use super::workloads::Tick;

/// One pass: the controller (if one runs), then the job runner. `own` is where the sim's HTTP
/// server listens (its `/charts` repository).
pub fn reconcile(store: &mut Store, tick: &Tick, own: Option<SocketAddr>) {
    release::refresh(store);
    controller::reconcile(store, tick);
    runner::reconcile(store, tick, own);
}
