//! One reconcile pass over every cluster whose Kubernetes API serves: the control planes' mirror
//! pods, the workload controllers and scheduler, Kubernetes' volume handling, helm-controller and
//! its job runner, PodDisruptionBudget status, then the in-cluster components that call the
//! Hetzner API (the CCM and the CSI driver: planned under the fleet lock, carried out under the
//! world lock, recorded under the fleet lock again: the two locks are never held together). Runs
//! in the Talos loop and at the start of every Kubernetes API request, so that what is due is
//! visible to the next request.

use std::collections::BTreeMap;
use std::sync::PoisonError;

use super::workloads::Tick;
use super::{
    autoscaler, ccm, csi, eviction, heartbeat, helm, nodes, static_pods, storage, workloads,
};
use crate::talos::TalosSim;

/// Runs every controller once.
pub fn run(sim: &TalosSim) {
    let tick = Tick {
        now: sim.now(),
        schedule_delay: sim.duration("pod_schedule"),
        job_delay: sim.duration("helm_job"),
        timestamp: sim.kube_timestamp(),
    };
    let own = sim.http_addr();
    let mut helm_jobs: BTreeMap<String, u64> = BTreeMap::new();
    let (plans, csi_plans, scale_plans) = {
        let mut fleet = sim.lock();
        let keys: Vec<String> = fleet
            .clusters
            .keys()
            .filter(|k| fleet.kube_serving(k))
            .cloned()
            .collect();
        let mut plans = Vec::new();
        let mut csi_plans = Vec::new();
        let mut scale_plans = Vec::new();
        for key in keys {
            let ca = super::root_ca(&fleet, &key);
            if let Some(cluster) = fleet.clusters.get_mut(&key) {
                cluster.kube.ensure_defaults(&tick.timestamp, ca.as_deref());
            }
            let node_objects = nodes::list(&fleet, &key);
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
            let servers: std::collections::BTreeMap<String, i64> = fleet
                .cluster_nodes(&key)
                .filter(|n| n.kube_registered)
                .map(|n| (n.hostname(), n.server_id))
                .collect();
            let Some(cluster) = fleet.clusters.get_mut(&key) else {
                continue;
            };
            static_pods::reconcile(&mut cluster.kube, &control_planes, &tick);
            workloads::reconcile(&mut cluster.kube, &node_objects, &tick);
            storage::reconcile(&mut cluster.kube, &tick.timestamp);
            helm::reconcile(&mut cluster.kube, &tick, own);
            for (action, n) in std::mem::take(&mut cluster.kube.helm_jobs) {
                *helm_jobs.entry(action).or_default() += n;
            }
            eviction::refresh_status(&mut cluster.kube, &tick.timestamp);
            csi_plans.extend(csi::plan(
                &key,
                &mut cluster.kube,
                &node_objects,
                &servers,
                tick.now,
            ));
            plans.extend(ccm::plan(&key, &mut cluster.kube, &node_objects, tick.now));
            scale_plans.extend(autoscaler::plan(
                &key,
                &mut cluster.kube,
                &node_objects,
                tick.now,
                sim.time_scale(),
                &tick.timestamp,
            ));
            // Last, so that the Nodes' versions take in what the controllers changed.
            heartbeat::observe(&mut fleet, &key, tick.now, &tick.timestamp);
        }
        (plans, csi_plans, scale_plans)
    };
    if !helm_jobs.is_empty() {
        let mut world = sim.world.write().unwrap_or_else(PoisonError::into_inner);
        for (action, n) in helm_jobs {
            *world.stats.helm_jobs.entry(action).or_default() += n;
        }
    }
    if plans.is_empty() && csi_plans.is_empty() && scale_plans.is_empty() {
        return;
    }
    let (outcomes, csi_outcomes, scale_outcomes) = {
        let mut world = sim.world.write().unwrap_or_else(PoisonError::into_inner);
        world.settle_actions();
        let outcomes: Vec<ccm::Outcome> = plans
            .into_iter()
            .map(|plan| ccm::carry_out(&mut world, plan))
            .collect();
        let csi_outcomes: Vec<csi::Outcome> = csi_plans
            .into_iter()
            .map(|plan| csi::carry_out(&mut world, plan))
            .collect();
        let scale_outcomes: Vec<autoscaler::Outcome> = scale_plans
            .into_iter()
            .map(|plan| autoscaler::carry_out(&mut world, plan))
            .collect();
        (outcomes, csi_outcomes, scale_outcomes)
    };
    let mut fleet = sim.lock();
    for outcome in outcomes {
        if let Some(cluster) = fleet.clusters.get_mut(&outcome.cluster) {
            ccm::record(&mut cluster.kube, outcome, &tick.timestamp);
        }
    }
    for outcome in csi_outcomes {
        if let Some(cluster) = fleet.clusters.get_mut(&outcome.cluster) {
            csi::record(&mut cluster.kube, outcome, &tick.timestamp);
        }
    }
    for outcome in scale_outcomes {
        if let Some(cluster) = fleet.clusters.get_mut(&outcome.cluster) {
            autoscaler::record(&mut cluster.kube, outcome, &tick.timestamp);
        }
    }
}
