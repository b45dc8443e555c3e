//! The official OpenAPI document of Kubernetes 1.36 (vendored under `sim/openapi/kubernetes/`), served as
//! the API server serves it: `/openapi/v2` (JSON) and `/openapi/v3` (root and one document per
//! group/version, converted from v2), with the ETag and `?hash=` handling of kube-openapi's
//! handlers. The same document gives the strategic-merge-patch keys ([`schema`]) and the field
//! names of server-side field validation ([`validate`]).

pub mod convert;
pub mod schema;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha512};

const VENDORED: &[u8] = include_bytes!("../../../openapi/kubernetes/swagger-v1.36.json.gz");

/// The OpenAPI v2 media type client-go asks for (`discovery.OpenAPISchema`).
const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2";

/// The vendored document, parsed once per process.
pub struct Spec {
    /// The OpenAPI v2 document.
    pub v2: Value,
    v2_bytes: Vec<u8>,
    v2_etag: String,
    /// Definition name by `(group, version, kind)` (`x-kubernetes-group-version-kind`).
    by_gvk: BTreeMap<(String, String, String), String>,
    /// The v3 documents built so far, by path (`apis/apps/v1`).
    v3: Mutex<BTreeMap<String, Arc<V3Document>>>,
}

/// A v3 document as served: its bytes and their hash.
type V3Document = (Vec<u8>, String);

/// The document (decompressed and parsed on first use).
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut text = Vec::new();
        // The document is compiled in; failing to read it is a build defect, not a runtime input.
        flate2::read::GzDecoder::new(VENDORED)
            .read_to_end(&mut text)
            .expect("the vendored OpenAPI document is valid gzip");
        let v2: Value =
            serde_json::from_slice(&text).expect("the vendored OpenAPI document is valid JSON");
        let mut by_gvk = BTreeMap::new();
        for (name, def) in v2["definitions"].as_object().into_iter().flatten() {
            for gvk in def["x-kubernetes-group-version-kind"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let field = |k: &str| gvk[k].as_str().unwrap_or_default().to_string();
                by_gvk.insert(
                    (field("group"), field("version"), field("kind")),
                    name.clone(),
                );
            }
        }
        let v2_bytes = serde_json::to_vec(&v2).unwrap_or(text);
        let v2_etag = hash(&v2_bytes);
        Spec {
            v2,
            v2_bytes,
            v2_etag,
            by_gvk,
            v3: Mutex::new(BTreeMap::new()),
        }
    })
}

impl Spec {
    /// The definition of a kind (`apps/v1`, `Deployment`), if built in.
    pub fn definition(&self, group_version: &str, kind: &str) -> Option<&Value> {
        let (group, version) = group_version
            .rsplit_once('/')
            .unwrap_or(("", group_version));
        let name = self
            .by_gvk
            .get(&(group.into(), version.into(), kind.into()))?;
        self.v2["definitions"].get(name)
    }

    /// Whether the document has paths under `/api/v1/` or `/apis/<group>/<version>/`: the
    /// built-in group/versions of Kubernetes 1.36.
    pub fn serves_group_version(&self, group_version: &str) -> bool {
        self.group_versions().contains(&v3_key(group_version))
    }

