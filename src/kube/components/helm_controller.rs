//! helm-controller (k3s-io/helm-controller) in a Talos-ready form: host network (it must run
//! before any CNI), tolerations for a fresh node's taints, KubePrism as its API endpoint, pinned
//! images, and the same tolerations for the jobs it starts (`JOB_TOLERATIONS`). Applied with
//! server-side apply on every cluster apply, so a newer provider upgrades it in place. It
//! creates its CustomResourceDefinitions itself when it starts.

use serde_json::{Value, json};

use super::{NAMESPACE, bootstrap_tolerations, kubeprism_env, labels};

/// The controller's image.
pub const IMAGE: &str = "rancher/helm-controller:v0.17.7";
/// The image of the jobs that run helm. klipper-helm v0.13+ labels each release with the
/// controller's config hash; helm-controller v0.17.4+ runs a job again until its release carries
/// that label, so an older job image would reinstall for ever.
pub const JOB_IMAGE: &str = "rancher/klipper-helm:v0.13.3-build20260727";
/// Name of the Deployment and its ServiceAccount.
pub const NAME: &str = "helm-controller";

/// The objects, in apply order.
pub fn objects() -> Vec<Value> {
    let job_tolerations = bootstrap_tolerations().to_string();
    let mut env = kubeprism_env();
    if let Some(env) = env.as_array_mut() {
        env.extend([
            json!({"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}),
            json!({"name": "DEFAULT_JOB_IMAGE", "value": JOB_IMAGE}),
            json!({"name": "JOB_CLUSTER_ROLE", "value": "cluster-admin"}),
            json!({"name": "JOB_TOLERATIONS", "value": job_tolerations}),
        ]);
    }
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels(NAME)}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": NAME, "labels": labels(NAME)},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels(NAME)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "template": {
                "metadata": {"labels": labels(NAME)},
                "spec": {
                    "serviceAccountName": NAME,
                    "hostNetwork": true,
                    "priorityClassName": "system-cluster-critical",
                    "tolerations": bootstrap_tolerations(),
                    "containers": [{
                        "name": NAME,
                        "image": IMAGE,
                        "command": ["helm-controller"],
                        "env": env,
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                    }],
                },
            },
        }}),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn talos_ready() {
        let objects = objects();
        let deployment = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["hostNetwork"], true);
        let env = pod["containers"][0]["env"].as_array().unwrap();
        let value = |name: &str| {
            env.iter()
                .find(|e| e["name"] == name)
                .map(|e| e["value"].clone())
        };
        assert_eq!(value("KUBERNETES_SERVICE_PORT").unwrap(), "7445");
        let tolerations: Value =
            serde_json::from_str(value("JOB_TOLERATIONS").unwrap().as_str().unwrap()).unwrap();
        assert!(
            tolerations
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["key"] == "node.cloudprovider.kubernetes.io/uninitialized")
        );
    }
}
