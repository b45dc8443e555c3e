//! How Kubernetes API requests are counted in `/_sim/stats` (`kube_requests`): by verb and
//! resource, so that a test sees what a client did (`"POST pods/eviction": 12`, `"PATCH nodes": 3`).
//!
//! Keys are `VERB resource` with the plural resource name without its API group, and
//! `resource/subresource` for subresources (`pods/eviction`, `nodes/status`). The verb is the
//! HTTP method (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`), except where Kubernetes itself names the
//! request otherwise: `LIST` for a GET of a collection (namespaced or across namespaces),
//! `WATCH` for a GET with `watch=true`, and `DELETECOLLECTION` for a DELETE of a collection.
//! Requests outside resources (`/version`, `/healthz`, discovery such as `/api/v1`) count under
//! `METHOD path`, e.g. `"GET /version"`. Every request that reaches a cluster's API counts,
//! whatever its answer (401, 403 and 503 included).

use axum::http::Method;

use super::objects::{Target, query_value};

/// The counter key of one request.
pub fn key(method: &Method, path: &str, query: &[(String, String)]) -> String {
    let discovery = matches!(
        path.trim_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .as_slice(),
        ["api"] | ["api", "v1"] | ["apis"] | ["apis", _] | ["apis", _, _]
    );
    let target = if discovery { None } else { Target::parse(path) };
    let Some(target) = target else {
        return format!("{method} {path}");
    };
    let watch = matches!(query_value(query, "watch"), Some("true" | "1"));
    let verb = match (method, target.name.is_some()) {
        (&Method::GET, false) if watch => "WATCH",
        (&Method::GET, false) => "LIST",
        (&Method::DELETE, false) => "DELETECOLLECTION",
        _ => method.as_str(),
    };
    match target.subresource {
        Some(sub) => format!("{verb} {}/{sub}", target.resource),
        None => format!("{verb} {}", target.resource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(method: Method, path: &str, query: &[(&str, &str)]) -> String {
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
            .collect();
        key(&method, path, &query)
    }

    #[test]
    fn verbs_and_resources_as_documented() {
        assert_eq!(
            k(
                Method::POST,
                "/api/v1/namespaces/default/pods/web-1/eviction",
                &[]
            ),
            "POST pods/eviction"
        );
        assert_eq!(k(Method::PATCH, "/api/v1/nodes/w1", &[]), "PATCH nodes");
        assert_eq!(k(Method::GET, "/api/v1/nodes/w1", &[]), "GET nodes");
        assert_eq!(k(Method::GET, "/api/v1/nodes", &[]), "LIST nodes");
        assert_eq!(
            k(
                Method::GET,
                "/api/v1/pods",
                &[("fieldSelector", "spec.nodeName=w1")]
            ),
            "LIST pods"
        );
        assert_eq!(
            k(
                Method::GET,
                "/api/v1/namespaces/kube-system/pods",
                &[("watch", "true")]
            ),
            "WATCH pods"
        );
        assert_eq!(
            k(
                Method::DELETE,
                "/apis/apps/v1/namespaces/default/deployments",
                &[]
            ),
            "DELETECOLLECTION deployments"
        );
        assert_eq!(
            k(Method::PATCH, "/api/v1/nodes/w1/status", &[]),
            "PATCH nodes/status"
        );
        assert_eq!(
            k(
                Method::PATCH,
                "/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts/cilium",
                &[]
            ),
            "PATCH helmcharts"
        );
        assert_eq!(k(Method::GET, "/version", &[]), "GET /version");
        assert_eq!(k(Method::GET, "/apis/apps/v1", &[]), "GET /apis/apps/v1");
        assert_eq!(k(Method::GET, "/api/v1", &[]), "GET /api/v1");
        assert_eq!(k(Method::GET, "/api/v1/namespaces", &[]), "LIST namespaces");
        assert_eq!(
            k(Method::GET, "/api/v1/namespaces/default", &[]),
            "GET namespaces"
        );
    }
}
