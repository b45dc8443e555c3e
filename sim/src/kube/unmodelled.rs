//! What the API server serves that hk8s-sim does not model, refused before the generic store
//! sees it: a resource or group/version of a built-in group that Kubernetes 1.36 does not have
//! answers the API server's 404; a subresource Kubernetes has but the sim does not model (`scale`,
//! `exec`, `attach`, `portforward`, `proxy`, `binding`, …) answers 405 in the Status shape with a
//! message saying so. Built-in kinds without a controller in the sim (ingresses, cronjobs,
//! horizontal pod autoscalers, leases, endpoints, …) are kept as stored objects.

use axum::http::StatusCode;
use axum::response::Response;

use super::crds::{BUILTIN_GROUPS, group_of};
use super::objects::Target;
use super::status;

/// Subresources the sim serves (see [`super::crud`]).
const MODELLED_SUBRESOURCES: &[(&str, &str)] =
    &[("*", "status"), ("pods", "log"), ("pods", "eviction")];

/// The refusal of a request on something not modelled, `None` when the sim serves it.
pub fn refusal(target: &Target) -> Option<Response> {
    if !BUILTIN_GROUPS.contains(&group_of(&target.group_version)) {
        return None;
    }
    let spec = super::openapi::spec();
    let resource = &target.resource;
    if !spec.has_resource(&target.group_version, resource, None) {
        return Some(status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let sub = target.subresource.as_deref()?;
    if MODELLED_SUBRESOURCES
        .iter()
        .any(|(r, s)| (*r == "*" || r == resource) && *s == sub)
    {
        return None;
    }
    if !spec.has_resource(&target.group_version, resource, Some(sub)) {
        return Some(status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let group = group_of(&target.group_version);
    let qualified = if group.is_empty() {
        format!("{resource}/{sub}")
    } else {
        format!("{resource}.{group}/{sub}")
    };
    Some(status(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        &format!("{qualified} is not modelled by hk8s-sim"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(path: &str) -> Option<u16> {
        refusal(&Target::parse(path).unwrap()).map(|r| r.status().as_u16())
    }

    #[test]
    fn refuses_what_kubernetes_does_not_have_and_what_the_sim_does_not_model() {
        assert_eq!(code("/apis/apps/v1/namespaces/a/deployments/web"), None);
        assert_eq!(
            code("/apis/apps/v1/namespaces/a/deployments/web/status"),
            None
        );
        assert_eq!(code("/api/v1/namespaces/a/pods/p/log"), None);
        assert_eq!(
            code("/apis/networking.k8s.io/v1/namespaces/a/ingresses"),
            None
        );
        assert_eq!(
            code("/apis/apps/v1/namespaces/a/deployments/web/scale"),
            Some(405)
        );
        assert_eq!(code("/api/v1/namespaces/a/pods/p/exec"), Some(405));
        assert_eq!(code("/api/v1/namespaces/a/pods/p/portforward"), Some(405));
        assert_eq!(code("/apis/apps/v1/namespaces/a/widgets"), Some(404));
        assert_eq!(code("/apis/apps/v7/namespaces/a/deployments"), Some(404));
        assert_eq!(code("/api/v1/namespaces/a/pods/p/frobnicate"), Some(404));
        assert_eq!(code("/apis/example.com/v1/widgets"), None);
    }
}
