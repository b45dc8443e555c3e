//! The resource metrics API (`metrics.k8s.io/v1beta1`) that metrics-server serves through the
//! aggregation layer, as `kubectl top` reads it.
//!
//! The group is served while the APIService `v1beta1.metrics.k8s.io` is stored (metrics-server's
//! chart creates it unless `apiService.create: false`; discovery lists it from the APIService as
//! it lists any aggregated group, see [`super::crds`]); without it its paths are 404 like any
//! unknown group. It is available only while metrics-server can scrape at least one kubelet: a kubelet whose serving
//! certificate the cluster CA signed (`rotate-server-certificates` on, and a serving-certificate
//! approver release approved its request), or any kubelet serving its self-signed certificate
//! when metrics-server runs with `--kubelet-insecure-tls`. A kubelet with rotation on but no
//! approved certificate serves no TLS at all. Unavailable, every path of the group answers as the
//! aggregator does: 503 `service unavailable` (clients say "the server is currently unable to
//! handle the request").
//!
//! Usage is plausible and deterministic: a share of the node's allocatable resources that grows
//! with the pods running there; pods report a share of their requests (or a small footprint).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::components;
use super::select::ListFilter;
use super::store::Store;
use super::{not_found, ok_json, status};

/// metrics-server's chart.
pub const METRICS_CHART: &str = "metrics-server";
const GROUP: &str = "metrics.k8s.io";
const GV: &str = "metrics.k8s.io/v1beta1";
/// The APIService metrics-server registers.
pub const API_SERVICE: &str = "v1beta1.metrics.k8s.io";
/// postfinance/kubelet-csr-approver: approves requests whose node name matches `providerRegex`.
const CSR_APPROVER: &str = "kubelet-csr-approver";
/// alex1989hu/kubelet-serving-cert-approver: approves every kubelet serving request.
const SERVING_CERT_APPROVER: &str = "kubelet-serving-cert-approver";

/// One node as metrics-server sees it.
#[derive(Debug, Clone)]
pub struct Kubelet {
    /// The Node object.
    pub node: Value,
    /// Whether the kubelet runs.
    pub up: bool,
    /// Whether it asks for a CA-signed serving certificate.
    pub serving_certificates: bool,
}

/// Whether the APIService exists: the aggregator routes the group only then, whether or not
/// metrics-server runs behind it.
pub fn api_service_exists(store: &Store) -> bool {
    store
        .get("apiregistration.k8s.io/v1", "apiservices", "", API_SERVICE)
        .is_some()
}

/// Whether a serving-certificate approver signs this node's request.
fn approved(store: &Store, node: &Value) -> bool {
    if components::running(store, SERVING_CERT_APPROVER).is_some() {
        return true;
    }
    let Some(view) = components::running(store, CSR_APPROVER) else {
        return false;
    };
    let values = &view.values;
    let name = node["metadata"]["name"].as_str().unwrap_or_default();
    // Without `providerRegex` the approver does not start.
    let Some(regex) = values["providerRegex"]
        .as_str()
        .filter(|r| !r.is_empty())
        .and_then(|r| regex::Regex::new(r).ok())
    else {
        return false;
    };
    // Node names are not in DNS (not on Hetzner either): the approver's DNS check fails unless
    // it is bypassed.
    let bypass = values["bypassDnsResolution"] == true || values["bypassDnsResolution"] == "true";
    let prefixes: Vec<ipnet::IpNet> = values["providerIpPrefixes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str()?.parse().ok())
        .collect();
    let ips_allowed = prefixes.is_empty()
        || node["status"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["type"] != "Hostname")
            .filter_map(|a| a["address"].as_str()?.parse::<std::net::IpAddr>().ok())
            .all(|ip| prefixes.iter().any(|p| p.contains(&ip)));
    regex.is_match(name) && bypass && ips_allowed
}

/// Whether metrics-server runs with `--kubelet-insecure-tls`.
fn insecure_tls(values: &Value) -> bool {
    ["args", "defaultArgs"].iter().any(|k| {
        values[*k].as_array().into_iter().flatten().any(|a| {
            matches!(
                a.as_str(),
                Some("--kubelet-insecure-tls" | "--kubelet-insecure-tls=true")
            )
        })
    })
}

/// The nodes metrics-server can scrape; `None` when it does not run.
fn scrapable<'a>(store: &Store, kubelets: &'a [Kubelet]) -> Option<Vec<&'a Kubelet>> {
    let view = components::running(store, METRICS_CHART)?;
    let insecure = insecure_tls(&view.values);
    Some(
        kubelets
            .iter()
            .filter(|k| k.up)
            .filter(|k| {
                if k.serving_certificates {
                    approved(store, &k.node)
                } else {
                    insecure
                }
            })
            .collect(),
    )
}

/// A stable number in `0..modulo` from a name.
fn spread(name: &str, modulo: u64) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    h % modulo
}

fn quantity(value: &Value) -> f64 {
    value
        .as_str()
        .and_then(super::quantity::parse)
        .unwrap_or(0.0)
}

