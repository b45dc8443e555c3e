//! What the API server fills in and checks on every write before an object is stored: the
//! defaulting functions of the built-in kinds (`pkg/apis/*/v1/defaults.go`), the Service
//! registry's cluster IP and node port allocation, the namespace label and the strict typing of
//! the JSON decoder. Users' manifests and tools rely on these (`kubectl get svc` shows a
//! CLUSTER-IP, a Deployment without `strategy` rolls 25%/25%, a ConfigMap value that is a number
//! is refused), so every write goes through here: API requests, server-side apply, and the sim's
//! own controllers and Helm actions (in a real cluster those write through the API server too).
//!
//! Not modelled: the `DefaultTolerationSeconds` admission plugin (pods get no `not-ready` /
//! `unreachable` tolerations), IPv6 and dual-stack Services, `LimitRange` defaults.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::{Map, Value, json};

use super::store::Store;

/// The Service CIDR every cluster hk8s builds uses (Talos' default `serviceSubnets`).
const SERVICE_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 96, 0, 0), 12);
/// The first addresses are the API server's own Service (`.1`) and the cluster DNS (`.10`,
/// which Talos gives CoreDNS): dynamic allocation starts above them.
const FIRST_DYNAMIC_OFFSET: u32 = 11;
/// `--service-node-port-range`.
const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

/// Why the API server refuses to store `obj`, as the Status it answers (code, reason,
/// message), if it does. `previous` is the stored object an update replaces.
pub fn refusal(
    store: &Store,
    group_version: &str,
    resource: &str,
    obj: &Value,
    previous: Option<&Value>,
) -> Option<(u16, &'static str, String)> {
    if let Some(message) = decode_error(group_version, resource, obj) {
        return Some((400, "BadRequest", message));
    }
    if group_version == "v1" && resource == "services" {
        return service_refusal(store, obj, previous).map(|m| (422, "Invalid", m));
    }
    None
}

/// Fills what the API server defaults on `obj` before storing it.
pub fn fill(
    store: &Store,
    group_version: &str,
    resource: &str,
    obj: &mut Value,
    previous: Option<&Value>,
) {
    if !obj.is_object() {
        return;
    }
    let had_spec = obj.get("spec").is_some();
    fill_kind(store, group_version, resource, obj, previous);
    // Indexing a missing key mutably writes a `null` there; the API server's typed decoding
    // has no nulls in a spec (a null is the zero value, which is left out).
    if let Some(map) = obj.as_object_mut() {
        if !had_spec && map.get("spec").is_some_and(Value::is_null) {
            map.remove("spec");
        }
        if let Some(spec) = map.get_mut("spec") {
            prune_nulls(spec);
        }
    }
}

/// Removes the members whose value is `null` from every object in `value`.
fn prune_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(prune_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(prune_nulls),
        _ => {}
    }
}

