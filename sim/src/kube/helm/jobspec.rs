//! The objects helm-controller (k3s-io/helm-controller v0.17, `pkg/controllers/chart`) makes for
//! a HelmChart: the Job `helm-install-<name>` (or `helm-delete-<name>` while the chart is being
//! deleted) running klipper-helm with the chart's environment and arguments, the values Secret
//! `chart-values-<name>` (valuesContent, values, and those of the HelmChartConfig of the same
//! name) projected at `/config`, the ConfigMap `chart-content-<name>`, the ServiceAccount
//! `helm-<name>` and the ClusterRoleBinding `helm-<namespace>-<name>` to the job cluster role.
//!
//! The Job's pods select `kubernetes.io/os: linux`; `bootstrap: true` adds host networking,
//! the bootstrap tolerations and `node-role.kubernetes.io/control-plane: "true"` (which Talos's
//! control planes, labelled `""`, never match). The controller's `JOB_TOLERATIONS` are appended.
//! The config hash covers the backoff limit, the pod template and the values; since v0.17.4 the
//! Job also gets `EXPECTED_RELEASE_REVISION` and `CONFIG_HASH`.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::entry::Version;
use crate::talos::pki::base64_of;

/// The controller's configuration, from its Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// helm-controller's version (image tag).
    pub version: Version,
    /// `DEFAULT_JOB_IMAGE` (`rancher/klipper-helm:latest` when unset).
    pub default_job_image: String,
    /// `JOB_TOLERATIONS`.
    pub job_tolerations: Vec<Value>,
    /// `JOB_CLUSTER_ROLE`.
    pub job_cluster_role: String,
    /// `--namespace` / `NAMESPACE`: the only namespace whose charts it manages.
    pub namespace: Option<String>,
}

impl Config {
    /// Whether this version validates the release's config hash (v0.17.4+).
    pub fn checks_release_hash(&self) -> bool {
        self.version >= (0, 17, 4)
    }
}

/// Everything the controller applies for one chart.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The Job.
    pub job: Value,
    /// The values Secret (install jobs).
    pub values: Option<Value>,
    /// The chart content ConfigMap (install jobs).
    pub content: Option<Value>,
    /// The job's ServiceAccount.
    pub account: Value,
    /// Its ClusterRoleBinding.
    pub binding: Value,
    /// The config hash (hex, as the release label carries it).
    pub hash: String,
}

fn meta<'a>(chart: &'a Value, key: &str) -> &'a str {
    chart["metadata"][key].as_str().unwrap_or_default()
}

/// A Go `time.Duration` string (`5m0s`) of a HelmChart `timeout` (`300s`, `5m`, `1h30m`).
fn go_duration(text: &str) -> Option<String> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        total += match c {
            'h' => n * 3600,
            'm' => n * 60,
            's' => n,
            _ => return None,
        };
    }
    if !number.is_empty() {
        return None;
    }
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    Some(if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    })
}

/// `helm` arguments of the chart's job (chart.go `args`).
fn args(chart: &Value, delete: bool) -> Vec<String> {
    if delete {
        return vec!["delete".into()];
    }
    let spec = &chart["spec"];
    let mut args = vec!["install".to_string()];
    if let Some(ns) = spec["targetNamespace"].as_str().filter(|n| !n.is_empty()) {
        args.extend(["--namespace".to_string(), ns.to_string()]);
    }
    if spec["createNamespace"] == true {
        args.push("--create-namespace".into());
    }
    if spec["takeOwnership"] == true {
        args.push("--take-ownership".into());
    }
    if let Some(v) = spec["version"].as_str().filter(|v| !v.is_empty()) {
        args.extend(["--version".to_string(), v.to_string()]);
    }
    for (key, value) in spec["set"].as_object().into_iter().flatten() {
        let (text, typed) = match value {
            Value::Number(n) => (n.to_string(), true),
            Value::String(s) => (
                s.clone(),
                matches!(s.to_lowercase().as_str(), "true" | "false" | "null"),
            ),
            other => (other.to_string(), true),
        };
        if typed {
            args.extend(["--set".to_string(), format!("{key}={text}")]);
        } else {
            args.extend([
                "--set-string".to_string(),
                format!("{key}={}", escape_commas(&text)),
            ]);
        }
    }
    args
}

