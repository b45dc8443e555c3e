//! What the hcloud CCM runs with, read as its chart (1.30–1.35) hands it over: the container's
//! environment is the chart's default `env` (`HCLOUD_TOKEN` from Secret `hcloud` key `token`)
//! with the release's `env` values over it (a `null` removes a variable), plus `HCLOUD_NETWORK`
//! from `networking.network` (Secret `hcloud` key `network`) when `networking.enabled`, which
//! also turns on node CIDR allocation for `networking.clusterCIDR` and with it the route
//! controller. The variables are read as the CCM's `internal/config` reads them.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use serde_json::{Value, json};

use super::super::components::{ComponentView, env_value};
use super::super::store::Store;

/// The CCM's chart default for `networking.clusterCIDR` (Flannel's default).
const DEFAULT_CLUSTER_CIDR: &str = "10.244.0.0/16";

/// How the load balancer controller places and targets balancers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LbDefaults {
    /// `HCLOUD_LOAD_BALANCERS_ENABLED` (default true).
    pub enabled: bool,
    /// `HCLOUD_LOAD_BALANCERS_LOCATION`.
    pub location: Option<String>,
    /// `HCLOUD_LOAD_BALANCERS_NETWORK_ZONE`.
    pub network_zone: Option<String>,
    /// `HCLOUD_LOAD_BALANCERS_USE_PRIVATE_IP` (default false).
    pub use_private_ip: bool,
}

/// The CCM's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// `HCLOUD_TOKEN`.
    pub token: String,
    /// `HCLOUD_NETWORK`: a network id or name.
    pub network: Option<String>,
    /// The cluster CIDR when the route controller runs (node CIDR allocation on, a network set,
    /// `HCLOUD_NETWORK_ROUTES_ENABLED` not false).
    pub routes: Option<Ipv4Net>,
    /// Load balancer settings.
    pub lb: LbDefaults,
}

impl Setup {
    /// A digest of the configuration, so that a restart (new configuration) is noticed.
    pub fn fingerprint(&self) -> String {
        super::super::store::uid(&format!("{self:?}"), "ccm")
    }
}

/// The container environment the chart renders, unresolved.
fn environment(values: &Value) -> BTreeMap<String, Value> {
    let mut env: BTreeMap<String, Value> = BTreeMap::new();
    env.insert(
        "HCLOUD_TOKEN".into(),
        json!({"valueFrom": {"secretKeyRef": {"name": "hcloud", "key": "token"}}}),
    );
    for (name, spec) in values["env"].as_object().into_iter().flatten() {
        if spec.is_null() {
            env.remove(name);
        } else {
            env.insert(name.clone(), spec.clone());
        }
    }
    if networking(values) {
        let network = values["networking"].get("network").cloned().unwrap_or_else(
            || json!({"valueFrom": {"secretKeyRef": {"name": "hcloud", "key": "network"}}}),
        );
        env.insert("HCLOUD_NETWORK".into(), network);
    }
    env
}

/// `networking.enabled` (chart default false; Helm values may carry booleans as strings).
fn networking(values: &Value) -> bool {
    truthy(&values["networking"]["enabled"]).unwrap_or(false)
}

fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => parse_bool(s),
        _ => None,
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Reads the configuration, or says why the CCM cannot start (a missing Secret keeps its pod in
/// `CreateContainerConfigError`; a bad value makes it exit).
pub fn read(store: &Store, view: &ComponentView) -> Result<Setup, String> {
    let env = environment(&view.values);
    let var = |name: &str| -> Result<Option<String>, String> {
        match env.get(name) {
            None => Ok(None),
            Some(spec) => env_value(store, &view.namespace, spec),
        }
    };
    let flag = |name: &str, default: bool| -> Result<bool, String> {
        match var(name)? {
            None => Ok(default),
            Some(v) => parse_bool(&v).ok_or_else(|| {
                format!("failed to parse {name}: strconv.ParseBool: parsing {v:?}: invalid syntax")
            }),
        }
    };
    let token = var("HCLOUD_TOKEN")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "environment variable \"HCLOUD_TOKEN\" is required".to_string())?;
    let network = var("HCLOUD_NETWORK")?.filter(|n| !n.is_empty());
    let routes_on = network.is_some() && flag("HCLOUD_NETWORK_ROUTES_ENABLED", true)?;
    let routes = if routes_on && networking(&view.values) {
        let cidr = view.values["networking"]["clusterCIDR"]
            .as_str()
            .unwrap_or(DEFAULT_CLUSTER_CIDR);
        Some(
            cidr.parse::<Ipv4Net>()
                .map_err(|e| format!("invalid --cluster-cidr {cidr:?}: {e}"))?,
        )
    } else {
        None
    };
    let location = var("HCLOUD_LOAD_BALANCERS_LOCATION")?.filter(|l| !l.is_empty());
    let network_zone = var("HCLOUD_LOAD_BALANCERS_NETWORK_ZONE")?.filter(|z| !z.is_empty());
    if location.is_some() && network_zone.is_some() {
        return Err("invalid value for \"HCLOUD_LOAD_BALANCERS_LOCATION\"/\"HCLOUD_LOAD_BALANCERS_NETWORK_ZONE\", only one of them can be set".into());
    }
    Ok(Setup {
        token,
        routes,
        lb: LbDefaults {
            enabled: flag("HCLOUD_LOAD_BALANCERS_ENABLED", true)?,
            location,
            network_zone,
            use_private_ip: flag("HCLOUD_LOAD_BALANCERS_USE_PRIVATE_IP", false)?,
        },
        network,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(secret: Value) -> Store {
        let mut store = Store::default();
        store.ensure_defaults("t0", None);
        store.put("v1", "secrets", secret, "t0");
        store
    }

    fn view(values: Value) -> ComponentView {
        ComponentView {
            namespace: "kube-system".into(),
            release: "hccm".into(),
            values,
        }
    }

    #[test]
    fn token_and_network_come_from_secret_hcloud() {
        let store = store(
            json!({"metadata": {"name": "hcloud", "namespace": "kube-system"},
            "stringData": {"token": "tok", "network": "42"}}),
        );
        let plain = read(&store, &view(json!({}))).unwrap();
        assert_eq!(plain.token, "tok");
        assert_eq!(plain.network, None, "no network without networking.enabled");
        assert_eq!(plain.routes, None);
        let networked = read(
            &store,
            &view(
                json!({"networking": {"enabled": true, "clusterCIDR": "10.244.0.0/16"},
                "env": {"HCLOUD_LOAD_BALANCERS_LOCATION": {"value": "fsn1"}}}),
            ),
        )
        .unwrap();
        assert_eq!(networked.network.as_deref(), Some("42"));
        assert_eq!(networked.routes, Some("10.244.0.0/16".parse().unwrap()));
        assert_eq!(networked.lb.location.as_deref(), Some("fsn1"));
        let no_routes = read(
            &store,
            &view(json!({"networking": {"enabled": true},
                "env": {"HCLOUD_NETWORK_ROUTES_ENABLED": {"value": "false"}}})),
        )
        .unwrap();
        assert_eq!(no_routes.routes, None);
        assert_eq!(no_routes.network.as_deref(), Some("42"));
    }

    #[test]
    fn missing_secret_or_key_stops_the_ccm() {
        let store = store(
            json!({"metadata": {"name": "hcloud", "namespace": "kube-system"},
            "stringData": {"token": "tok"}}),
        );
        assert_eq!(
            read(&store, &view(json!({"networking": {"enabled": true}}))),
            Err("couldn't find key network in Secret kube-system/hcloud".into())
        );
        assert_eq!(
            read(&store, &view(json!({"env": {"HCLOUD_TOKEN": null}}))),
            Err("environment variable \"HCLOUD_TOKEN\" is required".into())
        );
        let empty = Store::default();
        assert_eq!(
            read(&empty, &view(json!({}))),
            Err("secret \"hcloud\" not found".into())
        );
    }
}
