//! The objects of one cluster's Kubernetes API: any group/version/resource, namespaced or not,
//! with uid, resourceVersion and creationTimestamp kept like the API server does, JSON merge
//! patches (used for merge, strategic-merge and server-side apply bodies) and the field managers
//! that applied them. Nodes are not stored here: they are derived from the Talos nodes, and only
//! the changes made through the API (cordon, labels) and deletions are kept.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

/// Where an object lives: `(group/version, resource)`, e.g. `("v1", "secrets")`.
pub type ResourceKey = (String, String);

/// One cluster's objects.
#[derive(Debug, Default)]
pub struct Store {
    /// Objects by resource, then `(namespace, name)` (namespace empty for cluster-scoped).
    pub objects: BTreeMap<ResourceKey, BTreeMap<(String, String), Value>>,
    /// Changes made to Node objects through the API (merged over the derived node).
    pub node_patches: BTreeMap<String, Value>,
    /// Nodes deleted through the API (until their kubelet registers again).
    pub deleted_nodes: BTreeSet<String>,
    next_version: u64,
}

impl Store {
    /// The next resourceVersion.
    pub fn bump(&mut self) -> String {
        self.next_version += 1;
        self.next_version.to_string()
    }

    /// Forgets a Node (after a reset).
    pub fn remove_node(&mut self, name: &str) {
        self.node_patches.remove(name);
    }

    /// The namespaces every cluster starts with.
    pub fn ensure_defaults(&mut self, timestamp: &str) {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let key = ("v1".to_string(), "namespaces".to_string());
            if self
                .objects
                .get(&key)
                .is_some_and(|m| m.contains_key(&(String::new(), ns.to_string())))
            {
                continue;
            }
            let rv = self.bump();
            let obj = json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "uid": uid(ns, &rv), "resourceVersion": rv, "creationTimestamp": timestamp},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
            });
            self.objects
                .entry(key)
                .or_default()
                .insert((String::new(), ns.to_string()), obj);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc7386() {
        let mut doc = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut doc, &json!({"a": null, "b": {"c": 5}, "e": [1]}));
        assert_eq!(doc, json!({"b": {"c": 5, "d": 3}, "e": [1]}));
    }
}
