//! The objects of one cluster's Kubernetes API: any group/version/resource, namespaced or not,
//! with uid, resourceVersion and creationTimestamp kept like the API server does, JSON merge
//! patches (used for merge patches, node patches and server-side apply) and the field managers
//! that applied them. Nodes are not stored here: they are derived from the Talos nodes, and only
//! the changes made through the API (cordon, labels) and deletions are kept.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::changes::{Change, EventType};
use super::helm::Release;

/// The ConfigMap kube-controller-manager publishes the cluster CA in, in every namespace.
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// Where an object lives: `(group/version, resource)`, e.g. `("v1", "secrets")`.
pub type ResourceKey = (String, String);

/// One cluster's objects.
#[derive(Debug, Default)]
pub struct Store {
    /// Objects by resource, then `(namespace, name)` (namespace empty for cluster-scoped).
    pub objects: BTreeMap<ResourceKey, BTreeMap<(String, String), Value>>,
    /// Changes made to Node objects through the API (merged over the derived node).
    pub node_patches: BTreeMap<String, Value>,
    /// The pod CIDR block of each Node (kube-controller-manager's node IPAM).
    pub pod_cidrs: super::podcidr::PodCidrs,
    /// When something the controllers wait for is due (sim clock), by a key naming it (e.g.
    /// `pod/default/web-0`, `helm-install/kube-system/cilium`).
    pub timers: BTreeMap<String, Duration>,
    /// The newest revision of every Helm release, by `(namespace, name)` (see
    /// [`super::helm::release`]).
    pub releases: BTreeMap<(String, String), Release>,
    /// What the hcloud CCM stand-in did in this cluster (nodes initialised, load balancers).
    pub ccm: super::ccm::CcmState,
    /// The cluster-autoscaler stand-in.
    pub autoscaler: super::autoscaler::AutoscalerState,
    /// What the hcloud CSI driver stand-in knows (nodes it registered on, failures).
    pub csi: super::csi::CsiState,
    /// The uid of the helm-controller pod that created its CRDs (a new pod creates them again).
    pub helm_controller_pod: Option<String>,
    /// Container logs of pods the helm job runner ran, by pod `(namespace, name)`.
    pub pod_logs: BTreeMap<(String, String), super::helm::PodLog>,
    /// Helm actions run by job pods (`install`, `upgrade`, `delete`) not yet counted in
    /// `/_sim/stats`.
    pub helm_jobs: BTreeMap<String, u64>,
    /// The history watches are served from.
    pub changes: super::changes::ChangeLog,
    /// What the kubelets last reported of their Nodes, and the Node objects as last served.
    pub node_tracker: super::heartbeat::NodeTracker,
    next_version: u64,
    next_suffix: u64,
}

impl Store {
    /// The latest resourceVersion handed out (for list replies).
    pub fn version(&self) -> String {
        self.next_version.to_string()
    }

    /// The next resourceVersion.
    pub fn bump(&mut self) -> String {
        self.next_version += 1;
        self.next_version.to_string()
    }

    /// A deterministic 5-character suffix for generated names (like the API server's
    /// `generateName`, but reproducible).
    pub fn suffix(&mut self, seed: &str) -> String {
        use sha2::{Digest, Sha256};
        self.next_suffix += 1;
        let digest = Sha256::digest(format!("{seed}/{}", self.next_suffix).as_bytes());
        // Kubernetes' generateName alphabet has no vowels (bcdfghjklmnpqrstvwxz2456789).
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        digest
            .iter()
            .take(5)
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect()
    }

