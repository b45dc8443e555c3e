//! Server-side apply with field ownership (conflicts, force, removal of fields a manager stops
//! applying, managedFields), list selectors on any kind, and the `kubernetes` section of
//! `/_sim/state`.

use std::net::Ipv4Addr;

use serde_json::json;

use super::support::{Cluster, Shape};

const CM: &str = "/api/v1/namespaces/default/configmaps/settings";

fn config_map(data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels:\n    tier: web\ndata:\n{data}"
    )
}

#[tokio::test]
async fn server_side_apply_tracks_field_owners() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 43, 0, 1),
        Shape {
            workers: 0,
            flannel: true,
        },
    )
    .await;
    let first = c
        .apply(
            CM,
            "alice",
            false,
            &config_map("  key: one\n  color: blue\n"),
        )
        .await;
    assert_eq!(first.status, 201, "{:?}", first.body);

    // Another manager changing alice's field conflicts, naming the field and its owner.
    let conflict = c.apply(CM, "bob", false, &config_map("  key: two\n")).await;
    assert_eq!(conflict.status, 409, "{:?}", conflict.body);
    assert_eq!(conflict.body["reason"], "Conflict");
    assert_eq!(
        conflict.body["message"],
        "Apply failed with 1 conflict: conflict with \"alice\": .data.key"
    );
    assert_eq!(c.get(CM).await["data"]["key"], "one");

    // The same value is shared without conflict; force takes the field over.
    assert_eq!(
        c.apply(CM, "carol", false, &config_map("  color: blue\n"))
            .await
            .status,
        200
    );
    let forced = c.apply(CM, "bob", true, &config_map("  key: two\n")).await;
    assert_eq!(forced.status, 200, "{:?}", forced.body);
    assert_eq!(forced.body["data"]["key"], "two");
    let managed = forced.body["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .clone();
    let entry = |m: &str| managed.iter().find(|e| e["manager"] == m).cloned().unwrap();
    assert_eq!(entry("alice")["fieldsV1"]["f:data"], json!({"f:color": {}}));
    assert_eq!(entry("bob")["fieldsV1"]["f:data"], json!({"f:key": {}}));
    assert_eq!(entry("bob")["operation"], "Apply");
    assert_eq!(entry("bob")["apiVersion"], "v1");
    assert!(entry("bob")["time"].is_string());

    // alice stops applying color: carol still owns it, so it stays; when carol stops too, it goes.
    c.apply(CM, "alice", false, &config_map("  extra: x\n"))
        .await;
    assert_eq!(
        c.get(CM).await["data"],
        json!({"key": "two", "color": "blue", "extra": "x"})
    );
    c.apply(CM, "carol", false, &config_map("  other: why\n"))
        .await;
    assert_eq!(
        c.get(CM).await["data"],
        json!({"key": "two", "extra": "x", "other": "why"})
    );

    // List selectors on any kind.
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unrelated", "labels": {"tier": "db"}}});
    assert_eq!(
        c.kube("POST", "/api/v1/namespaces/default/configmaps", Some(other))
            .await
            .status,
        201
    );
    assert_eq!(
        c.names("/api/v1/configmaps?labelSelector=tier%3Dweb").await,
        ["settings"]
    );
    assert_eq!(
        c.names("/api/v1/configmaps?labelSelector=tier%20in%20(web,db)")
            .await,
        ["settings", "unrelated"]
    );
    assert_eq!(
        c.names("/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%21%3Dsettings,metadata.name%21%3Dkube-root-ca.crt")
            .await,
        ["unrelated"]
    );
    // kube-system holds only what the control plane publishes in every namespace.
    assert_eq!(
        c.names("/api/v1/configmaps?fieldSelector=metadata.namespace%3Dkube-system")
            .await,
        ["kube-root-ca.crt"]
    );
    assert_eq!(
        c.kube("GET", "/api/v1/configmaps?fieldSelector=nonsense", None)
            .await
            .status,
        400
    );

    // Malformed objects are refused, and controllers survive oddly typed fields.
    let array = c.kube("PUT", CM, Some(json!([1, 2]))).await;
    assert_eq!(array.status, 400, "{:?}", array.body);
    let patched = c.kube("PATCH", CM, Some(json!({"metadata": "x"}))).await;
    assert_eq!(patched.status, 400, "{:?}", patched.body);
    let applied = c
        .apply(
            CM,
            "alice",
            false,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: x\n",
        )
        .await;
    assert_eq!(applied.status, 400, "{:?}", applied.body);
    let odd = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "odd"},
        "spec": {"replicas": 1, "selector": "x", "template": {"metadata": "x", "spec": "x"}}});
    assert_eq!(
        c.kube(
            "POST",
            "/apis/apps/v1/namespaces/default/deployments",
            Some(odd)
        )
        .await
        .status,
        201
    );
    c.advance(3).await;
    assert_eq!(
        c.get("/apis/apps/v1/namespaces/default/deployments/odd")
            .await["status"]["replicas"],
        1
    );

    // Discovery lists the resources of each group, and eviction for kubectl drain.
    let core = c.get("/api/v1").await;
    let names: Vec<&str> = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"pods/eviction") && names.contains(&"configmaps"),
        "{names:?}"
    );
    let apps = c.get("/apis/apps/v1").await;
    assert!(
        apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "Deployment")
    );
    assert_eq!(
        c.kube("GET", "/apis/nothing.example.org/v1", None)
            .await
            .status,
        404
    );

    // /_sim/state: nodes, object counts by kind, releases and CCM balancers per cluster.
    let state = c.state().await;
    let kube = &state["kubernetes"][0];
    assert_eq!(kube["cluster"], "prod");
    assert_eq!(kube["nodes"][0]["name"], "prod-cp-1");
    assert_eq!(kube["nodes"][0]["ready"], true);
    // The two of the test and `kube-root-ca.crt` in each of the four namespaces.
    assert_eq!(kube["objects"]["ConfigMap"], 6);
    assert_eq!(kube["objects"]["Namespace"], 4);
    assert_eq!(kube["helm_releases"], json!([]));
    assert_eq!(kube["ccm_load_balancers"], json!([]));

    // Once its servers are deleted the cluster is gone, objects and all.
    for (id, _) in &c.servers {
        c.hcloud("DELETE", &format!("/servers/{id}"), None).await;
    }
    let mut clusters = json!(null);
    for _ in 0..100 {
        c.advance(10).await;
        clusters = c.state().await["kubernetes"].clone();
        if clusters == json!([]) {
            break;
        }
    }
    assert_eq!(clusters, json!([]));
    c.stop().await;
}
