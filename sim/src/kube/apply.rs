//! Server-side apply with field ownership, at leaf-path granularity: maps merge key by key,
//! lists and scalars are atomic leaves. Each applying manager owns the leaves of its last applied
//! configuration (kept in `metadata.managedFields` as `FieldsV1` in Kubernetes' `f:` notation).
//! Setting a leaf another manager owns to a different value is a conflict (409, like Kubernetes'
//! `Apply failed with 1 conflict: conflict with "A": .data.key`) unless `force=true`, which takes
//! the field over; setting it to the same value shares it. Leaves a manager stops applying are
//! removed from the object unless another manager still owns them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// A leaf path, e.g. `["data", "key"]`.
pub type FieldPath = Vec<String>;

/// Fields of `metadata` the API server manages itself (never owned by an applier).
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "managedFields",
];

/// A refused apply: the conflicting fields with the manager owning each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflicts(pub Vec<(String, String)>);

impl Conflicts {
    /// Kubernetes' message: `Apply failed with 1 conflict: conflict with "A": .data.key`, or for
    /// several `Apply failed with 2 conflicts: conflicts with "A":\n- .data.a\n- .data.b`.
    pub fn message(&self) -> String {
        let n = self.0.len();
        let mut by_manager: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (manager, field) in &self.0 {
            by_manager.entry(manager).or_default().push(field);
        }
        let parts: Vec<String> = by_manager
            .iter()
            .map(|(manager, fields)| {
                if n == 1 {
                    format!("conflict with \"{manager}\": {}", fields[0])
                } else {
                    let list: Vec<String> = fields.iter().map(|f| format!("- {f}")).collect();
                    format!("conflicts with \"{manager}\":\n{}", list.join("\n"))
                }
            })
            .collect();
        let noun = if n == 1 { "conflict" } else { "conflicts" };
        format!("Apply failed with {n} {noun}: {}", parts.join("\n"))
    }

    /// `details.causes` of the 409 Status.
    pub fn causes(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|(manager, field)| {
                    json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{manager}\""), "field": field})
                })
                .collect(),
        )
    }
}

/// Formats a path the way conflict messages do: `.data.key`.
pub fn display(path: &[String]) -> String {
    path.iter().map(|p| format!(".{p}")).collect()
}

/// The leaves of an applied configuration (what its manager will own).
pub fn leaves(config: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    if let Value::Object(map) = config {
        for (k, v) in map {
            if k == "apiVersion" || k == "kind" {
                continue;
            }
            if k == "metadata" {
                if let Value::Object(meta) = v {
                    for (mk, mv) in meta {
                        if !SERVER_METADATA.contains(&mk.as_str()) {
                            collect(mv, vec!["metadata".into(), mk.clone()], &mut out);
                        }
                    }
                }
                continue;
            }
            collect(v, vec![k.clone()], &mut out);
        }
    }
    out
}