    /// One object.
    pub fn get(&self, group_version: &str, resource: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(group_version.to_string(), resource.to_string()))
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
    }

    /// Every object of a resource (all namespaces), borrowed: for controllers that look at many
    /// objects and keep few (cloning them all on every pass made each pass cost milliseconds).
    pub fn iter(&self, group_version: &str, resource: &str) -> impl Iterator<Item = &Value> {
        self.objects
            .get(&(group_version.to_string(), resource.to_string()))
            .into_iter()
            .flat_map(|m| m.values())
    }

    /// Every object of a resource (all namespaces), cloned.
    pub fn items(&self, group_version: &str, resource: &str) -> Vec<Value> {
        self.objects
            .get(&(group_version.to_string(), resource.to_string()))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Stores an object as the API server would: name and namespace from its metadata, a new
    /// resourceVersion, uid and creationTimestamp kept from the previous version (or new), and
    /// `metadata.generation` bumped when `spec` changes. An object being deleted whose finalizers
    /// are all gone is removed instead (returned as it was last).
    pub fn put(
        &mut self,
        group_version: &str,
        resource: &str,
        obj: Value,
        timestamp: &str,
    ) -> Value {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut obj = obj;
        if group_version == "v1" && resource == "secrets" {
            fold_string_data(&mut obj);
        }
        let previous = self.get(group_version, resource, &ns, &name).cloned();
        super::defaults::fill(self, group_version, resource, &mut obj, previous.as_ref());
        // An update that changes nothing is not written, as the API server skips it: no new
        // resourceVersion, no watch event (controllers rewrite unchanged objects every pass).
        if let Some(previous) = &previous {
            let rv = previous["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default();
            if with_server_metadata(obj.clone(), &ns, &name, timestamp, Some(previous), rv)
                == *previous
            {
                return previous.clone();
            }
        }
        let stored = self.finish(obj, &ns, &name, timestamp, previous.as_ref());
        let key = (group_version.to_string(), resource.to_string());
        let released = stored["metadata"]["deletionTimestamp"].is_string()
            && stored["metadata"]["finalizers"]
                .as_array()
                .is_none_or(Vec::is_empty);
        let event = if released {
            if let Some(m) = self.objects.get_mut(&key) {
                m.remove(&(ns, name));
            }
            EventType::Deleted
        } else {
            self.objects
                .entry(key.clone())
                .or_default()
                .insert((ns, name), stored.clone());
            if previous.is_some() {
                EventType::Modified
            } else {
                EventType::Added
            }
        };
        self.changes.record(Change {
            rv: self.next_version,
            event,
            resource: key,
            object: stored.clone(),
            previous,
        });
        stored
    }

    /// Records the removal of an object at a new resourceVersion (the version its DELETED
    /// event carries).
    fn record_removal(&mut self, key: ResourceKey, mut obj: Value) -> Value {
        let rv = self.bump();
        if obj["metadata"].is_object() {
            obj["metadata"]["resourceVersion"] = json!(rv);
        }
        self.changes.record(Change {
            rv: self.next_version,
            event: EventType::Deleted,
            resource: key,
            object: obj.clone(),
            previous: None,
        });
        obj
    }

    /// What `put` would store, without storing it (server-side dry run: `dryRun=All`). The
    /// resource version counter is not advanced, as a dry run persists nothing.
    pub fn preview(
        &self,
        group_version: &str,
        resource: &str,
        obj: Value,
        timestamp: &str,
    ) -> Value {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut obj = obj;
        if group_version == "v1" && resource == "secrets" {
            fold_string_data(&mut obj);
        }
        let previous = self.get(group_version, resource, &ns, &name);
        super::defaults::fill(self, group_version, resource, &mut obj, previous);
        // The version a dry run answers is the stored one (nothing was written).
        let rv = previous
            .and_then(|p| p["metadata"]["resourceVersion"].as_str())
            .unwrap_or_default()
            .to_string();
        with_server_metadata(obj, &ns, &name, timestamp, previous, &rv)
    }

    /// Removes every namespaced object of `ns` (a namespace's deletion removes its contents).
    pub fn remove_namespace_contents(&mut self, ns: &str) -> usize {
        let mut removed = Vec::new();
        for (key, objects) in &mut self.objects {
            let names: Vec<(String, String)> = objects
                .keys()
                .filter(|(object_ns, _)| object_ns == ns)
                .cloned()
                .collect();
            for name in names {
                if let Some(obj) = objects.remove(&name) {
                    removed.push((key.clone(), obj));
                }
            }
        }
        let count = removed.len();
        for (key, obj) in removed {
            self.record_removal(key, obj);
        }
        count
    }

    /// Removes an object at once (no finalizers considered).
    pub fn remove(
        &mut self,
        group_version: &str,
        resource: &str,
        ns: &str,
        name: &str,
    ) -> Option<Value> {
        let key = (group_version.to_string(), resource.to_string());
        let removed = self
            .objects
            .get_mut(&key)
            .and_then(|m| m.remove(&(ns.to_string(), name.to_string())))?;
        Some(self.record_removal(key, removed))
    }

    /// Fills the server-managed metadata of an object being stored.
    pub fn finish(
        &mut self,
        obj: Value,
        ns: &str,
        name: &str,
        timestamp: &str,
        previous: Option<&Value>,
    ) -> Value {
        let rv = self.bump();
        with_server_metadata(obj, ns, name, timestamp, previous, &rv)
    }

    /// Forgets a Node (after a reset).
    pub fn remove_node(&mut self, name: &str) {
        self.node_patches.remove(name);
        self.ccm.nodes.remove(name);
        self.pod_cidrs.release(name);
    }

    /// What the control plane keeps in place: the namespaces every cluster starts with, the
    /// API server's own Service `default/kubernetes`, and in every namespace the `default`
    /// ServiceAccount (serviceaccounts controller) and the `kube-root-ca.crt` ConfigMap with the
    /// cluster's CA (root-ca-cert-publisher), put back when deleted as their controllers do.
    pub fn ensure_defaults(&mut self, timestamp: &str, root_ca: Option<&str>) {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            if !self.has_namespace(ns) {
                let namespace =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                self.put("v1", "namespaces", namespace, timestamp);
            }
        }
        if self
            .get("v1", "services", "default", "kubernetes")
            .is_none()
        {
            let service = json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": "10.96.0.1", "ports": [
                    {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}});
            self.put("v1", "services", service, timestamp);
        }
        let namespaces: Vec<String> = self
            .items("v1", "namespaces")
            .iter()
            .filter(|n| n["metadata"]["deletionTimestamp"].is_null())
            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        for ns in namespaces {
            if self.get("v1", "serviceaccounts", &ns, "default").is_none() {
                let account = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "default", "namespace": ns}});
                self.put("v1", "serviceaccounts", account, timestamp);
            }
            let Some(ca) = root_ca else { continue };
            let published = self
                .get("v1", "configmaps", &ns, ROOT_CA_CONFIG_MAP)
                .is_some_and(|cm| cm["data"]["ca.crt"] == ca);
            if !published {
                let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": ROOT_CA_CONFIG_MAP, "namespace": ns,
                        "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION}},
                    "data": {"ca.crt": ca}});
                self.put("v1", "configmaps", config_map, timestamp);
            }
        }
    }

    /// Whether a namespace exists.
    pub fn has_namespace(&self, ns: &str) -> bool {
        self.objects
            .get(&("v1".to_string(), "namespaces".to_string()))
            .is_some_and(|m| m.contains_key(&(String::new(), ns.to_string())))
    }

    /// Whether any object of a resource with this name exists (any namespace).
    pub fn has_named(&self, group_version: &str, resource: &str, name: &str) -> bool {
        self.objects
            .get(&(group_version.to_string(), resource.to_string()))
            .is_some_and(|m| m.keys().any(|(_, n)| n == name))
    }

    /// Counts objects by kind, for `/_sim/state`.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for objects in self.objects.values() {
            for obj in objects.values() {
                let kind = obj
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("Unknown")
                    .to_string();
                *out.entry(kind).or_default() += 1;
            }
        }
        out
    }
}

