//! Cilium as the cluster's CNI, with the values Talos needs (no kube-proxy, KubePrism, cgroups
//! mounted by Talos, the capability lists Talos allows).
//!
//! Installing it is a chicken-and-egg problem: helm-controller's jobs get a pod network, which
//! Cilium is about to provide, and its `bootstrap: true` jobs (host network) select
//! `node-role.kubernetes.io/control-plane: "true"`, which never matches on Talos (the label's
//! value is ""). So the first install runs in a one-shot Job of our own with the same job image
//! and environment contract helm-controller gives its jobs, on the host network of a control
//! plane. Once Cilium runs, the `cilium` HelmChart with the same values takes the release over
//! (its first job is an upgrade) and owns it from then on.

use serde_json::{Value, json};

use super::{NAMESPACE, bootstrap_tolerations, helm_controller, kubeprism_env, labels};

/// Release (and HelmChart) name.
pub const RELEASE: &str = "cilium";
/// Chart repository.
pub const REPOSITORY: &str = "https://helm.cilium.io/";
/// Chart name.
pub const CHART: &str = "cilium";
/// The chart as klipper-helm's entry script wants it without helm-controller: it adds `REPO`
/// under the release's name, so the chart is `<release>/<chart>`.
const REPO_CHART: &str = "cilium/cilium";
/// Pinned chart version.
pub const DEFAULT_VERSION: &str = "1.18.4";
/// The bootstrap job.
pub const BOOTSTRAP_JOB: &str = "hk8s-bootstrap-cilium";
/// The Secret holding the bootstrap job's values.
pub const BOOTSTRAP_VALUES: &str = "hk8s-bootstrap-cilium-values";

/// The values Talos needs, for a control plane of `control_planes` nodes.
pub fn default_values(control_planes: u32) -> Value {
    json!({
        "ipam": {"mode": "kubernetes"},
        "kubeProxyReplacement": true,
        "k8sServiceHost": super::KUBEPRISM_HOST,
        "k8sServicePort": super::KUBEPRISM_PORT,
        "cgroup": {"autoMount": {"enabled": false}, "hostRoot": "/sys/fs/cgroup"},
        "securityContext": {"capabilities": {
            "ciliumAgent": ["CHOWN", "KILL", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "SYS_ADMIN",
                            "SYS_RESOURCE", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"],
            "cleanCiliumState": ["NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"],
        }},
        // Two operators spread over nodes; a single control plane has room for one.
        "operator": {"replicas": control_planes.clamp(1, 2)},
    })
}

/// The bootstrap objects: the values Secret and the one-shot install Job (see the module
/// documentation). `values` is the YAML the HelmChart will carry too.
pub fn bootstrap_objects(version: &str, values: &str) -> Vec<Value> {
    let mut env = kubeprism_env();
    if let Some(env) = env.as_array_mut() {
        for (name, value) in [
            ("NAME", RELEASE),
            ("VERSION", version),
            ("REPO", REPOSITORY),
            ("CHART", REPO_CHART),
            ("HELM_DRIVER", "secret"),
            ("CHART_NAMESPACE", NAMESPACE),
            ("TARGET_NAMESPACE", NAMESPACE),
            ("FAILURE_POLICY", "reinstall"),
        ] {
            env.push(json!({"name": name, "value": value}));
        }
    }
    vec![
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": BOOTSTRAP_VALUES, "namespace": NAMESPACE, "labels": labels(RELEASE)},
               "stringData": {"values-01_HelmChart.yaml": values}}),
        json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": BOOTSTRAP_JOB, "namespace": NAMESPACE, "labels": labels(RELEASE)},
        "spec": {
            "backoffLimit": 3,
            "template": {
                "metadata": {"labels": labels(RELEASE)},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "serviceAccountName": helm_controller::NAME,
                    "hostNetwork": true,
                    "tolerations": bootstrap_tolerations(),
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [
                            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]}]}}},
                    "containers": [{
                        "name": "helm",
                        "image": helm_controller::JOB_IMAGE,
                        "args": ["install"],
                        "env": env,
                        "volumeMounts": [{"name": "values", "mountPath": "/config"}],
                    }],
                    "volumes": [{"name": "values", "secret": {"secretName": BOOTSTRAP_VALUES}}],
                },
            },
        }}),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_job_runs_on_a_control_planes_host_network() {
        let objects = bootstrap_objects(DEFAULT_VERSION, "ipam:\n  mode: kubernetes\n");
        let job = &objects[1];
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["hostNetwork"], true);
        assert_eq!(pod["containers"][0]["image"], helm_controller::JOB_IMAGE);
        let env = pod["containers"][0]["env"].as_array().unwrap();
        assert!(
            env.iter()
                .any(|e| e["name"] == "VERSION" && e["value"] == DEFAULT_VERSION)
        );
        assert_eq!(
            objects[0]["stringData"]["values-01_HelmChart.yaml"],
            "ipam:\n  mode: kubernetes\n"
        );
        assert_eq!(default_values(1)["operator"]["replicas"], 1);
        assert_eq!(default_values(5)["operator"]["replicas"], 2);
    }
}
