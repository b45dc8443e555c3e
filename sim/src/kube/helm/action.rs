//! What the `helm` binary in a klipper-helm job does to the cluster: locating a chart
//! (`<repo>/<chart>` after `helm repo add`, or a chart URL), `helm install`, `helm upgrade` and
//! `helm uninstall`, with Helm 3's error texts (klipper-helm v0.9 ships Helm 3.19; the v0.11+
//! images' Helm 4 words these errors the same way). Install and upgrade render the chart
//! ([`super::charts`]) from the values, check the values schema, refuse to take over objects
//! another owner made, create the chart's missing CRDs, apply the objects (labelled
//! `app.kubernetes.io/managed-by: Helm`, annotated `meta.helm.sh/release-name` and
//! `meta.helm.sh/release-namespace`, as Helm does) and record the revision
//! ([`super::release`]); an upgrade removes what the new revision no longer renders. Uninstall
//! deletes the release's objects (except those annotated `helm.sh/resource-policy: keep`) and
//! its history.

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::charts::{self, Chart, Render, Repository};
use super::release::{self, ObjectRef, Release};
use super::values;
use crate::kube::store::Store;

/// A chart found in a repository.
#[derive(Debug, Clone, Copy)]
pub struct Located {
    /// The chart.
    pub chart: &'static Chart,
    /// Its version.
    pub version: &'static str,
    /// Its appVersion.
    pub app_version: &'static str,
}

/// The repositories `helm repo add` registered in the job: `(name, repository)`.
pub type Repositories = Vec<(String, Repository)>;

/// The 404 every URL the sim does not serve gets (the sim is offline; Helm's getter words it
/// `failed to fetch <url> : <status>`).
pub fn fetch_failed(url: &str) -> String {
    format!("failed to fetch {url} : 404 Not Found")
}

/// `helm repo add <name> <url>`: the repository, or Helm's error.
pub fn repo_add(url: &str, own: Option<SocketAddr>) -> Result<Repository, String> {
    charts::repository(url, own).ok_or_else(|| {
        let index = format!("{}/index.yaml", url.trim_end_matches('/'));
        format!(
            "looks like {url:?} is not a valid chart repository or cannot be reached: {}",
            fetch_failed(&index)
        )
    })
}

/// Locates `reference` at `version` as `helm install/upgrade` does.
pub fn locate(
    reference: &str,
    version: &str,
    repositories: &Repositories,
    own: Option<SocketAddr>,
) -> Result<Located, String> {
    if let Some(rest) = reference.strip_prefix("oci://") {
        let host = rest.split('/').next().unwrap_or(rest);
        return Err(format!(
            "failed to do request: Head \"https://{host}/v2/{}/manifests/{}\": dial tcp: lookup {host}: no such host",
            rest.split_once('/').map(|(_, p)| p).unwrap_or_default(),
            if version.is_empty() {
                "latest"
            } else {
                version
            }
        ));
    }
    if reference.starts_with("http://") || reference.starts_with("https://") {
        // A chart archive URL: only the sim's own archives exist.
        let (base, file) = reference.rsplit_once('/').unwrap_or((reference, ""));
        let own_archive = charts::repository(base, own) == Some(Repository::Own);
        let found = file
            .strip_prefix(&format!("{}-", crate::chartrepo::HELLO))
            .and_then(|f| f.strip_suffix(".tgz"))
            .filter(|_| own_archive)
            .and_then(|v| {
                let chart = charts::charts(Repository::Own)[0];
                charts::find_version(chart, v).map(|(version, app_version)| Located {
                    chart,
                    version,
                    app_version,
                })
            });
        return found.ok_or_else(|| fetch_failed(reference));
    }
    let Some((repo_name, chart_name)) = reference.split_once('/') else {
        return Err(format!(
            "non-absolute URLs should be in form of repo_name/path_to_chart, got: {reference}"
        ));
    };
    let Some((_, repository)) = repositories.iter().find(|(n, _)| n == repo_name) else {
        return Err(format!("repo {repo_name} not found"));
    };
    let not_found = |why: String| {
        format!(
            "chart {chart_name:?} matching {version} not found in {repo_name} index. (try 'helm repo update'): {why}"
        )
    };
    let chart = charts::charts(*repository)
        .into_iter()
        .find(|c| c.name == chart_name)
        .ok_or_else(|| not_found("no chart name found".into()))?;
    let (version, app_version) = charts::find_version(chart, version)
        .ok_or_else(|| not_found(format!("no chart version found for {chart_name}-{version}")))?;
    Ok(Located {
        chart,
        version,
        app_version,
    })
}

