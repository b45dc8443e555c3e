//! What clients rely on beyond plain CRUD, answered as the API server does: server-side dry run
//! (`dryRun=All`, what `kubectl diff` and `--dry-run=server` send) stores nothing, an update
//! with a stale `resourceVersion` conflicts, an update does not create, bodies in a format the
//! sim does not read (CBOR) are a 415, protobuf bodies are read, the namespaces
//! Kubernetes keeps cannot be deleted, and deleting a namespace removes what it holds.

use std::net::Ipv4Addr;

use serde_json::json;

use super::support::{Cluster, Shape};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn config_map(name: &str, value: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"key": value}})
}

#[tokio::test]
async fn dry_runs_store_nothing_and_preconditions_hold() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 50, 0, 1),
        Shape {
            workers: 0,
            flannel: true,
        },
    )
    .await;

    // A dry-run create answers the object as it would be stored; nothing is.
    let dry = c
        .kube(
            "POST",
            &format!("{CMS}?dryRun=All"),
            Some(config_map("app", "one")),
        )
        .await;
    assert_eq!(dry.status, 201, "{:?}", dry.body);
    assert_eq!(dry.body["data"]["key"], "one");
    assert!(dry.body["metadata"]["uid"].is_string());
    assert_eq!(c.kube("GET", &format!("{CMS}/app"), None).await.status, 404);

    let created = c.kube("POST", CMS, Some(config_map("app", "one"))).await;
    assert_eq!(created.status, 201);
    let version = created.body["metadata"]["resourceVersion"].clone();

    // Dry-run update, patch and delete change nothing.
    let mut replaced = created.body.clone();
    replaced["data"]["key"] = json!("two");
    let dry = c
        .kube(
            "PUT",
            &format!("{CMS}/app?dryRun=All"),
            Some(replaced.clone()),
        )
        .await;
    assert_eq!((dry.status, &dry.body["data"]["key"]), (200, &json!("two")));
    let dry = c
        .kube(
            "PATCH",
            &format!("{CMS}/app?dryRun=All"),
            Some(json!({"data": {"key": "three"}})),
        )
        .await;
    assert_eq!(
        (dry.status, &dry.body["data"]["key"]),
        (200, &json!("three"))
    );
    assert_eq!(
        c.kube("DELETE", &format!("{CMS}/app?dryRun=All"), None)
            .await
            .status,
        200
    );
    let stored = c.get(&format!("{CMS}/app")).await;
    assert_eq!(stored["data"]["key"], "one");
    assert_eq!(stored["metadata"]["resourceVersion"], version);

    // An update from a stale read conflicts, in the API server's words.
    let fresh = c
        .kube("PUT", &format!("{CMS}/app"), Some(replaced.clone()))
        .await;
    assert_eq!(fresh.status, 200, "{:?}", fresh.body);
    let stale = c.kube("PUT", &format!("{CMS}/app"), Some(replaced)).await;
    assert_eq!(stale.status, 409, "{:?}", stale.body);
    assert_eq!(stale.body["reason"], "Conflict");
    assert!(
        stale.body["message"].as_str().unwrap().starts_with(
            "Operation cannot be fulfilled on configmaps \"app\": the object has been modified"
        ),
        "{:?}",
        stale.body
    );

    // A CBOR body (client-go can send it) is refused with 415, naming what the sim reads;
    // nothing is created.
    let cbor = c
        .kube_raw(
            "POST",
            CMS,
            "application/cbor",
            b"\xd9\xd9\xf7\xa1\x64kind\x69ConfigMap".to_vec(),
        )
        .await;
    assert_eq!(cbor.status, 415, "{:?}", cbor.body);
    assert_eq!(cbor.body["reason"], "UnsupportedMediaType");
    assert!(cbor.body["message"].as_str().unwrap().contains(
        "accepted media types include: application/json, application/vnd.kubernetes.protobuf"
    ));
    // A protobuf body (what kubectl sends for built-in kinds) is read like its JSON: this one
    // (a `runtime.Unknown` with only its type) is a ConfigMap without a name.
    let protobuf = c
        .kube_raw(
            "POST",
            CMS,
            "application/vnd.kubernetes.protobuf",
            b"k8s\0\n\x0f\n\x02v1\x12\tConfigMap".to_vec(),
        )
        .await;
    assert_eq!(protobuf.status, 422, "{:?}", protobuf.body);
    assert_eq!(protobuf.body["message"], "metadata.name: Required value");

    // An update does not create.
    let missing = c
        .kube(
            "PUT",
            &format!("{CMS}/absent"),
            Some(config_map("absent", "x")),
        )
        .await;
    assert_eq!(
        (missing.status, &missing.body["reason"]),
        (404, &json!("NotFound"))
    );
}

#[tokio::test]
async fn namespaces_kubernetes_keeps_stay_and_others_take_their_contents_along() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 51, 0, 1),
        Shape {
            workers: 0,
            flannel: true,
        },
    )
    .await;
    for ns in ["default", "kube-system", "kube-public"] {
        let refused = c
            .kube("DELETE", &format!("/api/v1/namespaces/{ns}"), None)
            .await;
        assert_eq!(refused.status, 403, "{ns}: {:?}", refused.body);
        assert_eq!(
            refused.body["message"],
            format!("namespaces \"{ns}\" is forbidden: this namespace may not be deleted")
        );
    }
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}});
    assert_eq!(
        c.kube("POST", "/api/v1/namespaces", Some(ns)).await.status,
        201
    );
    let cms = "/api/v1/namespaces/team/configmaps";
    assert_eq!(
        c.kube("POST", cms, Some(config_map("app", "one")))
            .await
            .status,
        201
    );
    assert_eq!(
        c.kube("DELETE", "/api/v1/namespaces/team", None)
            .await
            .status,
        200
    );
    assert_eq!(
        c.kube("GET", "/api/v1/namespaces/team", None).await.status,
        404
    );
    let left = c.get("/api/v1/configmaps").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["metadata"]["namespace"] == "team")
        .count();
    assert_eq!(left, 0, "the namespace's objects went with it");
}
