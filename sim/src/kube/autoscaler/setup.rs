//! What the cluster-autoscaler reads at start: its command line (`--cloud-provider`, `--nodes`,
//! the scan and scale-down flags) and, for its Hetzner cloud provider, the environment of its
//! container (`HCLOUD_TOKEN`, `HCLOUD_CLUSTER_CONFIG` or `HCLOUD_CLOUD_INIT`, `HCLOUD_IMAGE`,
//! `HCLOUD_NETWORK`, `HCLOUD_FIREWALL`, `HCLOUD_PUBLIC_IPV4/IPV6`), with the messages the real one
//! dies with when they are wrong (`hetzner_manager.go`, `hetzner_cloud_provider.go`).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use super::super::components::{self, ComponentView};
use super::super::select::{labels_of, selector_object_matches};
use super::super::store::Store;

/// One `--nodes=min:max:type:location:name` group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Group (pool) name: server name prefix and `hcloud/node-group` label value.
    pub name: String,
    /// Fewest servers.
    pub min: usize,
    /// Most servers.
    pub max: usize,
    /// Server type name.
    pub server_type: String,
    /// Location name.
    pub location: String,
}

/// A pool's entry in `nodeConfigs` of the cluster config.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeConfig {
    /// User data of its servers, verbatim.
    pub cloud_init: String,
    /// Labels its nodes will carry (the template node has them).
    pub labels: BTreeMap<String, String>,
    /// Taints its nodes will carry (`{key, value, effect}`).
    pub taints: Vec<Value>,
    /// Extra Hetzner labels of its servers.
    pub server_labels: BTreeMap<String, String>,
    /// Placement group id or name.
    pub placement_group: Option<String>,
}

/// `HCLOUD_CLUSTER_CONFIG` decoded.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterConfig {
    /// Image (id, name or label selector) by architecture (`amd64`, `arm64`).
    pub images_for_arch: BTreeMap<String, String>,
    /// Per-pool settings.
    pub node_configs: BTreeMap<String, NodeConfig>,
}

/// Everything the autoscaler runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    /// `HCLOUD_TOKEN`.
    pub token: String,
    /// The cluster config (or one built from `HCLOUD_CLOUD_INIT` alone).
    pub config: ClusterConfig,
    /// `HCLOUD_CLOUD_INIT` decoded: user data of pools without a node config.
    pub cloud_init: String,
    /// `HCLOUD_IMAGE` (default `ubuntu-20.04`), when `imagesForArch` names none.
    pub image: String,
    /// `HCLOUD_NETWORK` (id or name).
    pub network: Option<String>,
    /// `HCLOUD_FIREWALL` (id or name).
    pub firewall: Option<String>,
    /// `HCLOUD_PUBLIC_IPV4`.
    pub ipv4: bool,
    /// `HCLOUD_PUBLIC_IPV6`.
    pub ipv6: bool,
    /// The node groups.
    pub groups: Vec<Group>,
    /// `--scan-interval` (10s).
    pub scan_interval: Duration,
    /// `--scale-down-unneeded-time` (10m).
    pub unneeded_time: Duration,
    /// `--scale-down-delay-after-add` (10m).
    pub delay_after_add: Duration,
    /// `--scale-down-utilization-threshold` (0.5).
    pub threshold: f64,
    /// `--scale-down-enabled` (true).
    pub scale_down: bool,
    /// `--enforce-node-group-min-size` (false): groups below `min` grow to it with no pod asking.
    pub enforce_min_size: bool,
    /// The autoscaler's pod `(namespace, name)`, whose log tells what it does.
    pub pod: Option<(String, String)>,
}

impl Setup {
    /// The same with its durations multiplied by the sim's time scale.
    #[must_use]
    pub fn scaled(mut self, time_scale: f64) -> Self {
        let factor = time_scale.max(0.0);
        self.scan_interval = self.scan_interval.mul_f64(factor);
        self.unneeded_time = self.unneeded_time.mul_f64(factor);
        self.delay_after_add = self.delay_after_add.mul_f64(factor);
        self
    }

    /// What a restart depends on: a changed configuration is a new process.
    pub fn fingerprint(&self) -> String {
        format!(
            "{}|{:?}|{}|{}|{:?}|{:?}|{}|{}|{:?}",
            self.token,
            self.config,
            self.cloud_init,
            self.image,
            self.network,
            self.firewall,
            self.ipv4,
            self.ipv6,
            self.groups
        )
    }
}

/// A Go `time.ParseDuration` value (`10s`, `1m30s`, `1h`, `500ms`).
pub fn go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|i| *i > 0)?;
        let number: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

