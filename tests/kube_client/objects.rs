//! Generic objects against hk8s-sim: server-side apply creates and updates a Namespace
//! (cluster-scoped) and ConfigMaps (namespaced), get/list/delete them, wait for their state;
//! NotFound, unknown kinds
//! and a non-admin identity (403) are reported as such.

use std::time::Duration;

use hk8s::kube::{
    Deadline, Deletion, Error, KubeClient, KubeCredentials, KubeOptions, ListOptions, Propagation,
};
use hk8s::talos::kubeconfig::{KubeconfigRequest, mint};
use serde_json::{Value, json};

use super::sim_cluster;

fn config_map(name: &str, value: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "hk8s-test", "labels": {"hk8s.io/cluster": "objects"}},
        "data": {"key": value}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_get_list_delete_and_errors() {
    let cluster = sim_cluster::start("objects", "127.51.0.1".parse().unwrap(), 1, 0).await;
    let kube = cluster.client();

    let namespace =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hk8s-test"}});
    let created = kube.apply(&namespace, "hk8s", true).await.unwrap();
    assert_eq!(created["metadata"]["name"], "hk8s-test");

    // Create, then update through the same field manager.
    let first = kube
        .apply(&config_map("settings", "one"), "hk8s", false)
        .await
        .unwrap();
    assert_eq!(first["data"]["key"], "one");
    let second = kube
        .apply(&config_map("settings", "two"), "hk8s", true)
        .await
        .unwrap();
    assert_eq!(second["data"]["key"], "two");
    assert_eq!(
        second["metadata"]["uid"], first["metadata"]["uid"],
        "updated in place"
    );
    assert_eq!(second["metadata"]["managedFields"][0]["manager"], "hk8s");
    kube.apply(&config_map("other", "x"), "hk8s", true)
        .await
        .unwrap();

    let stored = kube
        .get("v1", "ConfigMap", Some("hk8s-test"), "settings")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["data"]["key"], "two");
    let listed = kube
        .list(
            "v1",
            "ConfigMap",
            Some("hk8s-test"),
            &ListOptions::default(),
        )
        .await
        .unwrap();
    // Every namespace also holds the cluster CA the control plane publishes.
    let mut names: Vec<&str> = listed
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .filter(|n| *n != "kube-root-ca.crt")
        .collect();
    names.sort();
    assert_eq!(names, ["other", "settings"]);
    let mut unlabelled = config_map("unlabelled", "y");
    unlabelled["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("labels");
    kube.apply(&unlabelled, "hk8s", true).await.unwrap();
    let selected = kube
        .list(
            "v1",
            "ConfigMap",
            Some("hk8s-test"),
            &ListOptions::default().labels("hk8s.io/cluster=objects"),
        )
        .await
        .unwrap();
    let mut names: Vec<&str> = selected
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["other", "settings"]);
    let everywhere = kube
        .list("v1", "ConfigMap", None, &ListOptions::default())
        .await
        .unwrap();
    assert!(everywhere.len() >= 2);

    // Waiting for an object's state: met at once, or a timeout with the condition's answer.
    let short = || Deadline::after(Duration::from_secs(1));
    let has_two = |o: Option<&Value>| match o {
        Some(o) if o["data"]["key"] == "two" => None,
        Some(o) => Some(format!("data.key is {}", o["data"]["key"])),
        None => Some("absent".to_string()),
    };
    let seen = kube
        .wait_object(
            "v1",
            "ConfigMap",
            Some("hk8s-test"),
            "settings",
            "at two",
            &short(),
            has_two,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen["data"]["key"], "two");
    let err = kube
        .wait_object(
            "v1",
            "ConfigMap",
            Some("hk8s-test"),
            "other",
            "at two",
            &short(),
            has_two,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().ends_with("waiting for ConfigMap hk8s-test/other to be at two; still pending: ConfigMap hk8s-test/other: data.key is \"x\""),
        "{err}"
    );
    let err = kube
        .wait_object(
            "example.com/v1",
            "Widget",
            Some("default"),
            "w",
            "present",
            &short(),
            |o| o.is_none().then(|| "absent".to_string()),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().ends_with(
            "still pending: Widget default/w: kind Widget is not served by example.com/v1 yet"
        ),
        "{err}"
    );

    // Delete; deleting again or reading a missing object is not an error.
    assert_eq!(
        kube.delete(
            "v1",
            "ConfigMap",
            Some("hk8s-test"),
            "settings",
            Some(Propagation::Background)
        )
        .await
        .unwrap(),
        Deletion::Requested
    );
    let gone = kube
        .wait_object(
            "v1",
            "ConfigMap",
            Some("hk8s-test"),
            "settings",
            "deleted",
            &Deadline::after(Duration::from_secs(10)),
            |o| o.map(|_| "still present".to_string()),
        )
        .await
        .unwrap();
    assert_eq!(gone, None);
    assert_eq!(
        kube.get("v1", "ConfigMap", Some("hk8s-test"), "settings")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        kube.delete("v1", "ConfigMap", Some("hk8s-test"), "settings", None)
            .await
            .unwrap(),
        Deletion::AlreadyGone
    );

    // Arguments the client cannot send, and kinds the cluster does not serve.
    let err = kube
        .get("v1", "ConfigMap", None, "settings")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidObject { .. }), "{err:?}");
    let err = kube
        .get("example.com/v1", "Widget", Some("default"), "w")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownKind { api_version, .. } if api_version == "example.com/v1"),
        "{err:?}"
    );
    let err = kube
        .get("v1", "Widget", Some("default"), "w")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownKind { .. }), "{err:?}");

    // A valid certificate outside system:masters is refused with 403, and the error says who.
    let developer = mint(
        &cluster.secrets,
        &KubeconfigRequest {
            cluster_name: "objects".into(),
            server: cluster.credentials.server.clone(),
            username: "bob".into(),
            groups: vec!["developers".into()],
            ttl: time::Duration::hours(1),
        },
        time::OffsetDateTime::now_utc() - time::Duration::minutes(5),
        &mut rand::rng(),
    )
    .unwrap();
    let credentials = KubeCredentials::from_kubeconfig(&developer.yaml).unwrap();
    let bob = KubeClient::new(&credentials, KubeOptions::default()).unwrap();
    let err = bob.list_nodes().await.unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    assert!(err.to_string().contains("User \"bob\" cannot get"), "{err}");
    let err = bob
        .apply(&config_map("settings", "three"), "hk8s", true)
        .await
        .unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    assert!(!err.is_transient());
    cluster.sim.handle.shutdown().await.unwrap();
}
