//! The charts the sim knows, by repository: what each version deploys, rendered from the
//! release's merged values the way the real chart's templates do for the values that matter to
//! a cluster (names, labels, replicas, tolerations, node selectors, host networking, the
//! Secrets pods read, StorageClasses, APIServices, CRDs). Everything else a real chart renders
//! (ConfigMaps of tuning options, RBAC details, hooks) is left out.
//!
//! Repositories are known by URL (`https://helm.cilium.io`, `https://charts.hetzner.cloud`, …,
//! trailing `/` ignored) plus the sim's own `/charts` repository ([`crate::chartrepo`]).

mod autoscaler;
mod cert_manager;
mod cilium;
mod csi;
mod csr_approver;
mod hcloud_ccm;
mod hello;
mod longhorn;
mod metrics_server;
mod podinfo;
mod traefik;

use serde_json::{Map, Value, json};

/// What a chart needs to render.
#[derive(Debug, Clone, Copy)]
pub struct Render<'a> {
    /// Release name.
    pub release: &'a str,
    /// Release namespace.
    pub namespace: &'a str,
    /// Chart version.
    pub version: &'a str,
    /// Chart appVersion.
    pub app_version: &'a str,
    /// Merged values.
    pub values: &'a Value,
}

impl Render<'_> {
    /// The value at a dotted path.
    pub fn get(&self, path: &str) -> &Value {
        path.split('.').fold(self.values, |v, k| &v[k])
    }

    /// A string value ("" when absent).
    pub fn str(&self, path: &str) -> &str {
        self.get(path).as_str().unwrap_or_default()
    }

    /// Helm's truthiness of a value (`if .Values.x`).
    pub fn truthy(&self, path: &str) -> bool {
        truthy(self.get(path))
    }

    /// The common `fullname` helper of Helm's chart scaffold: `fullnameOverride`, else the
    /// release name when it contains the chart name (or `nameOverride`), else
    /// `<release>-<name>`; at most 63 characters.
    pub fn fullname(&self, chart: &str) -> String {
        let over = self.str("fullnameOverride");
        let name = match self.str("nameOverride") {
            "" => chart,
            n => n,
        };
        let full = if !over.is_empty() {
            over.to_string()
        } else if self.release.contains(name) {
            self.release.to_string()
        } else {
            format!("{}-{name}", self.release)
        };
        trunc63(&full)
    }

    /// `nameOverride` or the chart name.
    pub fn name(&self, chart: &str) -> String {
        match self.str("nameOverride") {
            "" => chart.to_string(),
            n => trunc63(n),
        }
    }
}

fn trunc63(text: &str) -> String {
    text.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// Helm's (Go template's) truthiness: false, 0, "", null, empty lists and maps are false.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A rendering failure: the text Helm prints after `INSTALLATION FAILED: ` (a template's
/// `fail`, a schema violation).
pub type RenderError = String;

/// One chart the sim knows.
#[derive(Debug)]
pub struct Chart {
    /// Chart name.
    pub name: &'static str,
    /// `(version, appVersion)` of the versions the repository serves, oldest first.
    pub versions: &'static [(&'static str, &'static str)],
    /// `values.yaml`.
    pub defaults: fn() -> Value,
    /// Values schema check (Helm's message), before rendering.
    pub validate: fn(&Value) -> Result<(), RenderError>,
    /// The objects a release of it makes.
    pub render: fn(&Render<'_>) -> Result<Vec<Value>, RenderError>,
    /// CRDs in the chart's `crds/` directory: installed before the templates when missing, never
    /// upgraded or deleted (Helm's rule for them).
    pub crds: fn() -> Vec<Value>,
}

/// A chart without a schema.
pub fn no_schema(_: &Value) -> Result<(), RenderError> {
    Ok(())
}

/// A chart without a `crds/` directory.
pub fn no_crds() -> Vec<Value> {
    Vec::new()
}

/// A repository the sim knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repository {
    /// `https://…` of a chart publisher (canonical URL, no trailing `/`).
    Known(&'static str),
    /// The sim's own `/charts`.
    Own,
}

/// The publishers' repositories and their charts.
const KNOWN: &[(&str, &[&Chart])] = &[
    ("https://helm.cilium.io", &[&cilium::CHART]),
    (
        "https://charts.hetzner.cloud",
        &[&hcloud_ccm::CHART, &csi::CHART],
    ),
    (
        "https://kubernetes-sigs.github.io/metrics-server",
        &[&metrics_server::CHART],
    ),
    (
        "https://postfinance.github.io/kubelet-csr-approver",
        &[&csr_approver::CHART],
    ),
    ("https://charts.jetstack.io", &[&cert_manager::CHART]),
    ("https://traefik.github.io/charts", &[&traefik::CHART]),
    ("https://charts.longhorn.io", &[&longhorn::CHART]),
    ("https://stefanprodan.github.io/podinfo", &[&podinfo::CHART]),
    (
        "https://kubernetes.github.io/autoscaler",
        &[&autoscaler::CHART],
    ),
];

/// The repository at `url`, if the sim knows it.
pub fn repository(url: &str, own: Option<std::net::SocketAddr>) -> Option<Repository> {
    if crate::chartrepo::is_own_repository(url, own) {
        return Some(Repository::Own);
    }
    let canonical = url.trim_end_matches('/');
    KNOWN
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(canonical))
        .map(|(u, _)| Repository::Known(u))
}

/// The charts of a repository.
pub fn charts(repository: Repository) -> Vec<&'static Chart> {
    match repository {
        Repository::Own => vec![&hello::CHART],
        Repository::Known(url) => KNOWN
            .iter()
            .find(|(u, _)| *u == url)
            .map(|(_, charts)| charts.to_vec())
            .unwrap_or_default(),
    }
}

