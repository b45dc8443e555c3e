//! A stand-in for the hcloud cloud controller manager. It runs only while its chart's release
//! runs ([`super::components::running`]) and its configuration ([`setup`]) lets it start as the
//! real one does (`hcloud/cloud.go`): the token must be one the sim's Hetzner API accepts, and a
//! configured network (id or name) must exist. Otherwise it does nothing (the pod would be in
//! `CreateContainerConfigError` or crash-looping; the reason shows in `/_sim/state`): nodes keep
//! `node.cloudprovider.kubernetes.io/uninitialized`, Services of type LoadBalancer stay pending.
//!
//! While it runs: the node controller ([`node_init`]), the route controller ([`routes`], with
//! `networking.enabled`) and the service controller ([`load_balancers`]). Every Hetzner API call
//! it makes is counted under `ccm_requests` in `/_sim/stats` and spends the project's rate limit.
//!
//! The plan is made under the fleet lock ([`plan`]), carried out under the world lock
//! ([`carry_out`]) and recorded under the fleet lock again ([`record`]), because the two locks are
//! never held together.

pub mod load_balancers;
pub mod node_init;
pub mod routes;
pub mod setup;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ipnet::Ipv4Net;
use serde_json::{Value, json};

use super::components;
use super::store::Store;
use crate::stats::Component;
use crate::world::World;
pub use load_balancers::{CcmLoadBalancer, SERVICE_UID_LABEL, default_name};
pub use node_init::CcmNode;

/// The CCM chart's name.
pub const CCM_CHART: &str = "hcloud-cloud-controller-manager";

/// Label that keeps a node out of load balancer targets.
const EXCLUDE_FROM_LB: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// The CCM's state in one cluster.
#[derive(Debug, Default, Clone)]
pub struct CcmState {
    /// The configuration (fingerprint) of the last start attempt and how it went: the network id
    /// it resolved, or why it failed.
    pub attempt: Option<(String, Result<Option<i64>, String>)>,
    /// Failed starts in a row (the kubelet's crash-loop back-off grows with them).
    pub failures: u32,
    /// When the next start may be tried after a failure (sim clock).
    pub retry_at: Duration,
    /// Nodes the CCM initialised; they keep that when the CCM goes away, like real Node objects.
    pub nodes: BTreeMap<String, CcmNode>,
    /// Load balancers the CCM created, by Service uid.
    pub load_balancers: BTreeMap<String, CcmLoadBalancer>,
    /// Why a Service has no balancer, by `namespace/name`.
    pub service_errors: BTreeMap<String, String>,
    /// When the route controller runs next (sim clock).
    pub routes_due: Duration,
    /// Nodes the node controller tried and could not initialise (no server of that name yet),
    /// and when it tries them again (sim clock).
    pub init_retry: (BTreeSet<String>, Duration),
}

/// How often Kubernetes' route controller reconciles (`--route-reconciliation-period`).
const ROUTE_PERIOD: Duration = Duration::from_secs(10);

/// How long the node controller waits before it looks again for the server of a node it could
/// not initialise (its work queue's back-off, simplified to a constant).
const NODE_INIT_RETRY: Duration = Duration::from_secs(5);

/// One node as the CCM sees it.
#[derive(Debug, Clone)]
pub struct NodeRef {
    /// Node name.
    pub name: String,
    /// What the node controller wrote on it already.
    pub init: Option<CcmNode>,
    /// `spec.podCIDR`.
    pub pod_cidr: Option<Ipv4Net>,
    /// Whether load balancers may target it.
    pub lb_target: bool,
}

/// What the CCM would do in one cluster.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Cluster key.
    pub cluster: String,
    /// Its configuration, or why its pod cannot start.
    pub setup: Result<setup::Setup, String>,
    /// Whether it starts, runs or waits.
    pub mode: Mode,
    /// The cluster's nodes.
    pub nodes: Vec<NodeRef>,
    /// Service controller work.
    pub lb_ops: Vec<load_balancers::LbOp>,
    /// Whether the route controller's period has come round.
    pub routes_due: bool,
    /// Whether uninitialised nodes are tried now (new ones at once, failed ones after a pause).
    pub init_due: bool,
    /// Sim time of the plan.
    pub now: Duration,
}

/// Where the CCM process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A (re)start is due: a new configuration, or a failed one whose back-off passed.
    Start,
    /// It runs, with this network id.
    Running(Option<i64>),
    /// It failed and waits for its back-off, or its pod cannot start.
    Waiting,
}

