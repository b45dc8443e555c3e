//! What the stand-ins of in-cluster components (the hcloud CCM, the hcloud CSI driver,
//! metrics-server and a kubelet serving-certificate approver) read from the cluster: whether
//! their chart's release runs, with which values, and the Secrets their pods take settings from.

use serde_json::{Value, json};

use super::store::Store;

/// A release of a component's chart that counts as running.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentView {
    /// The namespace the release is installed in (its pods and Secrets live there).
    pub namespace: String,
    /// The release name.
    pub release: String,
    /// The values given to the chart (`valuesContent`, then `set` over it). Chart defaults are
    /// not included: stand-ins apply the chart's own defaults for keys that are absent.
    pub values: Value,
}

/// The running release of the chart named `chart_name` (without repository prefix), if any.
///
/// Checks that a Helm release of that chart is `deployed` (or `uninstalling`, while its delete
/// job still runs and the component's pods with it). Its values are the HelmChart's
/// `spec.valuesContent` (YAML) with each `spec.set` entry (`a.b.c: value`) written over it.
pub fn running(store: &Store, chart_name: &str) -> Option<ComponentView> {
    let ((chart_ns, chart_name_key), release) = store.releases.iter().find(|(_, r)| {
        r.chart_name() == chart_name && (r.status == "deployed" || r.status == "uninstalling")
    })?;
    let chart = store.get("helm.cattle.io/v1", "helmcharts", chart_ns, chart_name_key);
    let mut values: Value = chart
        .and_then(|c| c["spec"]["valuesContent"].as_str())
        .and_then(|v| serde_saphyr::from_str(v).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    for (path, value) in chart
        .and_then(|c| c["spec"]["set"].as_object())
        .into_iter()
        .flatten()
    {
        let keys: Vec<&str> = path.split('.').collect();
        super::store::set_path(&mut values, &keys, value.clone());
    }
    Some(ComponentView {
        namespace: release.target_namespace.clone(),
        release: release.name.clone(),
        values,
    })
}

/// A key of a Secret, decoded (`data` is base64 as the API server stores it; `stringData` is
/// read too, since the sim keeps what clients wrote).
pub fn secret_value(store: &Store, ns: &str, name: &str, key: &str) -> Result<String, String> {
    let secret = store
        .get("v1", "secrets", ns, name)
        .ok_or_else(|| format!("secret \"{name}\" not found"))?;
    if let Some(text) = secret["stringData"][key].as_str() {
        return Ok(text.to_string());
    }
    let encoded = secret["data"][key]
        .as_str()
        .ok_or_else(|| format!("couldn't find key {key} in Secret {ns}/{name}"))?;
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| format!("key {key} of Secret {ns}/{name} is not base64 text"))
}

/// The value of a container environment variable given as a chart writes it (`{value: …}` or
/// `{valueFrom: {secretKeyRef: {name, key, optional}}}`), read in namespace `ns`. `Ok(None)` for
/// an unset variable (or an optional reference that is missing); `Err` with the kubelet's
/// `CreateContainerConfigError` message when the pod cannot start for it.
pub fn env_value(store: &Store, ns: &str, spec: &Value) -> Result<Option<String>, String> {
    if let Some(value) = spec.get("value") {
        return Ok(value
            .as_str()
            .map(str::to_string)
            .or_else(|| (!value.is_null()).then(|| value.to_string())));
    }
    let reference = &spec["valueFrom"]["secretKeyRef"];
    let (Some(name), Some(key)) = (reference["name"].as_str(), reference["key"].as_str()) else {
        return Ok(None);
    };
    match secret_value(store, ns, name, key) {
        Ok(v) => Ok(Some(v)),
        Err(_) if reference["optional"] == true => Ok(None),
        Err(why) => Err(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::helm::Release;

    fn store_with(chart: Value) -> Store {
        let mut store = Store::default();
        store.ensure_defaults("t0");
        store.put("helm.cattle.io/v1", "helmcharts", chart, "t0");
        store
    }

    fn release(status: &str) -> Release {
        Release {
            name: "ccm".into(),
            target_namespace: "kube-system".into(),
            chart: "hcloud-cloud-controller-manager".into(),
            version: "1.35.0".into(),
            status: status.into(),
            revision: 1,
            config_hash: String::new(),
        }
    }

    #[test]
    fn running_needs_a_deployed_release_and_reads_values_and_set() {
        let chart = json!({"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
            "metadata": {"name": "ccm", "namespace": "kube-system"},
            "spec": {"chart": "hcloud-cloud-controller-manager",
                     "valuesContent": "networking:\n  enabled: true\n  clusterCIDR: 10.244.0.0/16\n",
                     "set": {"networking.enabled": "false", "env.A.value": "b"}}});
        let mut store = store_with(chart);
        store.releases.insert(
            ("kube-system".into(), "ccm".into()),
            release("pending-install"),
        );
        assert!(running(&store, "hcloud-cloud-controller-manager").is_none());
        store
            .releases
            .insert(("kube-system".into(), "ccm".into()), release("deployed"));
        let view = running(&store, "hcloud-cloud-controller-manager").unwrap();
        assert_eq!(view.namespace, "kube-system");
        assert_eq!(view.values["networking"]["enabled"], "false");
        assert_eq!(view.values["networking"]["clusterCIDR"], "10.244.0.0/16");
        assert_eq!(view.values["env"]["A"]["value"], "b");
        assert!(running(&store, "hcloud-csi").is_none());
    }

    #[test]
    fn env_values_come_from_literals_or_secret_keys() {
        let mut store = Store::default();
        store.ensure_defaults("t0");
        store.put(
            "v1",
            "secrets",
            json!({"metadata": {"name": "hcloud", "namespace": "kube-system"}, "data": {"token": "c2VjcmV0"}}),
            "t0",
        );
        let from = |name: &str, key: &str, optional: bool| json!({"valueFrom": {"secretKeyRef": {"name": name, "key": key, "optional": optional}}});
        assert_eq!(
            env_value(&store, "kube-system", &from("hcloud", "token", false)),
            Ok(Some("secret".into()))
        );
        assert_eq!(
            env_value(&store, "kube-system", &from("hcloud", "network", false)),
            Err("couldn't find key network in Secret kube-system/hcloud".into())
        );
        assert_eq!(
            env_value(&store, "kube-system", &from("hcloud", "network", true)),
            Ok(None)
        );
        assert_eq!(
            env_value(&store, "default", &from("hcloud", "token", false)),
            Err("secret \"hcloud\" not found".into())
        );
        assert_eq!(
            env_value(&store, "kube-system", &json!({"value": "fsn1"})),
            Ok(Some("fsn1".into()))
        );
    }
}