fn semver(text: &str) -> Option<(u64, u64, u64, bool)> {
    let text = text.trim().trim_start_matches('v');
    let (core, pre) = match text.split_once('-') {
        Some((c, _)) => (c, true),
        None => (text, false),
    };
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??, pre))
}

/// The version `wanted` of `chart` as Helm's index lookup finds it: an exact match, else the
/// same semantic version (`1.19.1` finds `v1.19.1`); the newest stable version when `wanted` is
/// empty. `(version, appVersion)`.
pub fn find_version(chart: &Chart, wanted: &str) -> Option<(&'static str, &'static str)> {
    if wanted.is_empty() {
        return chart
            .versions
            .iter()
            .filter(|(v, _)| semver(v).is_some_and(|s| !s.3))
            .max_by_key(|(v, _)| semver(v))
            .copied();
    }
    chart
        .versions
        .iter()
        .find(|(v, _)| *v == wanted)
        .or_else(|| {
            let want = semver(wanted)?;
            chart.versions.iter().find(|(v, _)| semver(v) == Some(want))
        })
        .copied()
}

// Builders shared by the charts.

/// `metadata` with a name, an optional namespace and labels (omitted when empty).
pub fn meta(name: &str, namespace: Option<&str>, labels: &Value) -> Value {
    let mut meta = json!({"name": name});
    if let Some(ns) = namespace {
        meta["namespace"] = json!(ns);
    }
    if truthy(labels) {
        meta["labels"] = labels.clone();
    }
    meta
}

/// A map from `(key, value)` pairs.
pub fn labels(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect::<Map<String, Value>>(),
    )
}

/// `base` with the entries of `extra` (an object) added.
pub fn with(base: &Value, extra: &Value) -> Value {
    let mut out = base.clone();
    if let (Value::Object(o), Value::Object(e)) = (&mut out, extra) {
        for (k, v) in e {
            o.insert(k.clone(), v.clone());
        }
    }
    out
}

/// A ServiceAccount.
pub fn service_account(name: &str, namespace: &str, labels: &Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(name, Some(namespace), labels)})
}

/// A ClusterRole with the given rules.
pub fn cluster_role(name: &str, labels: &Value, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
           "metadata": meta(name, None, labels), "rules": rules})
}

/// A ClusterRoleBinding of a ClusterRole to a ServiceAccount.
pub fn cluster_role_binding(
    name: &str,
    role: &str,
    account: &str,
    namespace: &str,
    labels: &Value,
) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": meta(name, None, labels),
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
           "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]})
}

/// A Service.
pub fn service(
    name: &str,
    namespace: &str,
    labels: &Value,
    selector: &Value,
    kind: &str,
    ports: Value,
) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(name, Some(namespace), labels),
           "spec": {"type": kind, "selector": selector, "ports": ports}})
}

/// A Deployment whose pods carry `pod_labels` and are selected by `selector`.
pub fn deployment(
    name: &str,
    namespace: &str,
    labels: &Value,
    replicas: &Value,
    selector: &Value,
    pod_labels: &Value,
    pod_spec: Value,
) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name, Some(namespace), labels),
           "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                    "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec}}})
}

/// A DaemonSet whose pods carry `pod_labels` and are selected by `selector`.
pub fn daemon_set(
    name: &str,
    namespace: &str,
    labels: &Value,
    selector: &Value,
    pod_labels: &Value,
    pod_spec: Value,
) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta(name, Some(namespace), labels),
           "spec": {"selector": {"matchLabels": selector}, "updateStrategy": {"type": "RollingUpdate"},
                    "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec}}})
}

/// A CustomResourceDefinition of one served, stored `version`.
pub fn crd(group: &str, kind: &str, plural: &str, version: &str, namespaced: bool) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": format!("{plural}.{group}")},
           "spec": {"group": group, "scope": if namespaced { "Namespaced" } else { "Cluster" },
                    "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural,
                              "singular": kind.to_lowercase()},
                    "versions": [{"name": version, "served": true, "storage": true,
                                  "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

/// A value that is a list (or an empty list).
pub fn list(value: &Value) -> Vec<Value> {
    value.as_array().cloned().unwrap_or_default()
}

/// Sets `key` of `target` to `value` when the value is truthy (a template's `with`).
pub fn set_if(target: &mut Value, key: &str, value: &Value) {
    if truthy(value) {
        target[key] = value.clone();
    }
}

/// Parses a chart's embedded `values.yaml`.
pub fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_and_versions_resolve_like_helm_indexes() {
        assert_eq!(
            repository("https://charts.hetzner.cloud/", None),
            Some(Repository::Known("https://charts.hetzner.cloud"))
        );
        assert!(repository("https://charts.example.org", None).is_none());
        let ccm = charts(Repository::Known("https://charts.hetzner.cloud"))[0];
        assert_eq!(find_version(ccm, "").map(|v| v.0), Some("1.35.0"));
        assert_eq!(find_version(ccm, "1.30.1").map(|v| v.0), Some("1.30.1"));
        assert!(find_version(ccm, "9.9.9").is_none());
        let cert_manager = charts(Repository::Known("https://charts.jetstack.io"))[0];
        assert_eq!(
            find_version(cert_manager, "1.19.1").map(|v| v.0),
            Some("v1.19.1")
        );
        let render = Render {
            release: "hcloud-csi",
            namespace: "kube-system",
            version: "",
            app_version: "",
            values: &Value::Null,
        };
        assert_eq!(render.fullname("hcloud-csi"), "hcloud-csi");
        let other = Render {
            release: "storage",
            ..render
        };
        assert_eq!(other.fullname("hcloud-csi"), "storage-hcloud-csi");
    }
}