/// What carrying out a plan produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Cluster key.
    pub cluster: String,
    /// A start attempt made: its fingerprint and result.
    pub attempt: Option<(String, Result<Option<i64>, String>)>,
    /// Nodes initialised now.
    pub initialized: Vec<(String, CcmNode)>,
    /// Service controller results.
    pub lbs: Vec<load_balancers::LbOutcome>,
    /// Whether the route controller ran.
    pub routes_ran: bool,
    /// Nodes the node controller tried and could not initialise, when it tried any.
    pub init_failed: Option<BTreeSet<String>>,
    /// Sim time of the plan.
    pub now: Duration,
}

/// The kubelet's crash-loop back-off after `failures` failed starts (10 s doubling, at most 5 min).
fn back_off(failures: u32) -> Duration {
    Duration::from_secs(
        10u64
            .saturating_mul(1 << failures.saturating_sub(1).min(5))
            .min(300),
    )
}

/// The plan for one cluster, or `None` while the CCM's release does not run. `nodes` are the
/// cluster's Node objects.
pub fn plan(cluster: &str, store: &mut Store, nodes: &[Value], now: Duration) -> Option<Plan> {
    let Some(view) = components::running(store, CCM_CHART) else {
        // Without its pod the process is gone: a later release starts afresh.
        store.ccm.attempt = None;
        store.ccm.failures = 0;
        return None;
    };
    let setup = setup::read(store, &view);
    let mode = match (&store.ccm.attempt, &setup) {
        (_, Err(_)) => Mode::Waiting,
        (Some((last, result)), Ok(s)) if *last == s.fingerprint() => match result {
            Ok(network) => Mode::Running(*network),
            Err(_) if now >= store.ccm.retry_at => Mode::Start,
            Err(_) => Mode::Waiting,
        },
        (_, Ok(_)) => Mode::Start,
    };
    let node_refs: Vec<NodeRef> = nodes
        .iter()
        .filter_map(|n| {
            let name = n["metadata"]["name"].as_str()?.to_string();
            Some(NodeRef {
                init: store.ccm.nodes.get(&name).cloned(),
                pod_cidr: n["spec"]["podCIDR"].as_str().and_then(|c| c.parse().ok()),
                lb_target: n["metadata"]["labels"].get(EXCLUDE_FROM_LB).is_none(),
                name,
            })
        })
        .collect();
    let targets: Vec<i64> = node_refs
        .iter()
        .filter(|n| n.lb_target)
        .filter_map(|n| n.init.as_ref().map(|i| i.server_id))
        .collect();
    let lb_ops = match &setup {
        Ok(s) if s.lb.enabled => load_balancers::plan(store, &targets),
        _ => Vec::new(),
    };
    let (tried, retry_at) = &store.ccm.init_retry;
    let init_due = now >= *retry_at
        || node_refs
            .iter()
            .any(|n| n.init.is_none() && !tried.contains(&n.name));
    Some(Plan {
        cluster: cluster.to_string(),
        setup,
        mode,
        nodes: node_refs,
        lb_ops,
        routes_due: now >= store.ccm.routes_due,
        init_due,
        now,
    })
}

/// What `hcloud/newCloud` does at start: the network lookup (by id, or by name through the list),
/// then a locations list that proves the token works. The network id, or the CCM's error.
fn start(world: &mut World, setup: &setup::Setup) -> Result<Option<i64>, String> {
    let op = "hcloud/newCloud";
    let unauthorized = || format!("{op}: unable to authenticate (unauthorized)");
    let rate_limited = || format!("{op}: limit of requests per hour reached (rate_limit_exceeded)");
    let network = match &setup.network {
        None => None,
        Some(name_or_id) => {
            let by_id = name_or_id.parse::<i64>().ok();
            let route = if by_id.is_some() {
                "GET /networks/{id}"
            } else {
                "GET /networks"
            };
            if !world.component_request(Component::Ccm, route) {
                return Err(rate_limited());
            }
            if !world.accepts_token(&setup.token) {
                return Err(unauthorized());
            }
            let found = world
                .data
                .networks
                .values()
                .find(|n| Some(n.id) == by_id || (by_id.is_none() && n.name == *name_or_id))
                .map(|n| n.id);
            Some(found.ok_or_else(|| format!("{op}: Network {name_or_id} not found"))?)
        }
    };
    if !world.component_request(Component::Ccm, "GET /locations") {
        return Err(rate_limited());
    }
    if !world.accepts_token(&setup.token) {
        return Err(unauthorized());
    }
    Ok(network)
}