fn fill_kind(
    store: &Store,
    group_version: &str,
    resource: &str,
    obj: &mut Value,
    previous: Option<&Value>,
) {
    match (group_version, resource) {
        ("v1", "namespaces") => namespace(obj),
        ("v1", "services") => service(store, obj, previous),
        ("v1", "secrets") => set_default(obj, "type", json!("Opaque")),
        ("v1", "pods") => {
            pod_spec(&mut obj["spec"]);
            let spec = &mut obj["spec"];
            // The ServiceAccount admission plugin names the account a pod runs as.
            set_default(spec, "serviceAccountName", json!("default"));
            let account = spec["serviceAccountName"].clone();
            set_default(spec, "serviceAccount", account);
            set_default(spec, "enableServiceLinks", json!(true));
            set_default(spec, "priority", json!(0));
        }
        ("v1", "persistentvolumeclaims") => {
            set_default(&mut obj["spec"], "volumeMode", json!("Filesystem"));
        }
        ("apps/v1", "deployments") => {
            let spec = &mut obj["spec"];
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(spec, "strategy", json!({}));
            set_default(&mut spec["strategy"], "type", json!("RollingUpdate"));
            if spec["strategy"]["type"] == "RollingUpdate" {
                let rolling = &mut spec["strategy"];
                set_default(rolling, "rollingUpdate", json!({}));
                set_default(
                    &mut rolling["rollingUpdate"],
                    "maxUnavailable",
                    json!("25%"),
                );
                set_default(&mut rolling["rollingUpdate"], "maxSurge", json!("25%"));
            }
            pod_spec(&mut spec["template"]["spec"]);
        }
        ("apps/v1", "statefulsets") => {
            let spec = &mut obj["spec"];
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            set_default(spec, "updateStrategy", json!({}));
            set_default(&mut spec["updateStrategy"], "type", json!("RollingUpdate"));
            if spec["updateStrategy"]["type"] == "RollingUpdate" {
                let strategy = &mut spec["updateStrategy"];
                set_default(strategy, "rollingUpdate", json!({}));
                set_default(&mut strategy["rollingUpdate"], "partition", json!(0));
            }
            set_default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            for claim in spec["volumeClaimTemplates"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                set_default(&mut claim["spec"], "volumeMode", json!("Filesystem"));
            }
            pod_spec(&mut spec["template"]["spec"]);
        }
        ("apps/v1", "daemonsets") => {
            let spec = &mut obj["spec"];
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "updateStrategy", json!({}));
            set_default(&mut spec["updateStrategy"], "type", json!("RollingUpdate"));
            if spec["updateStrategy"]["type"] == "RollingUpdate" {
                let strategy = &mut spec["updateStrategy"];
                set_default(strategy, "rollingUpdate", json!({}));
                set_default(&mut strategy["rollingUpdate"], "maxUnavailable", json!(1));
                set_default(&mut strategy["rollingUpdate"], "maxSurge", json!(0));
            }
            pod_spec(&mut spec["template"]["spec"]);
        }
        ("apps/v1", "replicasets") => {
            set_default(&mut obj["spec"], "replicas", json!(1));
            pod_spec(&mut obj["spec"]["template"]["spec"]);
        }
        ("batch/v1", "jobs") => job_spec(&mut obj["spec"]),
        ("batch/v1", "cronjobs") => {
            let spec = &mut obj["spec"];
            set_default(spec, "concurrencyPolicy", json!("Allow"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "successfulJobsHistoryLimit", json!(3));
            set_default(spec, "failedJobsHistoryLimit", json!(1));
            job_spec(&mut spec["jobTemplate"]["spec"]);
        }
        _ => {}
    }
}

/// The `kubernetes.io/metadata.name` label every namespace carries (set by the API server, and
/// put back if removed) and its `kubernetes` finalizer.
fn namespace(obj: &mut Value) {
    let name = obj["metadata"]["name"].clone();
    if !obj["metadata"]["labels"].is_object() {
        obj["metadata"]["labels"] = json!({});
    }
    obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    set_default(obj, "spec", json!({}));
    set_default(&mut obj["spec"], "finalizers", json!(["kubernetes"]));
    set_default(obj, "status", json!({}));
    set_default(&mut obj["status"], "phase", json!("Active"));
}

fn job_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    if spec["completions"].is_null() && spec["parallelism"].is_null() {
        spec["completions"] = json!(1);
    }
    set_default(spec, "parallelism", json!(1));
    if spec["backoffLimitPerIndex"].is_null() {
        set_default(spec, "backoffLimit", json!(6));
    }
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    if spec["podFailurePolicy"].is_null() {
        set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    }
    set_default(spec, "manualSelector", json!(false));
    // A Job's pods are not restarted in place unless the template says `OnFailure`; the API
    // server refuses `Always`, which the validation of a Job's template covers.
    pod_spec(&mut spec["template"]["spec"]);
}

/// The defaults of a PodSpec (`SetDefaults_PodSpec`, `SetDefaults_Container`, volumes).
fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    for key in ["initContainers", "containers"] {
        for container in spec[key].as_array_mut().into_iter().flatten() {
            container_defaults(container);
        }
    }
    for volume in spec["volumes"].as_array_mut().into_iter().flatten() {
        for source in ["secret", "configMap", "projected", "downwardAPI"] {
            if volume[source].is_object() {
                set_default(&mut volume[source], "defaultMode", json!(420));
            }
        }
        if volume["hostPath"].is_object() {
            set_default(&mut volume["hostPath"], "type", json!(""));
        }
    }
}

fn container_defaults(container: &mut Value) {
    if !container.is_object() {
        return;
    }
    let image = container["image"].as_str().unwrap_or_default();
    let policy = if pulls_always(image) {
        "Always"
    } else {
        "IfNotPresent"
    };
    set_default(container, "imagePullPolicy", json!(policy));
    set_default(
        container,
        "terminationMessagePath",
        json!("/dev/termination-log"),
    );
    set_default(container, "terminationMessagePolicy", json!("File"));
    set_default(container, "resources", json!({}));
    for port in container["ports"].as_array_mut().into_iter().flatten() {
        set_default(port, "protocol", json!("TCP"));
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let probe = &mut container[probe];
        if probe.is_object() {
            set_default(probe, "timeoutSeconds", json!(1));
            set_default(probe, "periodSeconds", json!(10));
            set_default(probe, "successThreshold", json!(1));
            set_default(probe, "failureThreshold", json!(3));
        }
    }
}

