//! Helm 3 releases as the `secret` storage driver keeps them: one Secret
//! `sh.helm.release.v1.<name>.v<revision>` (type `helm.sh/release.v1`) per revision in the release
//! namespace, labelled `name`, `owner=helm`, `status`, `version`, `modifiedAt` (and the labels
//! the installer asked for, e.g. helm-controller's config hash), whose `release` key holds the
//! base64 of the gzipped release JSON (name, namespace, version, info, chart metadata and
//! default values, config, manifest). An upgrade marks the previous deployed revision
//! `superseded`; Helm keeps at most 10 revisions on upgrade.
//!
//! The sim also keeps each release's newest revision in [`Store::releases`] (with the objects
//! it made), for `/_sim/state` and the in-cluster stand-ins; an entry whose Secret was deleted
//! by hand is forgotten, as Helm would no longer find the release.

use std::io::Write;

use serde_json::{Value, json};

use crate::kube::store::Store;
use crate::talos::pki::base64_of;

/// Revisions `helm upgrade` keeps (`--history-max` default).
const HISTORY_MAX: u32 = 10;

/// An object a release made: `(group/version, resource, namespace, name)`.
pub type ObjectRef = (String, String, String, String);

/// The newest revision of one Helm release.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// Release name.
    pub name: String,
    /// Release namespace.
    pub namespace: String,
    /// Chart name (`Chart.yaml` `name`).
    pub chart: String,
    /// Chart version.
    pub version: String,
    /// Chart `appVersion`.
    pub app_version: String,
    /// `deployed`, `failed`, `uninstalling`, `pending-install`, … (Helm's status words).
    pub status: String,
    /// Revision, from 1.
    pub revision: u32,
    /// The chart's default values (`values.yaml`).
    pub defaults: Value,
    /// The chart's default values with the user's coalesced over them.
    pub values: Value,
    /// The values the user supplied (files and `--set`).
    pub config: Value,
    /// What the release made.
    pub objects: Vec<ObjectRef>,
    /// Extra labels of the release Secret (helm-controller's config hash).
    pub labels: Vec<(String, String)>,
    /// When the first revision was deployed.
    pub first_deployed: String,
    /// When this revision was deployed.
    pub last_deployed: String,
    /// Helm's description (`Install complete`, `Upgrade complete`).
    pub description: String,
    /// The rendered manifest (YAML documents).
    pub manifest: String,
}

/// What the in-cluster stand-ins read of a release.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseView {
    /// Release namespace.
    pub namespace: String,
    /// Release name.
    pub name: String,
    /// Chart name.
    pub chart: String,
    /// Chart version.
    pub version: String,
    /// Helm status (`deployed`, …).
    pub status: String,
    /// Revision.
    pub revision: u32,
    /// Merged values (chart defaults overlaid by the user's values; lists replace).
    pub values: Value,
}

impl Release {
    /// `/_sim/state` shape.
    pub fn json(&self) -> Value {
        json!({"name": self.name, "namespace": self.namespace, "target_namespace": self.namespace,
               "chart": self.chart, "version": self.version, "status": self.status,
               "revision": self.revision})
    }

    /// The view the stand-ins get.
    pub fn view(&self) -> ReleaseView {
        ReleaseView {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            chart: self.chart.clone(),
            version: self.version.clone(),
            status: self.status.clone(),
            revision: self.revision,
            values: self.values.clone(),
        }
    }

    fn secret_name(&self, revision: u32) -> String {
        secret_name(&self.name, revision)
    }

    /// The release JSON Helm stores.
    fn document(&self) -> Value {
        json!({
            "name": self.name, "namespace": self.namespace, "version": self.revision,
            "info": {"first_deployed": self.first_deployed, "last_deployed": self.last_deployed,
                     "deleted": "", "description": self.description, "status": self.status},
            "chart": {"metadata": {"name": self.chart, "version": self.version, "appVersion": self.app_version,
                                   "apiVersion": "v2"},
                      "values": self.defaults},
            "config": self.config, "manifest": self.manifest,
        })
    }
}

/// `sh.helm.release.v1.<name>.v<revision>`.
pub fn secret_name(name: &str, revision: u32) -> String {
    format!("sh.helm.release.v1.{name}.v{revision}")
}

fn encode(document: &Value) -> String {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let gzipped = gz
        .write_all(document.to_string().as_bytes())
        .and_then(|()| gz.finish())
        .unwrap_or_default();
    // Helm base64-encodes the gzip itself; the Secret's data encodes that text once more.
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(gzipped)
}

fn epoch_seconds(timestamp: &str) -> String {
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp().to_string())
        .unwrap_or_else(|_| "0".into())
}

/// Records a new revision: its Secret, the previous deployed revision superseded, history
/// pruned, and the index entry.
pub fn record(store: &mut Store, release: Release, timestamp: &str) {
    let name = release.secret_name(release.revision);
    let mut labels = json!({"name": release.name, "owner": "helm", "status": release.status,
                            "version": release.revision.to_string(), "modifiedAt": epoch_seconds(timestamp)});
    for (k, v) in &release.labels {
        labels[k] = json!(v);
    }
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": name, "namespace": release.namespace, "labels": labels},
        "data": {"release": base64_of(&encode(&release.document()))}});
    store.put("v1", "secrets", secret, timestamp);
    for mut old in history(store, &release.namespace, &release.name) {
        if old["metadata"]["name"] != name.as_str()
            && old["metadata"]["labels"]["status"] == "deployed"
        {
            old["metadata"]["labels"]["status"] = json!("superseded");
            old["metadata"]["labels"]["modifiedAt"] = json!(epoch_seconds(timestamp));
            store.put("v1", "secrets", old, timestamp);
        }
    }
    for old in history(store, &release.namespace, &release.name) {
        let revision = old["metadata"]["labels"]["version"]
            .as_str()
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        if revision + HISTORY_MAX <= release.revision {
            let secret_name = old["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            store.remove("v1", "secrets", &release.namespace, &secret_name);
        }
    }
    store
        .releases
        .insert((release.namespace.clone(), release.name.clone()), release);
}