fn usage(cpu_cores: f64, memory_bytes: f64) -> Value {
    json!({"cpu": format!("{}n", (cpu_cores * 1e9).round() as u64),
           "memory": format!("{}Ki", (memory_bytes / 1024.0).round() as u64)})
}

fn running_pods<'a>(pods: &'a [Value], node: &str) -> impl Iterator<Item = &'a Value> {
    pods.iter()
        .filter(move |p| p["spec"]["nodeName"] == node && p["status"]["phase"] == "Running")
}

fn node_metrics(kubelet: &Kubelet, pods: &[Value], timestamp: &str) -> Value {
    let node = &kubelet.node;
    let name = node["metadata"]["name"].as_str().unwrap_or_default();
    let on_node = running_pods(pods, name).count() as f64;
    let share = |salt: &str, base: f64| {
        (base + spread(&format!("{name}/{salt}"), 100) as f64 / 1000.0 + 0.02 * on_node).min(0.9)
    };
    let allocatable = &node["status"]["allocatable"];
    json!({"metadata": {"name": name, "creationTimestamp": timestamp, "labels": node["metadata"]["labels"]},
           "timestamp": timestamp, "window": "20.004s",
           "usage": usage(quantity(&allocatable["cpu"]) * share("cpu", 0.03),
                          quantity(&allocatable["memory"]) * share("memory", 0.15))})
}

fn pod_metrics(pod: &Value, timestamp: &str) -> Value {
    let key = format!(
        "{}/{}",
        pod["metadata"]["namespace"].as_str().unwrap_or_default(),
        pod["metadata"]["name"].as_str().unwrap_or_default()
    );
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let container = c["name"].as_str().unwrap_or_default();
            let share = 0.3 + spread(&format!("{key}/{container}"), 50) as f64 / 100.0;
            let requests = &c["resources"]["requests"];
            let cpu = match quantity(&requests["cpu"]) {
                0.0 => 0.001 + spread(&format!("{key}/{container}/cpu"), 5) as f64 / 1000.0,
                r => r * share,
            };
            let memory = match quantity(&requests["memory"]) {
                0.0 => (8 + spread(&format!("{key}/{container}/mem"), 24)) as f64 * 1024.0 * 1024.0,
                r => r * share,
            };
            json!({"name": container, "usage": usage(cpu, memory)})
        })
        .collect();
    json!({"metadata": {"name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"],
                        "creationTimestamp": timestamp, "labels": pod["metadata"]["labels"]},
           "timestamp": timestamp, "window": "20.004s", "containers": containers})
}

/// A single object carries its kind (list items do not).
fn single(kind: &str, mut object: Value) -> Value {
    object["kind"] = json!(kind);
    object["apiVersion"] = json!(GV);
    object
}

/// The aggregator's answer for an unavailable APIService.
fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            ("content-type", "text/plain; charset=utf-8"),
            ("x-content-type-options", "nosniff"),
        ],
        "service unavailable\n",
    )
        .into_response()
}