/// The plural resource and scope of a kind the charts render.
fn resource_of(api_version: &str, kind: &str, store: &Store) -> (String, bool) {
    const CLUSTER_SCOPED: &[&str] = &[
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "StorageClass",
        "CSIDriver",
        "CustomResourceDefinition",
        "APIService",
        "IngressClass",
        "PriorityClass",
        "PersistentVolume",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ];
    if let Some(custom) = crate::kube::crds::custom_resources(store)
        .into_iter()
        .find(|r| r.group_version == api_version && r.kind == kind)
    {
        return (custom.plural, custom.namespaced);
    }
    let lower = kind.to_lowercase();
    let plural = match lower.as_str() {
        "ingressclass" | "storageclass" | "priorityclass" => format!("{lower}es"),
        "endpoints" => lower,
        _ if lower.ends_with('s') => format!("{lower}es"),
        _ if lower.ends_with('y') => format!("{}ies", &lower[..lower.len() - 1]),
        _ => format!("{lower}s"),
    };
    (plural, !CLUSTER_SCOPED.contains(&kind))
}

/// One rendered object, placed and labelled as Helm creates it.
struct Manifest {
    object: Value,
    reference: ObjectRef,
}

fn manifests(
    store: &Store,
    objects: Vec<Value>,
    release: &str,
    namespace: &str,
) -> Result<Vec<Manifest>, String> {
    let mut out = Vec::new();
    for mut object in objects {
        let api_version = object["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let (resource, namespaced) = resource_of(&api_version, &kind, store);
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !crate::kube::crds::served(store, &api_version, &resource) {
            let ns = if namespaced { namespace } else { "" };
            return Err(format!(
                "unable to build kubernetes objects from release manifest: resource mapping not found for name: {name:?} namespace: {ns:?} from \"\": no matches for kind {kind:?} in version {api_version:?}\nensure CRDs are installed first"
            ));
        }
        let ns = if namespaced {
            let ns = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or(namespace)
                .to_string();
            object["metadata"]["namespace"] = json!(ns);
            ns
        } else {
            String::new()
        };
        crate::kube::store::set_path(
            &mut object,
            &["metadata", "labels", "app.kubernetes.io/managed-by"],
            json!("Helm"),
        );
        crate::kube::store::set_path(
            &mut object,
            &["metadata", "annotations", "meta.helm.sh/release-name"],
            json!(release),
        );
        crate::kube::store::set_path(
            &mut object,
            &["metadata", "annotations", "meta.helm.sh/release-namespace"],
            json!(namespace),
        );
        out.push(Manifest {
            object,
            reference: (api_version, resource, ns, name),
        });
    }
    Ok(out)
}

/// Helm's ownership check of an object that exists already.
fn ownership(existing: &Value, release: &str, namespace: &str) -> Option<String> {
    let require = |map: &Value, key: &str, want: &str| match map[key].as_str() {
        None => Some(format!("missing key {key:?}: must be set to {want:?}")),
        Some(v) if v != want => Some(format!(
            "key {key:?} must equal {want:?}: current value is {v:?}"
        )),
        Some(_) => None,
    };
    let meta = &existing["metadata"];
    let mut errors = Vec::new();
    if let Some(e) = require(&meta["labels"], "app.kubernetes.io/managed-by", "Helm") {
        errors.push(format!("label validation error: {e}"));
    }
    if let Some(e) = require(&meta["annotations"], "meta.helm.sh/release-name", release) {
        errors.push(format!("annotation validation error: {e}"));
    }
    if let Some(e) = require(
        &meta["annotations"],
        "meta.helm.sh/release-namespace",
        namespace,
    ) {
        errors.push(format!("annotation validation error: {e}"));
    }
    (!errors.is_empty()).then(|| format!("invalid ownership metadata; {}", errors.join("; ")))
}

fn manifest_text(manifests: &[Manifest], chart: &str) -> String {
    manifests
        .iter()
        .map(|m| {
            format!(
                "---\n# Source: {chart}/templates/{}.yaml\n{}",
                m.object["kind"].as_str().unwrap_or_default().to_lowercase(),
                serde_saphyr::to_string(&m.object).unwrap_or_default()
            )
        })
        .collect()
}

/// What `helm install` / `helm upgrade` are asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    /// Release name.
    pub release: String,
    /// Release namespace.
    pub namespace: String,
    /// `--create-namespace`.
    pub create_namespace: bool,
    /// The chart.
    pub located: Located,
    /// Values from the files and `--set` arguments.
    pub config: Value,
    /// `--labels` for the release Secret.
    pub labels: Vec<(String, String)>,
}

