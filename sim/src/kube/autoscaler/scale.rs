//! The autoscaler's decisions: which groups grow for the pods that cannot schedule, which nodes
//! are unneeded and may go, and the server requests that carry them out.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::setup::{Group, Setup};
use super::{NODE_GROUP_LABEL, Plan, TO_BE_DELETED};
use crate::catalog;
use crate::kube::capacity;
use crate::kube::scheduler::{allocatable, insufficient, pod_requests, refusal};
use crate::labels::Selector;
use crate::talos::config::Role;
use crate::world::World;

/// A server of a group: id and name.
pub type Member = (i64, String);

/// The project's servers by group (the `hcloud/node-group` label), as the real one finds them.
pub fn members(world: &World, s: &Setup) -> BTreeMap<String, Vec<Member>> {
    let mut by_group: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    for server in world.data.servers.values() {
        if let Some(group) = server.labels.get(NODE_GROUP_LABEL)
            && s.groups.iter().any(|g| &g.name == group)
        {
            by_group
                .entry(group.clone())
                .or_default()
                .push((server.id, server.name.clone()));
        }
    }
    by_group
}

/// A network by id or name.
pub fn network_id(world: &World, id_or_name: &str) -> Option<i64> {
    world
        .data
        .networks
        .values()
        .find(|n| n.id.to_string() == id_or_name || n.name == id_or_name)
        .map(|n| n.id)
}

/// A firewall by id or name.
pub fn firewall_id(world: &World, id_or_name: &str) -> Option<i64> {
    world
        .data
        .firewalls
        .values()
        .find(|f| f.id.to_string() == id_or_name || f.name == id_or_name)
        .map(|f| f.id)
}

/// The image for an architecture: an id or name, else the newest available snapshot matching it
/// as a label selector (as `findImage` does).
fn image_for(world: &World, text: &str, arch: &str) -> Option<i64> {
    let direct = world.data.images.values().find(|i| {
        i.architecture == arch && (i.id.to_string() == text || i.name.as_deref() == Some(text))
    });
    if let Some(i) = direct {
        return Some(i.id);
    }
    let selector = Selector::parse(text).ok()?;
    world
        .data
        .images
        .values()
        .filter(|i| i.kind == "snapshot" && i.status == "available" && i.architecture == arch)
        .filter(|i| selector.matches(&i.labels))
        .max_by(|a, b| a.created.cmp(&b.created))
        .map(|i| i.id)
}

/// The template node of a group: the server type's allocatable, the group's and node config's
/// labels, the node config's taints.
pub fn template(s: &Setup, g: &Group) -> Option<Value> {
    let t = catalog::server_type(&g.server_type)?;
    let arch = capacity::kube_arch(t.arch);
    let (_, allocatable) = capacity::resources(t, Role::Worker);
    let config = s
        .config
        .node_configs
        .get(&g.name)
        .cloned()
        .unwrap_or_default();
    let mut labels = json!({
        "node.kubernetes.io/instance-type": g.server_type,
        "topology.kubernetes.io/region": g.location,
        "kubernetes.io/arch": arch,
        "csi.hetzner.cloud/location": g.location,
        NODE_GROUP_LABEL: g.name,
    });
    for (k, v) in &config.labels {
        labels[k] = json!(v);
    }
    Some(
        json!({"metadata": {"name": format!("template-node-for-{}", g.name), "labels": labels},
        "spec": {"taints": config.taints}, "status": {"allocatable": allocatable}}),
    )
}

/// `POST /servers` for one new server of a group; its name, or hcloud-go's error text.
pub fn create(world: &mut World, s: &Setup, g: &Group) -> Result<String, String> {
    let t = catalog::server_type(&g.server_type)
        .ok_or_else(|| format!("failed to get machine type {} info", g.server_type))?;
    let arch = capacity::kube_arch(t.arch);
    let api_arch = t.arch.as_str();
    let wanted = s
        .config
        .images_for_arch
        .get(arch)
        .cloned()
        .unwrap_or_else(|| s.image.clone());
    super::request(world, &s.token, "GET /images")?;
    let image = image_for(world, &wanted, api_arch)
        .ok_or_else(|| format!("unable to find image {wanted} with architecture {api_arch}"))?;
    let config = s
        .config
        .node_configs
        .get(&g.name)
        .cloned()
        .unwrap_or_default();
    let user_data = if s.config.node_configs.contains_key(&g.name) {
        config.cloud_init.clone()
    } else {
        s.cloud_init.clone()
    };
    let mut labels = config.server_labels.clone();
    labels.insert(NODE_GROUP_LABEL.into(), g.name.clone());
    let name = format!("{}-{:x}", g.name, rand::random::<u64>() >> 1);
    let mut body = json!({"name": name, "server_type": g.server_type, "image": image,
        "location": g.location, "user_data": user_data, "labels": labels,
        "start_after_create": true,
        "public_net": {"enable_ipv4": s.ipv4, "enable_ipv6": s.ipv6}});
    if let Some(n) = s.network.as_deref().and_then(|n| network_id(world, n)) {
        body["networks"] = json!([n]);
    }
    if let Some(f) = s.firewall.as_deref().and_then(|f| firewall_id(world, f)) {
        body["firewalls"] = json!([{"firewall": f}]);
    }
    if let Some(pg) = &config.placement_group {
        let id = world
            .data
            .placement_groups
            .values()
            .find(|p| p.id.to_string() == *pg || p.name == *pg)
            .map(|p| p.id)
            .ok_or_else(|| format!("placement group {pg} not found"))?;
        body["placement_group"] = json!(id);
    }
    super::request(world, &s.token, "POST /servers")?;
    crate::hcloud::servers::create_server_json(world, body)
        .map(|_| name)
        .map_err(|e| {
            format!(
                "could not create server type {} in region {}: {}",
                g.server_type,
                g.location,
                super::api_error(&e)
            )
        })
}