/// Serves a path under `/apis/metrics.k8s.io`; `None` for other paths, or while no APIService
/// exists (the caller answers those as it answers unknown groups).
pub fn handle(
    store: &Store,
    kubelets: &[Kubelet],
    path: &str,
    query: &[(String, String)],
    timestamp: &str,
) -> Option<Response> {
    let rest = path.trim_matches('/').strip_prefix("apis/metrics.k8s.io")?;
    if !api_service_exists(store) {
        return None;
    }
    let Some(scraped) = scrapable(store, kubelets).filter(|s| !s.is_empty()) else {
        return Some(unavailable());
    };
    let segments: Vec<&str> = rest
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let filter = match ListFilter::parse(
        super::objects::query_value(query, "labelSelector"),
        super::objects::query_value(query, "fieldSelector"),
    ) {
        Ok(f) => f,
        Err(e) => {
            return Some(status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &e.to_string(),
            ));
        }
    };
    let pods = store.items("v1", "pods");
    let scraped_pods = |ns: Option<&str>| -> Vec<Value> {
        scraped
            .iter()
            .flat_map(|k| {
                running_pods(
                    &pods,
                    k.node["metadata"]["name"].as_str().unwrap_or_default(),
                )
            })
            .filter(|p| ns.is_none_or(|ns| p["metadata"]["namespace"] == ns))
            .map(|p| pod_metrics(p, timestamp))
            .filter(|m| filter.matches(m))
            .collect()
    };
    let list = |kind: &str, items: Vec<Value>| {
        ok_json(
            StatusCode::OK,
            &json!({"kind": kind, "apiVersion": GV, "metadata": {}, "items": items}),
        )
    };
    let response = match segments.as_slice() {
        [] => ok_json(
            StatusCode::OK,
            &json!({"kind": "APIGroup", "apiVersion": "v1", "name": GROUP,
                "versions": [{"groupVersion": GV, "version": "v1beta1"}],
                "preferredVersion": {"groupVersion": GV, "version": "v1beta1"}}),
        ),
        ["v1beta1"] => ok_json(
            StatusCode::OK,
            &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GV, "resources": [
                {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]},
                {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]}]}),
        ),
        ["v1beta1", "nodes"] => list(
            "NodeMetricsList",
            scraped
                .iter()
                .map(|k| node_metrics(k, &pods, timestamp))
                .filter(|m| filter.matches(m))
                .collect(),
        ),
        ["v1beta1", "nodes", name] => {
            match scraped.iter().find(|k| k.node["metadata"]["name"] == *name) {
                Some(k) => ok_json(
                    StatusCode::OK,
                    &single("NodeMetrics", node_metrics(k, &pods, timestamp)),
                ),
                None => not_found(GV, "nodes", name),
            }
        }
        ["v1beta1", "pods"] => list("PodMetricsList", scraped_pods(None)),
        ["v1beta1", "namespaces", ns, "pods"] => list("PodMetricsList", scraped_pods(Some(ns))),
        ["v1beta1", "namespaces", ns, "pods", name] => match scraped_pods(Some(ns))
            .into_iter()
            .find(|m| m["metadata"]["name"] == *name)
        {
            Some(m) => ok_json(StatusCode::OK, &single("PodMetrics", m)),
            None => not_found(GV, "pods", name),
        },
        _ => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        ),
    };
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install(store: &mut Store, chart: &str, values: &str) {
        crate::kube::components::install_running(store, chart, values);
        if chart == METRICS_CHART {
            // What the chart renders with `apiService.create` (its default).
            store.put(
                "apiregistration.k8s.io/v1",
                "apiservices",
                json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                       "metadata": {"name": API_SERVICE},
                       "spec": {"group": GROUP, "version": "v1beta1",
                                "service": {"name": "metrics-server", "namespace": "kube-system"}}}),
                "t0",
            );
        }
    }

    fn kubelet(name: &str, serving_certificates: bool) -> Kubelet {
        Kubelet {
            node: json!({"metadata": {"name": name, "labels": {}},
                "status": {"allocatable": {"cpu": "1950m", "memory": "3500Mi"},
                           "addresses": [{"type": "InternalIP", "address": "10.0.1.2"}]}}),
            up: true,
            serving_certificates,
        }
    }

    fn get(store: &Store, kubelets: &[Kubelet], path: &str) -> Option<u16> {
        handle(store, kubelets, path, &[], "t").map(|r| r.status().as_u16())
    }

    #[test]
    fn no_api_service_no_group() {
        let mut store = Store::default();
        store.ensure_defaults("t0", None);
        crate::kube::components::install_running(&mut store, METRICS_CHART, "");
        assert!(!crate::kube::crds::group_version_served(&store, GV));
        assert_eq!(
            get(
                &store,
                &[kubelet("w1", true)],
                "/apis/metrics.k8s.io/v1beta1/nodes"
            ),
            None
        );
    }

    #[test]
    fn rotated_certificates_need_an_approver() {
        let mut store = Store::default();
        store.ensure_defaults("t0", None);
        install(&mut store, METRICS_CHART, "");
        let kubelets = [kubelet("prod-general-1", true)];
        let nodes = "/apis/metrics.k8s.io/v1beta1/nodes";
        assert!(crate::kube::crds::group_version_served(&store, GV));
        assert_eq!(get(&store, &kubelets, nodes), Some(503), "no approver");
        install(&mut store, CSR_APPROVER, "providerRegex: ^prod-\n");
        assert_eq!(
            get(&store, &kubelets, nodes),
            Some(503),
            "DNS check not bypassed"
        );
        install(
            &mut store,
            CSR_APPROVER,
            "providerRegex: ^prod-\nbypassDnsResolution: true\nproviderIpPrefixes: [192.168.0.0/16]\n",
        );
        assert_eq!(
            get(&store, &kubelets, nodes),
            Some(503),
            "IP outside the prefixes"
        );
        install(
            &mut store,
            CSR_APPROVER,
            "providerRegex: ^prod-\nbypassDnsResolution: true\nproviderIpPrefixes: [10.0.0.0/16]\n",
        );
        assert_eq!(get(&store, &kubelets, nodes), Some(200));
    }

    #[test]
    fn self_signed_kubelets_need_insecure_tls() {
        let mut store = Store::default();
        store.ensure_defaults("t0", None);
        install(&mut store, METRICS_CHART, "");
        let kubelets = [kubelet("w1", false)];
        let nodes = "/apis/metrics.k8s.io/v1beta1/nodes";
        assert_eq!(get(&store, &kubelets, nodes), Some(503));
        install(
            &mut store,
            METRICS_CHART,
            "args:\n  - --kubelet-insecure-tls\n",
        );
        assert_eq!(get(&store, &kubelets, nodes), Some(200));
        assert_eq!(
            get(&store, &[kubelet("w1", true)], nodes),
            Some(503),
            "a kubelet waiting for its certificate serves no TLS at all"
        );
    }
}