/// `--nodes` of the Hetzner provider: `min:max:type:location:name`.
fn parse_group(spec: &str) -> Result<Group, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let [min, max, server_type, location, name] = parts.as_slice() else {
        return Err(format!(
            "failed to parse node group spec: node group spec \"{spec}\" should be min:max:instanceType:region:name"
        ));
    };
    let size = |what: &str, v: &str| {
        v.parse::<usize>().map_err(|_| {
            format!("failed to parse node group spec: {what} size must be a valid integer: {v}")
        })
    };
    let (min, max) = (size("min", min)?, size("max", max)?);
    if max < min {
        return Err(format!(
            "failed to parse node group spec: max size must be greater or equal to min size: {spec}"
        ));
    }
    Ok(Group {
        name: (*name).to_string(),
        min,
        max,
        server_type: (*server_type).to_string(),
        location: (*location).to_string(),
    })
}

/// The container's environment: `env` entries (literal or from Secret keys) over `envFrom`
/// Secrets, as the kubelet builds it. `Err` is the pod's `CreateContainerConfigError`.
fn environment(
    store: &Store,
    ns: &str,
    container: &Value,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    for source in container["envFrom"].as_array().into_iter().flatten() {
        let Some(name) = source["secretRef"]["name"].as_str() else {
            continue;
        };
        let Some(secret) = store.get("v1", "secrets", ns, name) else {
            if source["secretRef"]["optional"] == true {
                continue;
            }
            return Err(format!("secret \"{name}\" not found"));
        };
        let keys: Vec<String> = ["data", "stringData"]
            .iter()
            .flat_map(|f| {
                secret[*f]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone())
            })
            .collect();
        for key in keys {
            env.insert(
                key.clone(),
                components::secret_value(store, ns, name, &key)?,
            );
        }
    }
    for spec in container["env"].as_array().into_iter().flatten() {
        let Some(name) = spec["name"].as_str() else {
            continue;
        };
        if let Some(value) = components::env_value(store, ns, spec)? {
            env.insert(name.to_string(), value);
        }
    }
    Ok(env)
}

fn flag(args: &[String], name: &str) -> Option<String> {
    let prefix = format!("--{name}=");
    args.iter()
        .rev()
        .find_map(|a| a.strip_prefix(&prefix).map(str::to_string))
}