/// chart.go's `escapeComma`: every unescaped comma gets a backslash.
fn escape_commas(text: &str) -> String {
    let mut out = String::new();
    let mut backslashes = 0;
    for c in text.chars() {
        if c == ',' && backslashes % 2 == 0 {
            out.push('\\');
        }
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
        out.push(c);
    }
    out
}

fn yaml_text(value: &Value) -> String {
    serde_saphyr::to_string(value).unwrap_or_else(|_| value.to_string())
}

/// The objects for `chart` (and its HelmChartConfig, if any); `delete` for the uninstall job.
/// `revision` is the current release revision (0 when none).
pub fn desired(
    chart: &Value,
    chart_config: Option<&Value>,
    config: &Config,
    delete: bool,
    revision: u32,
) -> Desired {
    let (ns, name) = (meta(chart, "namespace"), meta(chart, "name"));
    let spec = &chart["spec"];
    let image = match spec["jobImage"]
        .as_str()
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        Some(i) => i.to_string(),
        None => config.default_job_image.clone(),
    };
    let target = spec["targetNamespace"]
        .as_str()
        .filter(|t| !t.is_empty())
        .unwrap_or(ns);
    let chart_ref = spec["chart"].as_str().unwrap_or_default();
    let repo = spec["repo"].as_str().unwrap_or_default();
    let chart_env = if repo.is_empty() {
        chart_ref.to_string()
    } else {
        format!("{name}/{chart_ref}")
    };
    let text = |key: &str| spec[key].as_str().unwrap_or_default().to_string();
    let flag = |key: &str| (spec[key] == true).to_string();
    let driver = match spec["driver"].as_str() {
        Some(d) if !d.is_empty() => d.to_string(),
        _ => "secret".into(),
    };
    let mut env = vec![
        json!({"name": "NAME", "value": name}),
        json!({"name": "VERSION", "value": text("version")}),
        json!({"name": "REPO", "value": repo}),
        json!({"name": "HELM_DRIVER", "value": driver}),
        json!({"name": "CHART_NAMESPACE", "value": ns}),
        json!({"name": "CHART", "value": chart_env}),
        json!({"name": "HELM_VERSION", "value": text("helmVersion")}),
        json!({"name": "TARGET_NAMESPACE", "value": target}),
        json!({"name": "AUTH_PASS_CREDENTIALS", "value": flag("authPassCredentials")}),
        json!({"name": "INSECURE_SKIP_TLS_VERIFY", "value": flag("insecureSkipTLSVerify")}),
        json!({"name": "PLAIN_HTTP", "value": flag("plainHTTP")}),
    ];
    if let Some(timeout) = spec["timeout"].as_str().and_then(go_duration) {
        env.push(json!({"name": "TIMEOUT", "value": timeout}));
    }
    let bootstrap = spec["bootstrap"] == true;
    let mut node_selector = json!({"kubernetes.io/os": "linux"});
    let mut tolerations: Vec<Value> = Vec::new();
    if bootstrap {
        node_selector["node-role.kubernetes.io/control-plane"] = json!("true");
        tolerations = vec![
            json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}),
            json!({"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}),
            json!({"key": "node.cloudprovider.kubernetes.io/uninitialized", "operator": "Equal", "value": "true", "effect": "NoSchedule"}),
            json!({"key": "CriticalAddonsOnly", "operator": "Exists"}),
            json!({"key": "node-role.kubernetes.io/etcd", "operator": "Exists", "effect": "NoExecute"}),
            json!({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}),
        ];
        env.push(json!({"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"}));
        env.push(json!({"name": "KUBERNETES_SERVICE_PORT", "value": "6443"}));
        env.push(json!({"name": "BOOTSTRAP", "value": "true"}));
    }
    tolerations.extend(config.job_tolerations.iter().cloned());
    let mut mounts = vec![
        json!({"name": "klipper-helm", "mountPath": "/home/klipper-helm/.helm"}),
        json!({"name": "klipper-cache", "mountPath": "/home/klipper-helm/.cache"}),
        json!({"name": "klipper-config", "mountPath": "/home/klipper-helm/.config"}),
        json!({"name": "tmp", "mountPath": "/tmp"}),
    ];
    let memory = json!({"emptyDir": {"medium": "Memory"}});
    let mut volumes: Vec<Value> = ["klipper-helm", "klipper-cache", "klipper-config", "tmp"]
        .iter()
        .map(|v| super::charts::with(&json!({"name": v}), &memory))
        .collect();
    let (mut values_secret, mut content) = (None, None);
    if !delete {
        let mut data = serde_json::Map::new();
        let mut items = Vec::new();
        let mut add = |key: &str, path: &str, text: String| {
            data.insert(key.to_string(), json!(base64_of(&text)));
            items.push(json!({"key": key, "path": path}));
        };
        if let Some(v) = spec["valuesContent"].as_str().filter(|v| !v.is_empty()) {
            add(
                "HelmChartValuesContent",
                "values-0-000-HelmChart-ValuesContent.yaml",
                v.to_string(),
            );
        }
        if super::charts::truthy(&spec["values"]) {
            add(
                "HelmChartValues",
                "values-0-001-HelmChart-Values.yaml",
                yaml_text(&spec["values"]),
            );
        }
        if let Some(ca) = spec["repoCA"].as_str().filter(|v| !v.is_empty()) {
            add("RepoCA", "ca-file.pem", ca.to_string());
        }
        if let Some(cc) = chart_config {
            if let Some(v) = cc["spec"]["valuesContent"]
                .as_str()
                .filter(|v| !v.is_empty())
            {
                add(
                    "HelmChartConfigValuesContent",
                    "values-1-000-HelmChartConfig-ValuesContent.yaml",
                    v.to_string(),
                );
            }
            if super::charts::truthy(&cc["spec"]["values"]) {
                add(
                    "HelmChartConfigValues",
                    "values-1-001-HelmChartConfig-Values.yaml",
                    yaml_text(&cc["spec"]["values"]),
                );
            }
        }
        let secret_name = format!("chart-values-{name}");
        let mut sources = vec![json!({"secret": {"name": secret_name, "items": items}})];
        let mut index = 1;
        for extra in spec["valuesSecrets"].as_array().into_iter().flatten() {
            let keys: Vec<&str> = extra["keys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if keys.is_empty() || extra["name"] == secret_name.as_str() {
                continue;
            }
            let items: Vec<Value> = keys
                .iter()
                .map(|k| {
                    index += 1;
                    json!({"key": k, "path": format!("values-0-{index:03}-HelmChart-ValuesSecret.yaml")})
                })
                .collect();
            sources.push(json!({"secret": {"name": extra["name"], "items": items, "optional": extra["ignoreUpdates"] == true}}));
        }
        volumes
            .push(json!({"name": "values", "projected": {"defaultMode": 420, "sources": sources}}));
        mounts.push(json!({"name": "values", "mountPath": "/config"}));
        values_secret = Some(
            json!({"apiVersion": "v1", "kind": "Secret", "type": "helmcharts.helm.cattle.io/values",
            "metadata": {"name": secret_name, "namespace": ns}, "data": data}),
        );
        let mut content_data = serde_json::Map::new();
        if let Some(c) = spec["chartContent"].as_str().filter(|c| !c.is_empty()) {
            content_data.insert(format!("{name}.tgz.base64"), json!(c));
        }
        let content_name = format!("chart-content-{name}");
        volumes.push(
            json!({"name": "content", "configMap": {"name": content_name, "defaultMode": 420}}),
        );
        mounts.push(json!({"name": "content", "mountPath": "/chart"}));
        content = Some(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": content_name, "namespace": ns}, "data": content_data}));
    }
    let failure_policy = chart_config
        .and_then(|c| {
            c["spec"]["failurePolicy"]
                .as_str()
                .filter(|p| !p.is_empty())
        })
        .or_else(|| spec["failurePolicy"].as_str().filter(|p| !p.is_empty()))
        .unwrap_or("reinstall");
    env.push(json!({"name": "FAILURE_POLICY", "value": failure_policy}));
    if config.version >= (0, 17, 7) {
        env.push(json!({"name": "SERVER_SIDE", "value": spec["serverSide"].as_str().filter(|s| !s.is_empty()).unwrap_or("auto")}));
    }
    if config.version >= (0, 17, 6) {
        env.push(json!({"name": "FORCE_CONFLICTS", "value": (spec["forceConflicts"] == true).to_string()}));
    }
    let backoff = spec["backOffLimit"].as_i64().unwrap_or(1000);
    let mut container = json!({"name": "helm", "image": image, "imagePullPolicy": "IfNotPresent",
        "args": args(chart, delete), "env": env,
        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": true},
        "resources": {"requests": {"cpu": "0.1", "memory": "10M"}, "limits": {"cpu": "32", "memory": "32G"}},
        "volumeMounts": mounts});
    if let Some(sc) = spec["securityContext"].as_object() {
        container["securityContext"] = Value::Object(sc.clone());
    }
    let mut pod_spec = json!({"restartPolicy": "OnFailure", "serviceAccountName": format!("helm-{name}"),
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "priorityClassName": "system-cluster-critical", "nodeSelector": node_selector,
        "containers": [container], "volumes": volumes});
    if let Some(psc) = spec["podSecurityContext"].as_object() {
        pod_spec["securityContext"] = Value::Object(psc.clone());
    }
    if bootstrap {
        pod_spec["hostNetwork"] = json!(true);
    }
    if !tolerations.is_empty() {
        pod_spec["tolerations"] = Value::Array(tolerations);
    }
    let label = json!({"helmcharts.helm.cattle.io/chart": name});
    let mut template = json!({"metadata": {"labels": label, "annotations": {}}, "spec": pod_spec});
    let mut hasher = Sha256::new();
    hasher.update(backoff.to_string());
    hasher.update(template.to_string());
    for object in [&values_secret, &content].into_iter().flatten() {
        for (k, v) in object["data"].as_object().into_iter().flatten() {
            hasher.update(k);
            hasher.update(v.as_str().unwrap_or_default());
        }
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    template["metadata"]["annotations"]["helmcharts.helm.cattle.io/configHash"] =
        json!(format!("SHA256={hex}"));
    if config.checks_release_hash()
        && let Some(env) = template["spec"]["containers"][0]["env"].as_array_mut()
    {
        env.push(json!({"name": "EXPECTED_RELEASE_REVISION", "value": revision.to_string()}));
        env.push(json!({"name": "CONFIG_HASH", "value": &hex[..hex.len().min(63)]}));
    }
    let owner = json!([{"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart", "name": name,
                        "uid": chart["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]);
    let job_name = format!("helm-{}-{name}", if delete { "delete" } else { "install" });
    let job = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": job_name, "namespace": ns, "labels": label, "ownerReferences": owner},
        "spec": {"backoffLimit": backoff, "completions": 1, "parallelism": 1, "suspend": false, "template": template}});
    let account = json!({"apiVersion": "v1", "kind": "ServiceAccount", "automountServiceAccountToken": true,
        "metadata": {"name": format!("helm-{name}"), "namespace": ns, "ownerReferences": owner}});
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": format!("helm-{ns}-{name}"), "ownerReferences": owner},
        "roleRef": {"kind": "ClusterRole", "apiGroup": "rbac.authorization.k8s.io", "name": config.job_cluster_role},
        "subjects": [{"name": format!("helm-{name}"), "kind": "ServiceAccount", "namespace": ns}]});
    let with_owner = |mut o: Value| {
        o["metadata"]["ownerReferences"] = owner.clone();
        o
    };
    Desired {
        job,
        values: values_secret.map(with_owner),
        content: content.map(with_owner),
        account,
        binding,
        hash: hex.chars().take(63).collect(),
    }
}

/// The pod template without the env vars that change with every release (chart.go
/// `templateChanged` ignores them), for deciding whether a Job must be replaced.
pub fn comparable_template(job: &Value) -> Value {
    let mut template = job["spec"]["template"].clone();
    if let Some(meta) = template["metadata"].as_object_mut() {
        meta.remove("labels");
    }
    for c in template["spec"]["containers"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let Some(env) = c["env"].as_array_mut() {
            env.retain(|e| e["name"] != "CONFIG_HASH" && e["name"] != "EXPECTED_RELEASE_REVISION");
        }
    }
    template
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            version: (0, 17, 7),
            default_job_image: "rancher/klipper-helm:v0.9.10-build20251111".into(),
            job_tolerations: vec![
                json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists"}),
            ],
            job_cluster_role: "cluster-admin".into(),
            namespace: None,
        }
    }

    #[test]
    fn jobs_carry_helm_controllers_environment_and_values() {
        let chart = json!({"metadata": {"name": "web", "namespace": "kube-system", "uid": "u"},
            "spec": {"chart": "hello", "repo": "http://127.0.0.1:1/charts", "version": "1.0.0", "targetNamespace": "apps",
                     "createNamespace": true, "valuesContent": "replicas: 2\n", "backOffLimit": 2, "timeout": "300s",
                     "set": {"a": "x,y", "b": 3, "c": "true"}}});
        let d = desired(&chart, None, &config(), false, 0);
        let spec = &d.job["spec"]["template"]["spec"];
        let env: std::collections::BTreeMap<String, String> = spec["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["value"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(env["CHART"], "web/hello");
        assert_eq!(env["TARGET_NAMESPACE"], "apps");
        assert_eq!(env["TIMEOUT"], "5m0s");
        assert_eq!(env["EXPECTED_RELEASE_REVISION"], "0");
        assert_eq!(env["CONFIG_HASH"].len(), 63);
        assert_eq!(
            spec["containers"][0]["args"],
            json!([
                "install",
                "--namespace",
                "apps",
                "--create-namespace",
                "--version",
                "1.0.0",
                "--set-string",
                "a=x\\,y",
                "--set",
                "b=3",
                "--set",
                "c=true"
            ])
        );
        assert_eq!(d.job["spec"]["backoffLimit"], 2);
        assert_eq!(spec["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
        assert!(spec["hostNetwork"].is_null());
        assert_eq!(
            spec["tolerations"][0]["key"],
            "node.kubernetes.io/not-ready"
        );
        let values = d.values.unwrap();
        assert_eq!(values["metadata"]["name"], "chart-values-web");
        assert_eq!(
            values["data"]["HelmChartValuesContent"],
            base64_of("replicas: 2\n")
        );
        let mut boot = chart.clone();
        boot["spec"]["bootstrap"] = json!(true);
        let b = desired(&boot, None, &config(), false, 0);
        let bspec = &b.job["spec"]["template"]["spec"];
        assert_eq!(bspec["hostNetwork"], true);
        assert_eq!(
            bspec["nodeSelector"]["node-role.kubernetes.io/control-plane"],
            "true"
        );
        assert_ne!(b.hash, d.hash);
        let del = desired(&chart, None, &config(), true, 1);
        assert_eq!(del.job["metadata"]["name"], "helm-delete-web");
        assert_eq!(
            del.job["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["delete"])
        );
        assert!(del.values.is_none());
        assert_eq!(go_duration("1h30m").as_deref(), Some("1h30m0s"));
    }
}