/// `Always` for an image without a tag or tagged `latest` (and no digest), as the API server
/// defaults `imagePullPolicy`.
fn pulls_always(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => true,
        Some((_, tag)) => tag == "latest",
    }
}

/// Type, IP families, session affinity, ports, the cluster IP (kept from the stored Service
/// when an update leaves it out, as the registry does) and node ports.
fn service(store: &Store, obj: &mut Value, previous: Option<&Value>) {
    let own = object_key(obj);
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let kind = spec["type"].as_str().unwrap_or_default().to_string();
    if kind == "ExternalName" {
        return;
    }
    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    for port in spec["ports"].as_array_mut().into_iter().flatten() {
        set_default(port, "protocol", json!("TCP"));
        let number = port["port"].clone();
        set_default(port, "targetPort", number);
    }
    if let Some(old) = previous.map(|p| &p["spec"]) {
        for key in ["clusterIP", "clusterIPs"] {
            if spec[key].is_null() || spec[key] == "" {
                spec[key] = old[key].clone();
            }
        }
    }
    let wanted = spec["clusterIP"].as_str().unwrap_or_default().to_string();
    if wanted.is_empty() {
        let used = used_cluster_ips(store, &own);
        if let Some(ip) = free_cluster_ip(&used) {
            spec["clusterIP"] = json!(ip.to_string());
        }
    }
    let ip = spec["clusterIP"].clone();
    if spec["clusterIPs"].as_array().is_none_or(Vec::is_empty) {
        spec["clusterIPs"] = json!([ip]);
    }
    set_default(spec, "ipFamilies", json!(["IPv4"]));
    set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
        if kind == "LoadBalancer" {
            set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
        }
        let allocate = kind == "NodePort" || spec["allocateLoadBalancerNodePorts"] != false;
        if allocate {
            assign_node_ports(store, &own, spec, previous.map(|p| &p["spec"]));
        }
    }
    if !obj["status"].is_object() {
        obj["status"] = json!({"loadBalancer": {}});
    }
}