/// A stable-looking uid.
pub fn uid(name: &str, rv: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes().chain(rv.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 20) & 0xfff,
        h & 0xffff_ffff_ffff
    )
}

/// Sets the value at a path, turning whatever is in the way (null, or a wrongly typed field of a
/// user's object) into objects, so that controllers never panic on malformed input.
pub fn set_path(target: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *target = value;
        return;
    };
    let mut cur = target;
    for key in parents {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Value::Object(map) = cur else { return };
        cur = map.entry(key.to_string()).or_insert(Value::Null);
    }
    if !cur.is_object() {
        *cur = Value::Object(Default::default());
    }
    if let Value::Object(map) = cur {
        map.insert(last.to_string(), value);
    }
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Whether the API server keeps `metadata.generation` for a kind: workloads, policies, custom
/// resources and Pods do; the other core kinds (ConfigMap, Secret, Namespace, Service, …), RBAC,
/// storage and coordination objects have none.
fn tracks_generation(api_version: &str, kind: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    match group {
        "" => kind == "Pod",
        "rbac.authorization.k8s.io"
        | "storage.k8s.io"
        | "coordination.k8s.io"
        | "events.k8s.io"
        | "discovery.k8s.io"
        | "scheduling.k8s.io"
        | "apiregistration.k8s.io" => false,
        _ => true,
    }
}