    /// Whether Kubernetes 1.36 has `resource` (and `subresource`) in a group/version: a path
    /// `/apis/<g>/<v>/[namespaces/{namespace}/]<resource>[/{name}/<subresource>]`.
    pub fn has_resource(
        &self,
        group_version: &str,
        resource: &str,
        subresource: Option<&str>,
    ) -> bool {
        let prefix = format!("/{}/", v3_key(group_version));
        self.v2["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(path, _)| path.strip_prefix(&prefix))
            .any(|rest| {
                let rest = rest.strip_prefix("namespaces/{namespace}/").unwrap_or(rest);
                let segments: Vec<&str> = rest.split('/').collect();
                match (segments.as_slice(), subresource) {
                    ([r, ..], None) => *r == resource,
                    ([r, _, s], Some(sub)) => *r == resource && *s == sub,
                    _ => false,
                }
            })
    }

    /// The v3 document keys (`api/v1`, `apis/apps/v1`, …) the document has paths for.
    fn group_versions(&self) -> BTreeSet<String> {
        self.v2["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(path, _)| path_key(path))
            .collect()
    }

    /// The v3 document of one key, built on first use.
    fn v3(&self, key: &str) -> Arc<V3Document> {
        let mut cache = self.v3.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(key.to_string())
            .or_insert_with(|| {
                let doc = convert::group_version_document(&self.v2, key);
                let bytes = serde_json::to_vec(&doc).unwrap_or_default();
                let etag = hash(&bytes);
                Arc::new((bytes, etag))
            })
            .clone()
    }
}

/// kube-openapi's ETag: the SHA-512 of the served bytes in upper-case hex.
fn hash(bytes: &[u8]) -> String {
    Sha512::digest(bytes)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// `api/v1` for `v1`, `apis/apps/v1` for `apps/v1`.
fn v3_key(group_version: &str) -> String {
    if group_version.contains('/') {
        format!("apis/{group_version}")
    } else {
        format!("api/{group_version}")
    }
}

/// The group/version document a path belongs to (`/apis/apps/v1/deployments` → `apis/apps/v1`);
/// `None` for paths outside `/api/v1` and `/apis/<group>/<version>`.
fn path_key(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", version, ..] => Some(format!("api/{version}")),
        ["apis", group, version, ..] => Some(format!("apis/{group}/{version}")),
        _ => None,
    }
}

/// Serves `/openapi/v2`, `/openapi/v3` and `/openapi/v3/<key>`; `None` for other paths.
/// `served` are the group/versions the cluster serves (only theirs are published in v3).
pub fn handle(
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    served: &BTreeSet<String>,
) -> Option<Response> {
    let path = path.trim_end_matches('/');
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    let spec = spec();
    if path == "/openapi/v2" {
        if !accepts_json(accept) {
            return Some(not_acceptable(accept));
        }
        return Some(content(headers, spec.v2_bytes.clone(), &spec.v2_etag, None));
    }
    let known = spec.group_versions();
    let published: BTreeSet<String> = served
        .iter()
        .map(|gv| v3_key(gv))
        .filter(|k| known.contains(k))
        .collect();
    if path == "/openapi/v3" {
        if !accepts_json(accept) {
            return Some(not_acceptable(accept));
        }
        let paths: serde_json::Map<String, Value> = published
            .iter()
            .map(|key| {
                let (_, etag) = &*spec.v3(key);
                (
                    key.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={etag}")}),
                )
            })
            .collect();
        let body = serde_json::to_vec(&json!({"paths": paths})).unwrap_or_default();
        return Some(
            (StatusCode::OK, [("content-type", "application/json")], body).into_response(),
        );
    }
    let key = path.strip_prefix("/openapi/v3/")?;
    if !published.contains(key) {
        return Some(
            (
                StatusCode::NOT_FOUND,
                [("content-type", "text/plain; charset=utf-8")],
                "404 page not found\n",
            )
                .into_response(),
        );
    }
    if !accepts_json(accept) {
        return Some(not_acceptable(accept));
    }
    let doc = spec.v3(key);
    let (bytes, etag) = &*doc;
    let requested = super::objects::query_value(query, "hash");
    if let Some(requested) = requested
        && requested != etag
    {
        // A client holding an old root is sent to the current document, as kube-openapi does.
        let location = format!("/openapi/v3/{key}?hash={etag}");
        return Some(
            (
                StatusCode::MOVED_PERMANENTLY,
                [
                    ("location", location.as_str()),
                    ("etag", &format!("\"{etag}\"")),
                ],
            )
                .into_response(),
        );
    }
    Some(content(
        headers,
        bytes.clone(),
        etag,
        requested.map(|_| "public, immutable"),
    ))
}

/// Whether an Accept header admits JSON (`application/json`, `application/*`, `*/*`, with
/// parameters); the protobuf forms of the documents are not served.
fn accepts_json(accept: &str) -> bool {
    accept.split(',').any(|clause| {
        let media = clause.split(';').next().unwrap_or_default().trim();
        matches!(media, "application/json" | "application/*" | "*/*" | "")
    })
}

fn not_acceptable(accept: &str) -> Response {
    let note = if accept.contains(V2_PROTOBUF) || accept.contains("proto-openapi") {
        " (hk8s-sim serves the OpenAPI documents as application/json only)"
    } else {
        ""
    };
    super::status(
        StatusCode::NOT_ACCEPTABLE,
        "NotAcceptable",
        &format!("only the following media types are accepted: application/json{note}"),
    )
}

/// A document reply with its ETag, answering `If-None-Match` with 304 as `http.ServeContent`.
fn content(
    headers: &HeaderMap,
    bytes: Vec<u8>,
    etag: &str,
    cache_control: Option<&str>,
) -> Response {
    let quoted = format!("\"{etag}\"");
    let unchanged = headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == quoted || t.trim() == "*"));
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            StatusCode::OK,
            [("content-type", "application/json")],
            bytes,
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = quoted.parse() {
        h.insert("etag", v);
    }
    h.insert("vary", axum::http::HeaderValue::from_static("Accept"));
    if let Some(cc) = cache_control.and_then(|c| c.parse().ok()) {
        h.insert("cache-control", cc);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_definitions_by_group_version_kind() {
        let spec = spec();
        let deployment = spec.definition("apps/v1", "Deployment").unwrap();
        assert!(deployment["properties"]["spec"].is_object());
        assert!(spec.definition("v1", "Pod").is_some());
        assert!(spec.definition("example.com/v1", "Widget").is_none());
    }

    #[test]
    fn knows_the_built_in_group_versions() {
        let spec = spec();
        assert!(spec.serves_group_version("v1"));
        assert!(spec.serves_group_version("apps/v1"));
        assert!(!spec.serves_group_version("apps/v7"));
        assert!(!spec.serves_group_version("example.com/v1"));
    }

    fn get(path: &str, query: &[(&str, &str)], headers: &[(&str, &str)]) -> Response {
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let served: BTreeSet<String> = ["v1", "apps/v1"].iter().map(|s| s.to_string()).collect();
        handle(path, &query, &map, &served).unwrap()
    }

    fn header<'a>(r: &'a Response, name: &str) -> &'a str {
        r.headers().get(name).unwrap().to_str().unwrap()
    }

    #[test]
    fn v3_documents_follow_kube_openapis_hash_and_etag_rules() {
        let root = get("/openapi/v3", &[], &[]);
        assert_eq!(root.status(), StatusCode::OK);
        let key = "apis/apps/v1";
        let (_, etag) = &*spec().v3(key);
        let doc = get(&format!("/openapi/v3/{key}"), &[("hash", etag)], &[]);
        assert_eq!(doc.status(), StatusCode::OK);
        assert_eq!(header(&doc, "etag"), format!("\"{etag}\""));
        assert_eq!(header(&doc, "cache-control"), "public, immutable");
        let stale = get(&format!("/openapi/v3/{key}"), &[("hash", "0BAD")], &[]);
        assert_eq!(stale.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            header(&stale, "location"),
            format!("/openapi/v3/{key}?hash={etag}")
        );
        let cached = get(
            &format!("/openapi/v3/{key}"),
            &[],
            &[("if-none-match", &format!("\"{etag}\""))],
        );
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            get("/openapi/v3/apis/batch/v1", &[], &[]).status(),
            StatusCode::NOT_FOUND
        );
        let proto = get(
            "/openapi/v2",
            &[],
            &[(
                "accept",
                "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
            )],
        );
        assert_eq!(proto.status(), StatusCode::NOT_ACCEPTABLE);
        let v2 = get("/openapi/v2", &[], &[("accept", "application/json")]);
        assert_eq!(v2.status(), StatusCode::OK);
        assert_eq!(header(&v2, "etag"), format!("\"{}\"", spec().v2_etag));
    }

    #[test]
    fn protobuf_only_accept_is_refused() {
        assert!(!accepts_json(
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        ));
        assert!(accepts_json("application/json, */*"));
        assert!(accepts_json(
            "application/com.github.proto-openapi.spec.v3@v1.0+protobuf;q=0.9, application/json"
        ));
    }
}
