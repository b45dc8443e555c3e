//! One reconcile pass over every cluster whose Kubernetes API serves: the control planes' mirror
//! pods, the workload controllers and scheduler, helm-controller and its job runner,
//! PodDisruptionBudget status, then the CCM's
//! load balancers (planned under the fleet lock, carried out under the world lock, recorded under
//! the fleet lock again: the two locks are never held together). Runs in the Talos loop and at
//! the start of every Kubernetes API request, so that what is due is visible to the next request.

use std::collections::BTreeMap;
use std::sync::PoisonError;

use super::workloads::Tick;
use super::{ccm, eviction, helm, nodes, static_pods, workloads};
use crate::talos::TalosSim;

/// Runs every controller once.
pub fn run(sim: &TalosSim) {
    let tick = Tick {
        now: sim.now(),
        schedule_delay: sim.duration("pod_schedule"),
        job_delay: sim.duration("helm_job"),
        timestamp: sim.world_timestamp(),
    };
    let own = sim.http_addr();
    let mut helm_jobs: BTreeMap<String, u64> = BTreeMap::new();
    let ops = {
        let mut fleet = sim.lock();
        let keys: Vec<String> = fleet
            .clusters
            .keys()
            .filter(|k| fleet.kube_serving(k))
            .cloned()
            .collect();
        let mut ops = Vec::new();
        for key in keys {
            if let Some(cluster) = fleet.clusters.get_mut(&key) {
                cluster.kube.ensure_defaults(&tick.timestamp);
            }
            let node_objects = nodes::list(&fleet, &key);
            let ccm_running = nodes::ccm_installed(&fleet, &key);
            let mut servers: Vec<(bool, i64)> = fleet
                .cluster_nodes(&key)
                .filter(|n| n.kube_registered)
                .map(|n| (!n.is_control_plane(), n.server_id))
                .collect();
            servers.sort();
            let servers: Vec<i64> = servers.into_iter().map(|(_, id)| id).collect();
            let control_planes: Vec<static_pods::ControlPlane> = fleet
                .cluster_nodes(&key)
                .filter(|n| n.kube_registered && n.is_control_plane())
                .filter_map(|n| {
                    let node = n.hostname();
                    let node_uid = node_objects
                        .iter()
                        .find(|o| o["metadata"]["name"] == node.as_str())?["metadata"]["uid"]
                        .as_str()?
                        .to_string();
                    Some(static_pods::ControlPlane {
                        node,
                        node_uid,
                        version: n.config.as_ref()?.kubelet_version.clone(),
                    })
                })
                .collect();
            let Some(cluster) = fleet.clusters.get_mut(&key) else {
                continue;
            };
            if ccm_running {
                cluster.kube.ccm_initialized.extend(
                    node_objects
                        .iter()
                        .filter(|n| n["spec"]["providerID"].is_string())
                        .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string)),
                );
            }
            static_pods::reconcile(&mut cluster.kube, &control_planes, &tick);
            workloads::reconcile(&mut cluster.kube, &node_objects, &tick);
            helm::reconcile(&mut cluster.kube, &tick, own);
            for (action, n) in std::mem::take(&mut cluster.kube.helm_jobs) {
                *helm_jobs.entry(action).or_default() += n;
            }
            eviction::refresh_status(&mut cluster.kube, &tick.timestamp);
            ops.extend(ccm::plan(&key, &mut cluster.kube, servers, &tick.timestamp));
        }
        ops
    };
    if !helm_jobs.is_empty() {
        let mut world = sim.world.write().unwrap_or_else(PoisonError::into_inner);
        for (action, n) in helm_jobs {
            *world.stats.helm_jobs.entry(action).or_default() += n;
        }
    }
    if ops.is_empty() {
        return;
    }
    let outcomes = {
        let mut world = sim.world.write().unwrap_or_else(PoisonError::into_inner);
        ccm::carry_out(&mut world, ops)
    };
    let mut by_cluster: BTreeMap<String, Vec<ccm::LbOutcome>> = BTreeMap::new();
    for outcome in outcomes {
        let key = match &outcome {
            ccm::LbOutcome::Ensured { cluster, .. } | ccm::LbOutcome::Deleted { cluster, .. } => {
                cluster.clone()
            }
        };
        by_cluster.entry(key).or_default().push(outcome);
    }
    let mut fleet = sim.lock();
    for (key, outcomes) in by_cluster {
        if let Some(cluster) = fleet.clusters.get_mut(&key) {
            ccm::record(&mut cluster.kube, outcomes, &tick.timestamp);
        }
    }
}
