//! The create-only review kinds the API server answers without storing anything:
//! `SelfSubjectAccessReview` and `SubjectAccessReview` (`kubectl auth can-i`),
//! `SelfSubjectRulesReview` (`kubectl auth can-i --list`), `SelfSubjectReview`
//! (`kubectl auth whoami`) and `TokenReview`. The sim's authorizer is the one it enforces on
//! every request: members of `system:masters` may do anything, nobody else anything (see
//! [`super::dispatch`]). It issues no bearer tokens, so every `TokenReview` is unauthenticated.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::objects::Target;
use super::{User, ok_json, status};

const MASTERS: &str = "system:masters";

/// The reply to a request for a review kind, or `None` when `target` is not one.
pub fn handle(target: &Target, method: &Method, user: &User, body: &Value) -> Option<Response> {
    let kind = match (target.group_version.as_str(), target.resource.as_str()) {
        ("authorization.k8s.io/v1", "selfsubjectaccessreviews") => "SelfSubjectAccessReview",
        ("authorization.k8s.io/v1", "subjectaccessreviews") => "SubjectAccessReview",
        ("authorization.k8s.io/v1", "localsubjectaccessreviews") => "LocalSubjectAccessReview",
        ("authorization.k8s.io/v1", "selfsubjectrulesreviews") => "SelfSubjectRulesReview",
        ("authentication.k8s.io/v1", "selfsubjectreviews") => "SelfSubjectReview",
        ("authentication.k8s.io/v1", "tokenreviews") => "TokenReview",
        _ => return None,
    };
    if *method != Method::POST || target.name.is_some() {
        return Some(status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            &format!(
                "the server does not allow this method on the requested resource ({} is create-only)",
                target.resource
            ),
        ));
    }
    if !body.is_object() {
        return Some(status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("the body of a {kind} must be a JSON object"),
        ));
    }
    let masters = |groups: &Value| {
        groups
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g == MASTERS))
    };
    let decision = |allowed: bool| {
        if allowed {
            json!({"allowed": true})
        } else {
            json!({"allowed": false, "reason": "hk8s-sim authorizes only members of system:masters"})
        }
    };
    let status_of = match kind {
        // Only members of system:masters get this far (the dispatcher refuses everyone else
        // before any handler), and they may do anything.
        "SelfSubjectAccessReview" => decision(true),
        "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            decision(masters(&body["spec"]["groups"]))
        }
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        "SelfSubjectReview" => {
            json!({"userInfo": {"username": user.name, "groups": user.groups}})
        }
        _ => json!({
            "authenticated": false,
            "user": {},
            "error": "hk8s-sim does not model bearer token authentication: no token is valid",
        }),
    };
    let mut reply = body.clone();
    reply["apiVersion"] = json!(target.group_version);
    reply["kind"] = json!(kind);
    if !reply["metadata"].is_object() {
        reply["metadata"] = json!({});
    }
    reply["status"] = status_of;
    Some(ok_json(StatusCode::CREATED, &reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(resource: &str, gv: &str) -> Target {
        Target::parse(&format!("/apis/{gv}/{resource}")).unwrap()
    }

    async fn body(r: Response) -> (u16, Value) {
        let code = r.status().as_u16();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (code, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn masters_may_and_others_may_not() {
        let admin = User {
            name: "admin".into(),
            groups: vec![MASTERS.into()],
        };
        let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}});
        let t = target("selfsubjectaccessreviews", "authorization.k8s.io/v1");
        let (code, reply) = body(handle(&t, &Method::POST, &admin, &review).unwrap()).await;
        assert_eq!(code, 201);
        assert_eq!(reply["status"]["allowed"], true);
        assert_eq!(reply["spec"], review["spec"]);

        let sar = json!({"spec": {"user": "dev", "groups": ["devs"],
            "resourceAttributes": {"verb": "get", "resource": "pods"}}});
        let t = target("subjectaccessreviews", "authorization.k8s.io/v1");
        let (_, reply) = body(handle(&t, &Method::POST, &admin, &sar).unwrap()).await;
        assert_eq!(reply["status"]["allowed"], false);

        let t = target("selfsubjectreviews", "authentication.k8s.io/v1");
        let (_, reply) = body(handle(&t, &Method::POST, &admin, &json!({})).unwrap()).await;
        assert_eq!(reply["status"]["userInfo"]["username"], "admin");

        let t = target("tokenreviews", "authentication.k8s.io/v1");
        let (_, reply) =
            body(handle(&t, &Method::POST, &admin, &json!({"spec": {"token": "x"}})).unwrap())
                .await;
        assert_eq!(reply["status"]["authenticated"], false);

        let t = target("selfsubjectaccessreviews", "authorization.k8s.io/v1");
        let (code, _) = body(handle(&t, &Method::GET, &admin, &json!({})).unwrap()).await;
        assert_eq!(code, 405);
        assert!(
            handle(
                &target("deployments", "apps/v1"),
                &Method::POST,
                &admin,
                &json!({})
            )
            .is_none()
        );
    }
}