/// Carries out a plan in the world (as the CCM's API calls would).
pub fn carry_out(world: &mut World, plan: Plan) -> Outcome {
    let mut outcome = Outcome {
        cluster: plan.cluster,
        attempt: None,
        initialized: Vec::new(),
        lbs: Vec::new(),
        routes_ran: false,
        init_failed: None,
        now: plan.now,
    };
    let setup = match plan.setup {
        Ok(s) => s,
        Err(why) => {
            // The pod waits in CreateContainerConfigError; the kubelet retries as soon as the
            // Secret is there, so this is no crash loop.
            outcome.attempt = Some((String::new(), Err(why)));
            return outcome;
        }
    };
    let network = match plan.mode {
        Mode::Waiting => return outcome,
        Mode::Running(network) => network,
        Mode::Start => {
            let result = start(world, &setup);
            outcome.attempt = Some((setup.fingerprint(), result.clone()));
            match result {
                Ok(network) => network,
                Err(_) => return outcome,
            }
        }
    };
    let pending: Vec<String> = plan
        .nodes
        .iter()
        .filter(|n| n.init.is_none())
        .map(|n| n.name.clone())
        .collect();
    if plan.init_due && !pending.is_empty() {
        outcome.initialized = node_init::initialize(world, network, &pending);
        let failed = pending
            .into_iter()
            .filter(|name| !outcome.initialized.iter().any(|(n, _)| n == name))
            .collect();
        outcome.init_failed = Some(failed);
    }
    if let (true, Some(network), Some(cluster_cidr)) = (plan.routes_due, network, setup.routes) {
        outcome.routes_ran = true;
        let targets: Vec<routes::RouteTarget> = plan
            .nodes
            .iter()
            .filter_map(|n| {
                let init = n.init.as_ref().or_else(|| {
                    outcome
                        .initialized
                        .iter()
                        .find(|(name, _)| *name == n.name)
                        .map(|(_, i)| i)
                })?;
                Some(routes::RouteTarget {
                    pod_cidr: n.pod_cidr?,
                    gateway: init.internal_ip()?,
                })
            })
            .collect();
        routes::reconcile(world, network, cluster_cidr, &targets);
    }
    outcome.lbs = load_balancers::carry_out(world, &setup.lb, network, plan.lb_ops);
    outcome
}

/// Whether the CCM of a store is running (its last start succeeded).
fn is_running(state: &CcmState) -> bool {
    matches!(state.attempt, Some((_, Ok(_))))
}

/// Records an outcome in the cluster's store.
pub fn record(store: &mut Store, outcome: Outcome, timestamp: &str) {
    if let Some((fingerprint, result)) = outcome.attempt {
        if result.is_err() && !fingerprint.is_empty() {
            store.ccm.failures += 1;
            store.ccm.retry_at = outcome.now + back_off(store.ccm.failures);
        } else {
            store.ccm.failures = 0;
        }
        store.ccm.attempt = Some((fingerprint, result));
    }
    if !is_running(&store.ccm) {
        return;
    }
    if outcome.routes_ran {
        store.ccm.routes_due = outcome.now + ROUTE_PERIOD;
    }
    if let Some(failed) = outcome.init_failed {
        store.ccm.init_retry = (failed, outcome.now + NODE_INIT_RETRY);
    }
    store.ccm.nodes.extend(outcome.initialized);
    load_balancers::record(store, outcome.lbs, timestamp);
}

/// `/_sim/state` shape of a cluster's CCM: whether it runs, why not, its balancers.
pub fn state_json(store: &Store, release_running: bool) -> Value {
    let (running, error) = match &store.ccm.attempt {
        _ if !release_running => (false, Some("release not deployed".to_string())),
        Some((_, Ok(_))) => (true, None),
        Some((_, Err(e))) => (false, Some(e.clone())),
        None => (false, None),
    };
    json!({
        "running": running,
        "error": error,
        "initialized_nodes": store.ccm.nodes.keys().collect::<Vec<_>>(),
        "load_balancers": load_balancers::state_json(store),
        "service_errors": store.ccm.service_errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_loop_back_off_doubles_up_to_five_minutes() {
        let secs: Vec<u64> = (1..=7).map(|f| back_off(f).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 300, 300]);
    }
}