/// The server-managed metadata of an object stored at resource version `rv`: name, namespace,
/// version, generation (bumped when `spec` changes), uid and creation time kept from
/// `previous`, a deletion in progress kept.
fn with_server_metadata(
    mut obj: Value,
    ns: &str,
    name: &str,
    timestamp: &str,
    previous: Option<&Value>,
    rv: &str,
) -> Value {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let generation = match previous {
        None => 1,
        Some(p) => {
            let old = p["metadata"]["generation"].as_i64().unwrap_or(1);
            if p.get("spec") != obj.get("spec") {
                old + 1
            } else {
                old
            }
        }
    };
    let meta = &mut obj["metadata"];
    meta["name"] = json!(name);
    if !ns.is_empty() {
        meta["namespace"] = json!(ns);
    }
    meta["resourceVersion"] = json!(rv);
    if tracks_generation(&api_version, &kind) {
        meta["generation"] = json!(generation);
    }
    meta["uid"] = previous
        .map(|p| p["metadata"]["uid"].clone())
        .unwrap_or_else(|| json!(uid(name, rv)));
    meta["creationTimestamp"] = previous
        .map(|p| p["metadata"]["creationTimestamp"].clone())
        .unwrap_or_else(|| json!(timestamp));
    if let Some(deleting) = previous.map(|p| &p["metadata"]["deletionTimestamp"])
        && deleting.is_string()
    {
        meta["deletionTimestamp"] = deleting.clone();
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_path_replaces_what_is_in_the_way() {
        let mut doc = json!({"spec": "not an object"});
        set_path(&mut doc, &["spec", "template", "labels"], json!({"a": "b"}));
        assert_eq!(doc, json!({"spec": {"template": {"labels": {"a": "b"}}}}));
    }

    #[test]
    fn merge_patch_follows_rfc7386() {
        let mut doc = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut doc, &json!({"a": null, "b": {"c": 5}, "e": [1]}));
        assert_eq!(doc, json!({"b": {"c": 5, "d": 3}, "e": [1]}));
    }
}

/// A Secret's `stringData` is write-only, as the API server has it: each key is written into
/// `data` (base64), over what `data` held, and `stringData` itself is never stored or served.
pub fn fold_string_data(secret: &mut Value) {
    use base64::Engine;
    let Some(Value::Object(strings)) = secret.as_object_mut().and_then(|o| o.remove("stringData"))
    else {
        return;
    };
    if !secret["data"].is_object() {
        secret["data"] = Value::Object(serde_json::Map::new());
    }
    for (key, value) in strings {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        secret["data"][key] = Value::String(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

#[cfg(test)]
mod string_data_tests {
    use super::*;

    #[test]
    fn string_data_is_written_into_data() {
        let mut store = Store::default();
        let stored = store.put(
            "v1",
            "secrets",
            serde_json::json!({"metadata": {"name": "hcloud", "namespace": "kube-system"},
                               "data": {"a": "eA=="}, "stringData": {"token": "secret"}}),
            "t0",
        );
        assert!(stored.get("stringData").is_none());
        assert_eq!(stored["data"]["token"], "c2VjcmV0");
        assert_eq!(stored["data"]["a"], "eA==");
    }
}