/// A Go boolean flag: `--name` alone or `--name=true`.
fn bare_or_true(args: &[String], name: &str) -> bool {
    let bare = format!("--{name}");
    args.iter().rev().find_map(|a| {
        if *a == bare {
            Some(true)
        } else {
            a.strip_prefix(&format!("{bare}="))
                .map(|v| matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True"))
        }
    }) == Some(true)
}

fn duration_flag(args: &[String], name: &str, default: Duration) -> Result<Duration, String> {
    match flag(args, name) {
        None => Ok(default),
        Some(v) => go_duration(&v)
            .ok_or_else(|| format!("invalid value \"{v}\" for flag -{name}: parse error")),
    }
}

fn manager_error(why: impl std::fmt::Display) -> String {
    format!("Failed to create Hetzner manager: {why}")
}

/// Reads the running release's Deployment: the configuration, or why the autoscaler cannot run
/// (its pod's fatal log line). `Err(None)`-like cases (no Deployment) are reported too.
pub fn read(store: &Store, view: &ComponentView) -> Result<Setup, String> {
    let release = store
        .releases
        .get(&(view.namespace.clone(), view.release.clone()))
        .ok_or("release not found")?;
    let deployment = release
        .objects
        .iter()
        .filter(|(_, resource, _, _)| resource == "deployments")
        .find_map(|(gv, resource, ns, name)| store.get(gv, resource, ns, name))
        .ok_or("the chart rendered no Deployment (no autoscalingGroups)")?;
    let pod_spec = &deployment["spec"]["template"]["spec"];
    let container = &pod_spec["containers"][0];
    let pod = store
        .items("v1", "pods")
        .into_iter()
        .filter(|p| p["metadata"]["namespace"] == view.namespace.as_str())
        .filter(|p| p["status"]["phase"] == "Running")
        .find(|p| selector_object_matches(&deployment["spec"]["selector"], &labels_of(p)))
        .and_then(|p| {
            Some((
                p["metadata"]["namespace"].as_str()?.to_string(),
                p["metadata"]["name"].as_str()?.to_string(),
            ))
        });
    let args: Vec<String> = ["command", "args"]
        .iter()
        .flat_map(|k| container[*k].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let fail = |why: String| Err(why);
    let provider = flag(&args, "cloud-provider").unwrap_or_default();
    if provider != "hetzner" {
        return fail(format!(
            "cloud provider \"{provider}\": hk8s-sim models the hetzner cloud provider only"
        ));
    }
    let env = environment(store, &view.namespace, container)?;
    let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    let token =
        get("HCLOUD_TOKEN").ok_or_else(|| manager_error("`HCLOUD_TOKEN` is not specified"))?;
    let b64 = |k: &str, v: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(v.trim())
            .map_err(|e| manager_error(format!("failed to parse {k}: {e}")))
    };
    let config = match (
        get("HCLOUD_CLUSTER_CONFIG"),
        get("HCLOUD_CLUSTER_CONFIG_FILE"),
    ) {
        (Some(encoded), _) => {
            let bytes = b64("cluster config", &encoded)?;
            serde_json::from_slice::<ClusterConfig>(&bytes).map_err(|e| {
                manager_error(format!("failed to unmarshal cluster config JSON: {e}"))
            })?
        }
        (None, Some(_)) => {
            return fail(manager_error(
                "HCLOUD_CLUSTER_CONFIG_FILE: reading files is not modelled by hk8s-sim; use HCLOUD_CLUSTER_CONFIG",
            ));
        }
        (None, None) => ClusterConfig::default(),
    };
    let cloud_init = match get("HCLOUD_CLOUD_INIT") {
        Some(encoded) => String::from_utf8(b64("cloud init", &encoded)?)
            .map_err(|e| manager_error(format!("failed to parse cloud init: {e}")))?,
        None if get("HCLOUD_CLUSTER_CONFIG").is_none() => {
            return fail(manager_error(
                "neither `HCLOUD_CLUSTER_CONFIG`, `HCLOUD_CLOUD_INIT` nor `HCLOUD_CLUSTER_CONFIG_FILE` is specified",
            ));
        }
        None => String::new(),
    };
    let boolean = |k: &str| match get(k) {
        None => Ok(true),
        Some(v) => match v.as_str() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            _ => Err(manager_error(format!(
                "failed to parse {k}: strconv.ParseBool: parsing \"{v}\": invalid syntax"
            ))),
        },
    };
    let groups = args
        .iter()
        .filter_map(|a| a.strip_prefix("--nodes="))
        .map(parse_group)
        .collect::<Result<Vec<_>, _>>()?;
    if groups.is_empty() {
        return fail("no node groups: no --nodes flag, nothing to scale".into());
    }
    let threshold = match flag(&args, "scale-down-utilization-threshold") {
        None => 0.5,
        Some(v) => v.parse::<f64>().map_err(|_| {
            format!("invalid value \"{v}\" for flag -scale-down-utilization-threshold: parse error")
        })?,
    };
    Ok(Setup {
        ipv4: boolean("HCLOUD_PUBLIC_IPV4")?,
        ipv6: boolean("HCLOUD_PUBLIC_IPV6")?,
        token,
        config,
        cloud_init,
        image: get("HCLOUD_IMAGE").unwrap_or_else(|| "ubuntu-20.04".into()),
        network: get("HCLOUD_NETWORK"),
        firewall: get("HCLOUD_FIREWALL"),
        groups,
        scan_interval: duration_flag(&args, "scan-interval", Duration::from_secs(10))?,
        unneeded_time: duration_flag(&args, "scale-down-unneeded-time", Duration::from_secs(600))?,
        delay_after_add: duration_flag(
            &args,
            "scale-down-delay-after-add",
            Duration::from_secs(600),
        )?,
        threshold,
        scale_down: flag(&args, "scale-down-enabled").is_none_or(|v| v != "false"),
        enforce_min_size: bare_or_true(&args, "enforce-node-group-min-size"),
        pod,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_time_parse_duration() {
        assert_eq!(go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(go_duration("10"), None);
        assert_eq!(go_duration("ten"), None);
    }

    #[test]
    fn boolean_flags_are_bare_or_valued_and_the_last_wins() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        let flag = "enforce-node-group-min-size";
        assert!(bare_or_true(
            &args(&["--enforce-node-group-min-size"]),
            flag
        ));
        assert!(bare_or_true(
            &args(&["--enforce-node-group-min-size=true"]),
            flag
        ));
        assert!(!bare_or_true(
            &args(&["--enforce-node-group-min-size=false"]),
            flag
        ));
        assert!(!bare_or_true(&args(&["--scan-interval=10s"]), flag));
        assert!(!bare_or_true(
            &args(&[
                "--enforce-node-group-min-size",
                "--enforce-node-group-min-size=false"
            ]),
            flag
        ));
    }

    #[test]
    fn node_group_specs_need_five_parts_and_ordered_sizes() {
        assert_eq!(
            parse_group("1:3:cx22:fsn1:pool").map(|g| (
                g.min,
                g.max,
                g.server_type,
                g.location,
                g.name
            )),
            Ok((1, 3, "cx22".into(), "fsn1".into(), "pool".into()))
        );
        assert!(parse_group("1:3:pool").is_err());
        assert!(parse_group("3:1:cx22:fsn1:pool").is_err());
        assert!(parse_group("a:1:cx22:fsn1:pool").is_err());
    }
}