/// Node ports for the ports that have none: the stored Service's for the same port, else the
/// lowest free one.
fn assign_node_ports(store: &Store, own: &(String, String), spec: &mut Value, old: Option<&Value>) {
    let mut used: BTreeSet<i64> = store
        .items("v1", "services")
        .iter()
        .filter(|s| object_key(s) != *own)
        .flat_map(|s| s["spec"]["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["nodePort"].as_i64())
        .collect();
    used.extend(
        spec["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["nodePort"].as_i64()),
    );
    for port in spec["ports"].as_array_mut().into_iter().flatten() {
        if !port.is_object() || !port["nodePort"].is_null() {
            continue;
        }
        let kept = old
            .and_then(|o| o["ports"].as_array())
            .into_iter()
            .flatten()
            .find(|p| p["port"] == port["port"] && p["protocol"] == port["protocol"])
            .and_then(|p| p["nodePort"].as_i64());
        let chosen = kept.or_else(|| NODE_PORTS.clone().find(|p| !used.contains(p)));
        if let Some(chosen) = chosen {
            used.insert(chosen);
            port["nodePort"] = json!(chosen);
        }
    }
}

fn service_refusal(store: &Store, obj: &Value, previous: Option<&Value>) -> Option<String> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let spec = &obj["spec"];
    let wanted = spec["clusterIP"].as_str().unwrap_or_default();
    if let Some(old) = previous.and_then(|p| p["spec"]["clusterIP"].as_str())
        && !wanted.is_empty()
        && wanted != old
    {
        return Some(format!(
            "Service {name:?} is invalid: spec.clusterIPs[0]: Invalid value: []string{{{wanted:?}}}: may not change once set"
        ));
    }
    if wanted.is_empty() || wanted == "None" || previous.is_some() {
        return None;
    }
    let Ok(ip) = wanted.parse::<Ipv4Addr>() else {
        return Some(format!(
            "Service {name:?} is invalid: spec.clusterIPs[0]: Invalid value: {wanted:?}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
        ));
    };
    if !in_service_cidr(ip) {
        let (base, bits) = SERVICE_CIDR;
        return Some(format!(
            "Service {name:?} is invalid: spec.clusterIPs: Invalid value: []string{{{wanted:?}}}: failed to allocate IP {wanted}: the provided IP ({wanted}) is not in the valid range. The range of valid IPs is {base}/{bits}"
        ));
    }
    if used_cluster_ips(store, &object_key(obj)).contains(&ip) {
        return Some(format!(
            "Service {name:?} is invalid: spec.clusterIPs: Invalid value: []string{{{wanted:?}}}: failed to allocate IP {wanted}: provided IP is already allocated"
        ));
    }
    None
}

fn object_key(obj: &Value) -> (String, String) {
    let meta = |k: &str| obj["metadata"][k].as_str().unwrap_or_default().to_string();
    (meta("namespace"), meta("name"))
}

fn used_cluster_ips(store: &Store, own: &(String, String)) -> BTreeSet<Ipv4Addr> {
    store
        .items("v1", "services")
        .iter()
        .filter(|s| object_key(s) != *own)
        .filter_map(|s| s["spec"]["clusterIP"].as_str()?.parse().ok())
        .collect()
}

fn in_service_cidr(ip: Ipv4Addr) -> bool {
    let (base, bits) = SERVICE_CIDR;
    let mask = u32::MAX << (32 - u32::from(bits));
    u32::from(ip) & mask == u32::from(base)
}

/// The lowest free address of the dynamic part of the Service CIDR (the real allocator picks
/// at random; the sim picks deterministically so runs are repeatable).
fn free_cluster_ip(used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let (base, bits) = SERVICE_CIDR;
    let size = 1u32 << (32 - u32::from(bits));
    (FIRST_DYNAMIC_OFFSET..size - 1)
        .map(|offset| Ipv4Addr::from(u32::from(base) + offset))
        .find(|ip| !used.contains(ip))
}

/// The API server's JSON decoder is typed: a map of strings that holds a number is refused
/// before anything else, with the decoder's words.
fn decode_error(group_version: &str, resource: &str, obj: &Value) -> Option<String> {
    let kind = obj["kind"].as_str().unwrap_or(resource);
    let refuse = |field: &str, value: &Value| {
        format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: json: cannot unmarshal {found} into Go struct field {field} of type string",
            version = group_version.rsplit('/').next().unwrap_or(group_version),
            found = json_type(value),
        )
    };
    for (key, field) in [
        ("labels", "ObjectMeta.metadata.labels"),
        ("annotations", "ObjectMeta.metadata.annotations"),
    ] {
        if let Some(bad) = first_non_string(&obj["metadata"][key]) {
            return Some(refuse(field, bad));
        }
    }
    if group_version == "v1" && matches!(resource, "configmaps" | "secrets") {
        let type_name = if resource == "configmaps" {
            "ConfigMap"
        } else {
            "Secret"
        };
        for key in ["data", "binaryData", "stringData"] {
            if let Some(bad) = first_non_string(&obj[key]) {
                return Some(refuse(&format!("{type_name}.{key}"), bad));
            }
        }
    }
    None
}

fn first_non_string(map: &Value) -> Option<&Value> {
    map.as_object()
        .and_then(|m: &Map<String, Value>| m.values().find(|v| !v.is_string() && !v.is_null()))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::String(_) => "string",
        Value::Null => "null",
    }
}

