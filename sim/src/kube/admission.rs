//! Pod admission: the ServiceAccount plugin (a pod's service account must exist) and Pod
//! Security admission as Talos configures it for every cluster (`cluster.apiServer.
//! admissionControl`: enforce `baseline`, `kube-system` exempt), with a namespace's
//! `pod-security.kubernetes.io/enforce` label overriding the level. The sim checks the
//! `baseline` controls that matter for the workloads it runs (host namespaces, privileged
//! containers, added capabilities, hostPath volumes, host ports) and refuses a pod with the API
//! server's message, e.g. `pods "x" is forbidden: violates PodSecurity "baseline:latest":
//! privileged (container "manager" must not set securityContext.privileged=true)`. `restricted`
//! namespaces are checked at the baseline level only (the sim does not model the stricter
//! controls).

use serde_json::Value;

use super::store::Store;

/// Namespaces Talos exempts from Pod Security admission.
const EXEMPT_NAMESPACES: &[&str] = &["kube-system"];

/// Capabilities `baseline` allows in `securityContext.capabilities.add`.
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The enforced level of a namespace (`privileged`, `baseline` or `restricted`).
fn level(store: &Store, namespace: &str) -> String {
    if EXEMPT_NAMESPACES.contains(&namespace) {
        return "privileged".into();
    }
    store
        .get("v1", "namespaces", "", namespace)
        .and_then(|ns| ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].as_str())
        .unwrap_or("baseline")
        .to_string()
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why the API server refuses to create pod `name` with `spec` in `namespace`, if it does: the
/// ServiceAccount admission plugin (the pod's `serviceAccountName` must exist; `default` always
/// does, its controller makes it in every namespace), then Pod Security.
pub fn refusal(store: &Store, namespace: &str, name: &str, spec: &Value) -> Option<String> {
    if let Some(account) = spec["serviceAccountName"]
        .as_str()
        .filter(|a| !a.is_empty() && *a != "default")
        && store
            .get("v1", "serviceaccounts", namespace, account)
            .is_none()
    {
        return Some(format!(
            "pods {name:?} is forbidden: error looking up service account {namespace}/{account}: serviceaccount {account:?} not found"
        ));
    }
    let level = level(store, namespace);
    if level == "privileged" {
        return None;
    }
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().into_iter().flatten())
        .collect();
    let container_name = |c: &Value| c["name"].as_str().unwrap_or_default().to_string();
    let mut violations = Vec::new();
    let host: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .filter(|k| spec[**k] == true)
        .map(|k| format!("{k}=true"))
        .collect();
    if !host.is_empty() {
        violations.push(format!("host namespaces ({})", host.join(", ")));
    }
    let privileged: Vec<String> = containers
        .iter()
        .filter(|c| c["securityContext"]["privileged"] == true)
        .map(|c| container_name(c))
        .collect();
    if !privileged.is_empty() {
        let noun = if privileged.len() == 1 {
            "container"
        } else {
            "containers"
        };
        violations.push(format!(
            "privileged ({noun} {} must not set securityContext.privileged=true)",
            quoted(&privileged)
        ));
    }
    for c in &containers {
        let added: Vec<String> = c["securityContext"]["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|cap| !BASELINE_CAPABILITIES.contains(cap))
            .map(str::to_string)
            .collect();
        if !added.is_empty() {
            violations.push(format!(
                "non-default capabilities (container {:?} must not include {} in securityContext.capabilities.add)",
                container_name(c),
                quoted(&added)
            ));
        }
    }
    let host_paths: Vec<String> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["hostPath"].is_object())
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    if !host_paths.is_empty() {
        let noun = if host_paths.len() == 1 {
            "volume"
        } else {
            "volumes"
        };
        violations.push(format!("hostPath volumes ({noun} {})", quoted(&host_paths)));
    }
    let host_ports: Vec<String> = containers
        .iter()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .filter_map(|p| p["hostPort"].as_i64().filter(|p| *p != 0))
        .map(|p| p.to_string())
        .collect();
    if !host_ports.is_empty() {
        violations.push(format!("hostPort (hostPorts {})", host_ports.join(", ")));
    }
    (!violations.is_empty()).then(|| {
        format!(
            "pods {name:?} is forbidden: violates PodSecurity \"baseline:latest\": {}",
            violations.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn baseline_refuses_privileged_pods_outside_exempt_or_privileged_namespaces() {
        let mut store = Store::default();
        store.ensure_defaults("t", None);
        let spec = json!({"hostNetwork": true, "containers": [{"name": "manager", "securityContext": {"privileged": true}}],
                          "volumes": [{"name": "dev", "hostPath": {"path": "/dev"}}]});
        assert!(refusal(&store, "kube-system", "p", &spec).is_none());
        let refused = refusal(&store, "default", "p", &spec).unwrap();
        assert_eq!(
            refused,
            "pods \"p\" is forbidden: violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true), privileged (container \"manager\" must not set securityContext.privileged=true), hostPath volumes (volume \"dev\")"
        );
        store.put("v1", "namespaces", json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "longhorn-system", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}), "t");
        assert!(refusal(&store, "longhorn-system", "p", &spec).is_none());
        assert!(
            refusal(
                &store,
                "default",
                "p",
                &json!({"containers": [{"name": "web"}]})
            )
            .is_none()
        );
    }
}
