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

#[tokio::test]
async fn objects_get_the_api_servers_defaults_and_typing() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 58, 0, 1),
        Shape {
            workers: 0,
            flannel: true,
        },
    )
    .await;

    // Every namespace has its `default` ServiceAccount and the cluster CA, a new one at once.
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}});
    let created = c.kube("POST", "/api/v1/namespaces", Some(ns)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.body["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team"
    );
    for ns in ["default", "kube-system", "team"] {
        let account = c
            .kube(
                "GET",
                &format!("/api/v1/namespaces/{ns}/serviceaccounts/default"),
                None,
            )
            .await;
        assert_eq!(account.status, 200, "{ns}: {:?}", account.body);
        let ca = c
            .get(&format!(
                "/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"
            ))
            .await;
        let pem = ca["data"]["ca.crt"].as_str().unwrap_or_default();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{ns}: {ca}");
    }
    // The publisher puts it back when it is deleted.
    let path = "/api/v1/namespaces/team/configmaps/kube-root-ca.crt";
    assert_eq!(c.kube("DELETE", path, None).await.status, 200);
    assert_eq!(c.kube("GET", path, None).await.status, 200);

    // The API server's own Service, then a Service of the user's: a cluster IP from the
    // Service CIDR, TCP, targetPort = port.
    let api = c
        .get("/api/v1/namespaces/default/services/kubernetes")
        .await;
    assert_eq!(api["spec"]["clusterIP"], "10.96.0.1");
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
    let svcs = "/api/v1/namespaces/default/services";
    let web = c.kube("POST", svcs, Some(svc)).await;
    assert_eq!(web.status, 201, "{:?}", web.body);
    let ip = web.body["spec"]["clusterIP"].as_str().unwrap_or_default();
    assert!(ip.starts_with("10.96.") && ip != "10.96.0.1", "{ip}");
    assert_eq!(web.body["spec"]["clusterIPs"], json!([ip]));
    assert_eq!(web.body["spec"]["type"], "ClusterIP");
    assert_eq!(
        web.body["spec"]["ports"][0],
        json!({"port": 80, "protocol": "TCP", "targetPort": 80})
    );
    // A second Service asking for the same address is refused as the allocator refuses it.
    let clash = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "clash"},
        "spec": {"clusterIP": ip, "ports": [{"port": 81}]}});
    let refused = c.kube("POST", svcs, Some(clash)).await;
    assert_eq!(
        (refused.status, &refused.body["reason"]),
        (422, &json!("Invalid"))
    );
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("provided IP is already allocated"),
        "{:?}",
        refused.body
    );

    // A Deployment without a strategy rolls 25%/25%, its containers pull as the tag says.
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}});
    let stored = c
        .kube(
            "POST",
            "/apis/apps/v1/namespaces/default/deployments",
            Some(deploy),
        )
        .await;
    assert_eq!(stored.status, 201, "{:?}", stored.body);
    assert_eq!(stored.body["spec"]["replicas"], 1);
    assert_eq!(
        stored.body["spec"]["strategy"]["rollingUpdate"],
        json!({"maxSurge": "25%", "maxUnavailable": "25%"})
    );
    let pod = &stored.body["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(pod["restartPolicy"], "Always");

    // ConfigMap values are strings: the API server's decoder refuses a number.
    let typed = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "port"},
        "data": {"port": 8080}});
    let refused = c.kube("POST", CMS, Some(typed)).await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.body["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
    );
    c.stop().await;
}
