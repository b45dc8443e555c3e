//! What the stand-ins of in-cluster components (the hcloud CCM, the hcloud CSI driver,
//! metrics-server and a kubelet serving-certificate approver) read from the cluster: whether
//! their chart's release runs, with which values, and the Secrets their pods take settings from.

use serde_json::Value;

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

/// The running release of the chart named `chart_name`, if any: a release of that chart is
/// `deployed` (or `uninstalling`, while its delete job still runs and the component's pods with
/// it) and one of the Deployments, DaemonSets or StatefulSets it made has a ready pod (a
/// component whose pods cannot schedule or start does nothing, as the real one would). Its
/// values are the chart's defaults with the user's values coalesced over them, as helm renders
/// them.
pub fn running(store: &Store, chart_name: &str) -> Option<ComponentView> {
    let release = store.releases.values().find(|r| {
        r.chart == chart_name && (r.status == "deployed" || r.status == "uninstalling")
    })?;
    let pods_ready = release.objects.iter().any(|(gv, resource, ns, name)| {
        let Some(object) = store.get(gv, resource, ns, name) else {
            return false;
        };
        let ready = match resource.as_str() {
            "deployments" | "statefulsets" => &object["status"]["readyReplicas"],
            "daemonsets" => &object["status"]["numberReady"],
            _ => return false,
        };
        ready.as_i64().unwrap_or(0) > 0
    });
    pods_ready.then(|| ComponentView {
        namespace: release.namespace.clone(),
        release: release.name.clone(),
        values: release.values.clone(),
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

/// For unit tests of the stand-ins: a deployed release of `chart` in kube-system with `values`
/// (YAML) and one Deployment with a ready pod, as if helm had installed it and its pod ran.
#[cfg(test)]
pub fn install_running(store: &mut Store, chart: &str, values: &str) {
    let values: Value = serde_saphyr::from_str(values).unwrap_or(Value::Null);
    let values = if values.is_object() {
        values
    } else {
        serde_json::json!({})
    };
    store.put(
        "apps/v1",
        "deployments",
        serde_json::json!({"metadata": {"name": chart, "namespace": "kube-system"},
                           "spec": {"replicas": 1}, "status": {"readyReplicas": 1}}),
        "t0",
    );
    store.releases.insert(
        ("kube-system".into(), chart.into()),
        super::helm::Release {
            name: chart.into(),
            namespace: "kube-system".into(),
            chart: chart.into(),
            version: "1.0.0".into(),
            app_version: "1.0.0".into(),
            status: "deployed".into(),
            revision: 1,
            defaults: serde_json::json!({}),
            values: values.clone(),
            config: values,
            objects: vec![(
                "apps/v1".into(),
                "deployments".into(),
                "kube-system".into(),
                chart.into(),
            )],
            labels: Vec::new(),
            first_deployed: "t0".into(),
            last_deployed: "t0".into(),
            description: "Install complete".into(),
            manifest: String::new(),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[test]
    fn env_values_come_from_literals_or_secret_keys() {
        let mut store = Store::default();
        store.ensure_defaults("t0", None);
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