fn deployed_at(timestamp: &str) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
    );
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| timestamp.to_string())
}

/// `helm install` (`previous` = None) or `helm upgrade` of the release `previous` names: the
/// output Helm prints, or its error (without the `INSTALLATION FAILED:` / `UPGRADE FAILED:`
/// prefix the caller adds).
pub fn install_or_upgrade(
    store: &mut Store,
    request: &Request,
    previous: Option<&Release>,
    timestamp: &str,
) -> Result<String, String> {
    let chart = request.located.chart;
    let merged = values::coalesce(&(chart.defaults)(), &request.config);
    (chart.validate)(&merged)?;
    let render = Render {
        release: &request.release,
        namespace: &request.namespace,
        version: request.located.version,
        app_version: request.located.app_version,
        values: &merged,
    };
    let rendered = (chart.render)(&render)?;
    // The chart's crds/ directory goes in first, only where missing.
    for crd in (chart.crds)() {
        let name = crd["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if store
            .get(
                "apiextensions.k8s.io/v1",
                "customresourcedefinitions",
                "",
                &name,
            )
            .is_none()
        {
            store.put(
                "apiextensions.k8s.io/v1",
                "customresourcedefinitions",
                crd,
                timestamp,
            );
        }
    }
    let manifests = manifests(store, rendered, &request.release, &request.namespace)?;
    let verb = if previous.is_some() {
        "update"
    } else {
        "install"
    };
    for m in &manifests {
        let (gv, resource, ns, name) = &m.reference;
        if let Some(existing) = store.get(gv, resource, ns, name)
            && let Some(why) = ownership(existing, &request.release, &request.namespace)
        {
            let kind = m.object["kind"].as_str().unwrap_or_default();
            return Err(format!(
                "Unable to continue with {verb}: {kind} {name:?} in namespace {ns:?} exists and cannot be imported into the current release: {why}"
            ));
        }
    }
    if !store.has_namespace(&request.namespace) {
        if request.create_namespace && previous.is_none() {
            store.put("v1", "namespaces", json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": request.namespace, "labels": {"kubernetes.io/metadata.name": request.namespace, "name": request.namespace}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}), timestamp);
        } else {
            return Err(format!(
                "create: failed to create: namespaces {:?} not found",
                request.namespace
            ));
        }
    }
    for m in &manifests {
        let (gv, resource, ns, name) = &m.reference;
        let mut object = m.object.clone();
        if let Some(existing) = store.get(gv, resource, ns, name) {
            object["status"] = existing["status"].clone();
            if object["status"].is_null()
                && let Some(o) = object.as_object_mut()
            {
                o.remove("status");
            }
        }
        store.put(gv, resource, object, timestamp);
    }
    let made: Vec<ObjectRef> = manifests.iter().map(|m| m.reference.clone()).collect();
    if let Some(old) = previous {
        for gone in old.objects.iter().filter(|o| !made.contains(o)) {
            remove_object(store, gone);
        }
    }
    let revision = previous.map_or(1, |p| p.revision + 1);
    let release = Release {
        name: request.release.clone(),
        namespace: request.namespace.clone(),
        chart: chart.name.to_string(),
        version: request.located.version.to_string(),
        app_version: request.located.app_version.to_string(),
        status: "deployed".into(),
        revision,
        defaults: (chart.defaults)(),
        values: merged,
        config: request.config.clone(),
        objects: made,
        labels: request.labels.clone(),
        first_deployed: previous
            .map_or_else(|| timestamp.to_string(), |p| p.first_deployed.clone()),
        last_deployed: timestamp.to_string(),
        description: if previous.is_some() {
            "Upgrade complete"
        } else {
            "Install complete"
        }
        .into(),
        manifest: manifest_text(&manifests, chart.name),
    };
    release::record(store, release, timestamp);
    let mut out = String::new();
    if previous.is_some() {
        out.push_str(&format!(
            "Release {:?} has been upgraded. Happy Helming!\n",
            request.release
        ));
    }
    out.push_str(&format!(
        "NAME: {}\nLAST DEPLOYED: {}\nNAMESPACE: {}\nSTATUS: deployed\nREVISION: {revision}\nTEST SUITE: None\n",
        request.release,
        deployed_at(timestamp),
        request.namespace
    ));
    Ok(out)
}

/// Deletes one object a release made, unless it is annotated `helm.sh/resource-policy: keep`.
fn remove_object(store: &mut Store, reference: &ObjectRef) {
    let (gv, resource, ns, name) = reference;
    let keep = store
        .get(gv, resource, ns, name)
        .is_some_and(|o| o["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep");
    if !keep {
        store.remove(gv, resource, ns, name);
    }
}

/// `helm uninstall <name> --namespace <namespace>`: Helm's output, or its error.
pub fn uninstall(store: &mut Store, namespace: &str, name: &str) -> Result<String, String> {
    let Some(current) = release::current(store, namespace, name) else {
        return Err(format!(
            "uninstall: Release not loaded: {name}: release: not found"
        ));
    };
    for object in &current.objects {
        remove_object(store, object);
    }
    release::forget(store, namespace, name);
    Ok(format!("release {name:?} uninstalled\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locating_charts_fails_with_helms_words() {
        let own: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let repos: Repositories = vec![
            (
                "hello".into(),
                repo_add("http://127.0.0.1:8080/charts", Some(own)).unwrap(),
            ),
            (
                "ccm".into(),
                repo_add("https://charts.hetzner.cloud", Some(own)).unwrap(),
            ),
        ];
        assert_eq!(
            repo_add("https://charts.example.org/", Some(own)).unwrap_err(),
            "looks like \"https://charts.example.org/\" is not a valid chart repository or cannot be reached: failed to fetch https://charts.example.org/index.yaml : 404 Not Found"
        );
        let hello = locate("hello/hello", "1.0.0", &repos, Some(own)).unwrap();
        assert_eq!((hello.chart.name, hello.version), ("hello", "1.0.0"));
        assert_eq!(
            locate("hello/hello", "", &repos, Some(own))
                .unwrap()
                .version,
            "1.1.0"
        );
        assert_eq!(
            locate("hello/nope", "1.0.0", &repos, Some(own)).unwrap_err(),
            "chart \"nope\" matching 1.0.0 not found in hello index. (try 'helm repo update'): no chart name found"
        );
        assert_eq!(
            locate("hello/hello", "9.9.9", &repos, Some(own)).unwrap_err(),
            "chart \"hello\" matching 9.9.9 not found in hello index. (try 'helm repo update'): no chart version found for hello-9.9.9"
        );
        assert_eq!(
            locate("cilium", "", &repos, Some(own)).unwrap_err(),
            "non-absolute URLs should be in form of repo_name/path_to_chart, got: cilium"
        );
        assert_eq!(
            locate("cilium/cilium", "", &repos, Some(own)).unwrap_err(),
            "repo cilium not found"
        );
        assert_eq!(
            locate(
                "http://127.0.0.1:8080/charts/hello-1.0.0.tgz",
                "",
                &repos,
                Some(own)
            )
            .unwrap()
            .version,
            "1.0.0"
        );
        assert_eq!(
            locate("https://example.org/x-1.tgz", "", &repos, Some(own)).unwrap_err(),
            "failed to fetch https://example.org/x-1.tgz : 404 Not Found"
        );
    }
}