/// Sets `obj[key]` when it is absent or null.
fn set_default(obj: &mut Value, key: &str, value: Value) {
    if !obj.is_object() {
        return;
    }
    if obj[key].is_null() {
        obj[key] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(store: &Store, gv: &str, resource: &str, mut obj: Value) -> Value {
        fill(store, gv, resource, &mut obj, None);
        obj
    }

    #[test]
    fn a_deployment_gets_the_api_servers_defaults() {
        let store = Store::default();
        let d = filled(
            &store,
            "apps/v1",
            "deployments",
            json!({"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {
                "containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]},
                               {"name": "side", "image": "busybox:1.36"}],
                "volumes": [{"name": "c", "configMap": {"name": "x"}}]}}}}),
        );
        let spec = &d["spec"];
        assert_eq!(spec["replicas"], 1);
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(spec["progressDeadlineSeconds"], 600);
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["dnsPolicy"], "ClusterFirst");
        assert_eq!(pod["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(pod["containers"][1]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(pod["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(
            pod["containers"][0]["terminationMessagePath"],
            "/dev/termination-log"
        );
        assert_eq!(pod["volumes"][0]["configMap"]["defaultMode"], 420);
        // Nothing the manifest left out comes back as `null`.
        assert!(!d.to_string().contains("null"), "{d}");
        assert!(pod["containers"][1].get("ports").is_none());
    }

    #[test]
    fn recreate_deployments_get_no_rolling_parameters() {
        let d = filled(
            &Store::default(),
            "apps/v1",
            "deployments",
            json!({"metadata": {"name": "a"}, "spec": {"strategy": {"type": "Recreate"}}}),
        );
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        assert!(pulls_always("nginx"));
        assert!(pulls_always("nginx:latest"));
        assert!(pulls_always("registry.example:5000/team/app"));
        assert!(!pulls_always("registry.example:5000/team/app:1.2"));
        assert!(!pulls_always("nginx@sha256:abc"));
    }

    #[test]
    fn services_get_a_cluster_ip_and_node_ports() {
        let mut store = Store::default();
        let svc = |name: &str, extra: Value| {
            let mut s = json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"ports": [{"port": 80}]}});
            if let (Some(spec), Some(extra)) = (s["spec"].as_object_mut(), extra.as_object()) {
                spec.extend(extra.clone());
            }
            s
        };
        let first = store.put("v1", "services", svc("a", json!({})), "t");
        assert_eq!(first["spec"]["clusterIP"], "10.96.0.11");
        assert_eq!(first["spec"]["clusterIPs"], json!(["10.96.0.11"]));
        assert_eq!(first["spec"]["type"], "ClusterIP");
        assert_eq!(first["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(first["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(first["spec"]["ipFamilies"], json!(["IPv4"]));
        let lb = store.put(
            "v1",
            "services",
            svc("b", json!({"type": "LoadBalancer"})),
            "t",
        );
        assert_eq!(lb["spec"]["clusterIP"], "10.96.0.12");
        assert_eq!(lb["spec"]["ports"][0]["nodePort"], 30000);
        assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
        // An update that leaves the allocated values out keeps them.
        let again = store.put(
            "v1",
            "services",
            svc("b", json!({"type": "LoadBalancer"})),
            "t",
        );
        assert_eq!(again["spec"]["clusterIP"], "10.96.0.12");
        assert_eq!(again["spec"]["ports"][0]["nodePort"], 30000);
        // Headless Services keep `None`.
        let headless = store.put(
            "v1",
            "services",
            svc("c", json!({"clusterIP": "None"})),
            "t",
        );
        assert_eq!(headless["spec"]["clusterIP"], "None");
        // Taken, out of range, changed: refused as the registry refuses.
        let taken = svc("d", json!({"clusterIP": "10.96.0.11"}));
        let (code, _, message) = refusal(&store, "v1", "services", &taken, None).unwrap();
        assert_eq!(code, 422);
        assert!(
            message.contains("provided IP is already allocated"),
            "{message}"
        );
        let outside = svc("d", json!({"clusterIP": "192.168.0.1"}));
        let (_, _, message) = refusal(&store, "v1", "services", &outside, None).unwrap();
        assert!(
            message.contains("The range of valid IPs is 10.96.0.0/12"),
            "{message}"
        );
        let stored = store.get("v1", "services", "default", "a").cloned();
        let moved = svc("a", json!({"clusterIP": "10.96.0.99"}));
        let (_, _, message) = refusal(&store, "v1", "services", &moved, stored.as_ref()).unwrap();
        assert!(message.contains("may not change once set"), "{message}");
    }

    #[test]
    fn maps_of_strings_are_typed() {
        let store = Store::default();
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"port": 8080}});
        let (code, reason, message) = refusal(&store, "v1", "configmaps", &cm, None).unwrap();
        assert_eq!((code, reason), (400, "BadRequest"));
        assert_eq!(
            message,
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
        );
        let labelled =
            json!({"kind": "Deployment", "metadata": {"name": "d", "labels": {"on": true}}});
        let (_, _, message) = refusal(&store, "apps/v1", "deployments", &labelled, None).unwrap();
        assert!(
            message
                .contains("cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels"),
            "{message}"
        );
        let fine =
            json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"port": "8080"}});
        assert!(refusal(&store, "v1", "configmaps", &fine, None).is_none());
    }

    #[test]
    fn namespaces_carry_their_name_label() {
        let ns = filled(
            &Store::default(),
            "v1",
            "namespaces",
            json!({"metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "other"}}}),
        );
        assert_eq!(
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "team"
        );
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(ns["status"]["phase"], "Active");
    }
}