fn unschedulable(pod: &Value) -> bool {
    pod["status"]["phase"] == "Pending"
        && pod["spec"]["nodeName"].is_null()
        && pod["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter().any(|c| {
                c["type"] == "PodScheduled"
                    && c["status"] == "False"
                    && c["reason"] == "Unschedulable"
            })
        })
}

/// The node (by provider id or name) of a server, if registered.
fn node_of<'a>(nodes: &'a [Value], member: &Member) -> Option<&'a Value> {
    let provider = format!("hcloud://{}", member.0);
    nodes.iter().find(|n| {
        n["spec"]["providerID"] == provider.as_str() || n["metadata"]["name"] == member.1.as_str()
    })
}

/// How many servers each group gets (by index in `--nodes`): pending pods packed first onto the
/// group's servers that are not Ready nodes yet, then onto new template nodes, up to `max`.
pub fn plan_scale_up(
    _world: &World,
    plan: &Plan,
    members: &BTreeMap<String, Vec<Member>>,
) -> Vec<(usize, usize)> {
    let s = &plan.setup;
    // `--enforce-node-group-min-size`: groups below `min` grow to it first, pods or not.
    let mut new: BTreeMap<usize, usize> = BTreeMap::new();
    if s.enforce_min_size {
        for (i, g) in s.groups.iter().enumerate() {
            let current = members.get(&g.name).map_or(0, Vec::len);
            if current < g.min {
                new.insert(i, g.min - current);
            }
        }
        if !new.is_empty() {
            return new.into_iter().collect();
        }
    }
    let pending: Vec<&Value> = plan.pods.iter().filter(|p| unschedulable(p)).collect();
    if pending.is_empty() {
        return Vec::new();
    }
    // Bins: (group index, template, pods placed) — upcoming servers first.
    let mut bins: Vec<(usize, Value, Vec<Value>, bool)> = Vec::new();
    let templates: Vec<Option<Value>> = s.groups.iter().map(|g| template(s, g)).collect();
    for (i, g) in s.groups.iter().enumerate() {
        let Some(t) = &templates[i] else { continue };
        for m in members.get(&g.name).into_iter().flatten() {
            let ready = node_of(&plan.nodes, m).is_some_and(super::super::nodes::is_ready);
            if !ready {
                bins.push((i, t.clone(), Vec::new(), false));
            }
        }
    }
    for pod in pending {
        let fits = |t: &Value, placed: &[Value]| {
            let refs: Vec<&Value> = placed.iter().collect();
            refusal(t, &pod["spec"], false).is_none()
                && insufficient(t, &refs, &pod["spec"]).is_none()
        };
        if let Some(bin) = bins.iter_mut().find(|b| fits(&b.1, &b.2)) {
            bin.2.push(pod.clone());
            continue;
        }
        for (i, g) in s.groups.iter().enumerate() {
            let Some(t) = &templates[i] else { continue };
            let current =
                members.get(&g.name).map_or(0, Vec::len) + new.get(&i).copied().unwrap_or(0);
            if current < g.max && fits(t, &[]) {
                *new.entry(i).or_default() += 1;
                bins.push((i, t.clone(), vec![pod.clone()], true));
                break;
            }
        }
    }
    new.into_iter().collect()
}

/// Whether a pod stays put (DaemonSet and mirror pods are not drained) and whether it blocks the
/// node's removal (why), with the real defaults' rules.
fn blocks(pod: &Value, pdbs: &[Value]) -> Option<String> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let owner = pod["metadata"]["ownerReferences"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["controller"] == true));
    if owner.is_none() {
        return Some(format!("pod {ns}/{name} is not replicated"));
    }
    let local = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|v| {
            v["hostPath"].is_object()
                || (v["emptyDir"].is_object() && v["emptyDir"]["medium"] != "Memory")
        });
    if local {
        return Some(format!("pod {ns}/{name} has local storage"));
    }
    if ns == "kube-system" {
        let labels = super::super::select::labels_of(pod);
        let covered = pdbs.iter().any(|p| {
            p["metadata"]["namespace"] == ns
                && super::super::select::selector_object_matches(&p["spec"]["selector"], &labels)
        });
        if !covered {
            return Some(format!(
                "non-daemonset, non-mirrored, non-pdb-assigned kube-system pod present: {name}"
            ));
        }
    }
    None
}