fn collect(v: &Value, path: FieldPath, out: &mut BTreeSet<FieldPath>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let mut p = path.clone();
                p.push(k.clone());
                collect(child, p, out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

fn at<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn set(target: &mut Value, path: &[String], value: Value) {
    let mut cur = target;
    for k in path {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        cur = cur
            .as_object_mut()
            .map(|m| m.entry(k.clone()).or_insert(Value::Null))
            .expect("made an object above");
    }
    *cur = value;
}

fn remove(target: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = target;
    for k in parents {
        match cur.get_mut(k) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

/// Whether two leaf paths overlap (equal, or one is inside the other).
fn overlaps(a: &[String], b: &[String]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// The fields each manager owns through Apply, read from `metadata.managedFields`.
pub fn owners(obj: &Value) -> BTreeMap<String, BTreeSet<FieldPath>> {
    let mut out = BTreeMap::new();
    for entry in obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if entry["operation"] != "Apply" {
            continue;
        }
        let Some(manager) = entry["manager"].as_str() else {
            continue;
        };
        let mut paths = BTreeSet::new();
        read_fields_v1(&entry["fieldsV1"], Vec::new(), &mut paths);
        out.insert(manager.to_string(), paths);
    }
    out
}

fn read_fields_v1(v: &Value, path: FieldPath, out: &mut BTreeSet<FieldPath>) {
    match v.as_object() {
        Some(m) if !m.is_empty() => {
            for (k, child) in m {
                if let Some(name) = k.strip_prefix("f:") {
                    let mut p = path.clone();
                    p.push(name.to_string());
                    read_fields_v1(child, p, out);
                }
            }
        }
        _ if !path.is_empty() => {
            out.insert(path);
        }
        _ => {}
    }
}

/// `FieldsV1` (`{"f:data": {"f:key": {}}}`) for a set of leaves.
pub fn fields_v1(paths: &BTreeSet<FieldPath>) -> Value {
    let mut root = json!({});
    for p in paths {
        let prefixed: FieldPath = p.iter().map(|k| format!("f:{k}")).collect();
        set(&mut root, &prefixed, json!({}));
    }
    root
}

/// Applies `config` for `manager` over `existing` (`None` = create): the object after the apply,
/// with `metadata.managedFields` updated (server-managed metadata is filled in by the store).
pub fn apply(
    existing: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    timestamp: &str,
) -> Result<Value, Conflicts> {
    let mut object = existing.cloned().unwrap_or_else(|| json!({}));
    let mut owned = existing.map(owners).unwrap_or_default();
    let new_leaves = leaves(config);
    let mut conflicts = Vec::new();
    let mut taken: Vec<(String, FieldPath)> = Vec::new();
    for (other, paths) in &owned {
        if other == manager {
            continue;
        }
        for theirs in paths {
            for mine in new_leaves.iter().filter(|m| overlaps(m, theirs)) {
                if at(&object, theirs) != at(config, theirs)
                    || at(&object, mine) != at(config, mine)
                {
                    conflicts.push((other.clone(), display(theirs)));
                    taken.push((other.clone(), theirs.clone()));
                    break;
                }
            }
        }
    }
    if !conflicts.is_empty() && !force {
        conflicts.sort();
        conflicts.dedup();
        return Err(Conflicts(conflicts));
    }
    for (other, path) in taken {
        if let Some(paths) = owned.get_mut(&other) {
            paths.remove(&path);
        }
    }
    let previous = owned.remove(manager).unwrap_or_default();
    for dropped in previous.difference(&new_leaves) {
        let still_owned = owned.values().flatten().any(|p| overlaps(p, dropped))
            || new_leaves.iter().any(|p| overlaps(p, dropped));
        if !still_owned {
            remove(&mut object, dropped);
        }
    }
    for leaf in &new_leaves {
        if let Some(v) = at(config, leaf) {
            set(&mut object, leaf, v.clone());
        }
    }
    for key in ["apiVersion", "kind"] {
        if let Some(v) = config.get(key) {
            object[key] = v.clone();
        }
    }
    owned.insert(manager.to_string(), new_leaves);
    let other_entries: Vec<Value> = existing
        .and_then(|e| e["metadata"]["managedFields"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["operation"] != "Apply")
        .collect();
    let mut entries: Vec<Value> = owned
        .iter()
        .filter(|(_, paths)| !paths.is_empty())
        .map(|(m, paths)| {
            let time = if m == manager {
                json!(timestamp)
            } else {
                existing
                    .and_then(|e| e["metadata"]["managedFields"].as_array())
                    .and_then(|a| {
                        a.iter()
                            .find(|x| x["manager"] == m.as_str() && x["operation"] == "Apply")
                    })
                    .map(|x| x["time"].clone())
                    .unwrap_or_else(|| json!(timestamp))
            };
            json!({"manager": m, "operation": "Apply", "apiVersion": api_version, "time": time,
                   "fieldsType": "FieldsV1", "fieldsV1": fields_v1(paths)})
        })
        .collect();
    entries.extend(other_entries);
    object["metadata"]["managedFields"] = Value::Array(entries);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
    }

    #[test]
    fn a_second_manager_conflicts_unless_forced_and_shares_equal_values() {
        let a = apply(
            None,
            &cm(json!({"key": "1", "a": "x"})),
            "A",
            false,
            "v1",
            "t",
        )
        .unwrap();
        let err = apply(Some(&a), &cm(json!({"key": "2"})), "B", false, "v1", "t").unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"A\": .data.key"
        );
        let shared = apply(Some(&a), &cm(json!({"key": "1"})), "B", false, "v1", "t").unwrap();
        assert_eq!(owners(&shared)["B"].len(), 1);
        assert_eq!(owners(&shared)["A"].len(), 2);
        let forced = apply(Some(&a), &cm(json!({"key": "2"})), "B", true, "v1", "t").unwrap();
        assert_eq!(forced["data"]["key"], "2");
        let own = owners(&forced);
        assert!(!own["A"].contains(&vec!["data".to_string(), "key".to_string()]));
        assert!(own["B"].contains(&vec!["data".to_string(), "key".to_string()]));
        assert_eq!(
            forced["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:data": {"f:a": {}}})
        );
    }

    #[test]
    fn fields_a_manager_stops_applying_are_removed_unless_owned_elsewhere() {
        let a = apply(
            None,
            &cm(json!({"x": "1", "y": "2"})),
            "A",
            false,
            "v1",
            "t",
        )
        .unwrap();
        let b = apply(Some(&a), &cm(json!({"y": "2"})), "B", false, "v1", "t").unwrap();
        let a2 = apply(Some(&b), &cm(json!({"z": "3"})), "A", false, "v1", "t").unwrap();
        assert_eq!(a2["data"], json!({"y": "2", "z": "3"}));
        let several = apply(
            Some(&a2),
            &cm(json!({"y": "9", "z": "9"})),
            "C",
            false,
            "v1",
            "t",
        )
        .unwrap_err();
        assert!(
            several
                .message()
                .starts_with("Apply failed with 2 conflicts:"),
            "{}",
            several.message()
        );
    }
}