/// Every release Secret of a release.
fn history(store: &Store, namespace: &str, name: &str) -> Vec<Value> {
    store
        .items("v1", "secrets")
        .into_iter()
        .filter(|s| {
            s["metadata"]["namespace"] == namespace
                && s["type"] == "helm.sh/release.v1"
                && s["metadata"]["labels"]["owner"] == "helm"
                && s["metadata"]["labels"]["name"] == name
        })
        .collect()
}

/// Deletes every revision of a release (`helm uninstall` without `--keep-history`).
pub fn forget(store: &mut Store, namespace: &str, name: &str) {
    for secret in history(store, namespace, name) {
        let secret_name = secret["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        store.remove("v1", "secrets", namespace, &secret_name);
    }
    store
        .releases
        .remove(&(namespace.to_string(), name.to_string()));
}

/// The newest revision of a release, if Helm would find it.
pub fn current(store: &Store, namespace: &str, name: &str) -> Option<Release> {
    store
        .releases
        .get(&(namespace.to_string(), name.to_string()))
        .filter(|r| {
            store
                .get("v1", "secrets", namespace, &r.secret_name(r.revision))
                .is_some()
        })
        .cloned()
}

/// Forgets index entries whose Secret is gone (deleted by hand), and takes status changes made
/// to the Secret's label (`helm set-status`-like edits) into account.
pub fn refresh(store: &mut Store) {
    let keys: Vec<(String, String)> = store.releases.keys().cloned().collect();
    for key in keys {
        let Some(release) = store.releases.get(&key) else {
            continue;
        };
        match store.get(
            "v1",
            "secrets",
            &key.0,
            &release.secret_name(release.revision),
        ) {
            None => {
                store.releases.remove(&key);
            }
            Some(secret) => {
                if let Some(status) = secret["metadata"]["labels"]["status"].as_str()
                    && status != release.status
                {
                    let status = status.to_string();
                    if let Some(r) = store.releases.get_mut(&key) {
                        r.status = status;
                    }
                }
            }
        }
    }
}

/// The release of chart `chart` (deployed ones first), as the stand-ins see it.
pub fn release(store: &Store, chart: &str) -> Option<ReleaseView> {
    let mut found: Vec<&Release> = store
        .releases
        .values()
        .filter(|r| r.chart == chart)
        .collect();
    found.sort_by_key(|r| r.status != "deployed");
    found.first().map(|r| r.view())
}

/// Whether a release of chart `chart` is deployed (or being uninstalled: its workloads still
/// run until the uninstall removes them).
pub fn deployed(store: &Store, chart: &str) -> bool {
    store
        .releases
        .values()
        .any(|r| r.chart == chart && (r.status == "deployed" || r.status == "uninstalling"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(revision: u32) -> Release {
        Release {
            name: "web".into(),
            namespace: "apps".into(),
            chart: "hello".into(),
            version: "1.0.0".into(),
            app_version: "1.0.0".into(),
            status: "deployed".into(),
            revision,
            defaults: json!({"replicas": 1}),
            values: json!({"replicas": 1}),
            config: json!({}),
            objects: Vec::new(),
            labels: vec![("helmcharts.helm.cattle.io/configHash".into(), "ABC".into())],
            first_deployed: "2026-01-01T00:00:00Z".into(),
            last_deployed: "2026-01-01T00:00:00Z".into(),
            description: "Install complete".into(),
            manifest: String::new(),
        }
    }

    #[test]
    fn revisions_supersede_and_decode_like_helm_stores_them() {
        let mut store = Store::default();
        record(&mut store, release(1), "2026-01-01T00:00:00Z");
        record(&mut store, release(2), "2026-01-01T00:01:00Z");
        let v1 = store
            .get("v1", "secrets", "apps", "sh.helm.release.v1.web.v1")
            .unwrap();
        assert_eq!(v1["metadata"]["labels"]["status"], "superseded");
        let v2 = store
            .get("v1", "secrets", "apps", "sh.helm.release.v1.web.v2")
            .unwrap()
            .clone();
        assert_eq!(
            v2["metadata"]["labels"]["helmcharts.helm.cattle.io/configHash"],
            "ABC"
        );
        assert_eq!(v2["metadata"]["labels"]["modifiedAt"], "1767225660");
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let helm_text = b64.decode(v2["data"]["release"].as_str().unwrap()).unwrap();
        let gz = b64.decode(helm_text).unwrap();
        let mut json_text = String::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_string(&mut json_text)
            .unwrap();
        let doc: Value = serde_json::from_str(&json_text).unwrap();
        assert_eq!(
            (doc["version"].as_i64(), doc["info"]["status"].as_str()),
            (Some(2), Some("deployed"))
        );
        assert_eq!(current(&store, "apps", "web").unwrap().revision, 2);
        store.remove("v1", "secrets", "apps", "sh.helm.release.v1.web.v2");
        refresh(&mut store);
        assert!(current(&store, "apps", "web").is_none());
    }
}