fn stays(pod: &Value) -> bool {
    let daemon = pod["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|o| o["kind"] == "DaemonSet");
    let mirror = pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string();
    daemon
        || mirror
        || matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed")
        )
}

/// Unneeded nodes (with since when) and the nodes to drain now.
pub fn plan_scale_down(
    plan: &Plan,
    members: &BTreeMap<String, Vec<Member>>,
) -> (BTreeMap<String, Duration>, Vec<super::Drain>) {
    let s = &plan.setup;
    let cooldown = plan
        .last_scale_up
        .is_some_and(|at| plan.now < at + s.delay_after_add);
    if cooldown {
        return (BTreeMap::new(), Vec::new());
    }
    let mut unneeded = BTreeMap::new();
    let mut drains = Vec::new();
    let mut removing: Vec<String> = plan.deleting.iter().map(|d| d.0.clone()).collect();
    for g in &s.groups {
        let list = members.get(&g.name).cloned().unwrap_or_default();
        let mut removable = list.len().saturating_sub(
            g.min
                + removing
                    .iter()
                    .filter(|n| list.iter().any(|m| &m.1 == *n))
                    .count(),
        );
        for m in &list {
            let Some(node) = node_of(&plan.nodes, m) else {
                continue;
            };
            let name = node["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !super::super::nodes::is_ready(node) || removing.contains(&name) {
                continue;
            }
            let on_node: Vec<&Value> = plan
                .pods
                .iter()
                .filter(|p| p["spec"]["nodeName"] == name.as_str())
                .filter(|p| !stays(p))
                .collect();
            let (cpu, memory) = allocatable(node);
            let used = on_node
                .iter()
                .map(|p| pod_requests(&p["spec"]))
                .fold((0.0, 0.0), |a, r| (a.0 + r.0, a.1 + r.1));
            let utilization = f64::max(
                if cpu > 0.0 { used.0 / cpu } else { 0.0 },
                if memory > 0.0 { used.1 / memory } else { 0.0 },
            );
            if utilization >= s.threshold || on_node.iter().any(|p| blocks(p, &plan.pdbs).is_some())
            {
                continue;
            }
            // Its pods must fit on the other Ready nodes that stay.
            let others: Vec<&Value> = plan
                .nodes
                .iter()
                .filter(|n| n["metadata"]["name"] != name.as_str())
                .filter(|n| !removing.iter().any(|r| n["metadata"]["name"] == r.as_str()))
                .filter(|n| super::super::nodes::is_ready(n) && n["spec"]["unschedulable"] != true)
                .collect();
            let mut extra: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            let movable = on_node.iter().all(|pod| {
                let target = others.iter().find(|n| {
                    let n_name = n["metadata"]["name"].as_str().unwrap_or_default();
                    let mut bound: Vec<&Value> = plan
                        .pods
                        .iter()
                        .filter(|p| p["spec"]["nodeName"] == n_name)
                        .filter(|p| {
                            !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
                        })
                        .collect();
                    bound.extend(extra.get(n_name).into_iter().flatten());
                    refusal(n, &pod["spec"], false).is_none()
                        && insufficient(n, &bound, &pod["spec"]).is_none()
                });
                match target {
                    Some(n) => {
                        let key = n["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        extra.entry(key).or_default().push((*pod).clone());
                        true
                    }
                    None => false,
                }
            });
            if !movable {
                continue;
            }
            let since = plan.unneeded.get(&name).copied().unwrap_or(plan.now);
            unneeded.insert(name.clone(), since);
            let empty = on_node.is_empty();
            let due = plan.now >= since + s.unneeded_time;
            // Empty nodes go together; a node with pods goes alone.
            let alone_ok = empty || drains.is_empty();
            if due
                && removable > 0
                && alone_ok
                && drains
                    .iter()
                    .all(|d: &super::Drain| d.pods.is_empty() || empty)
            {
                removable -= 1;
                let mut taints = node["spec"]["taints"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let secs = plan.now.as_secs();
                taints.push(json!({"key": TO_BE_DELETED, "value": secs.to_string(), "effect": "NoSchedule"}));
                drains.push(super::Drain {
                    node: name.clone(),
                    server: m.0,
                    taints,
                    pods: on_node
                        .iter()
                        .filter_map(|p| {
                            Some((
                                p["metadata"]["namespace"].as_str()?.to_string(),
                                p["metadata"]["name"].as_str()?.to_string(),
                            ))
                        })
                        .collect(),
                });
                removing.push(name);
            }
        }
    }
    (unneeded, drains)
}
