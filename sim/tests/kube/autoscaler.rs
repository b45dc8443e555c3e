//! The cluster-autoscaler stand-in: installed with a valid Hetzner config, it creates servers
//! `<group>-<hex>` for pods that fit on no node (labelled, with the pool's user data and image),
//! which boot and join so the pods run, never beyond `max`; once the pods are gone the nodes are
//! removed down to `min` after the unneeded time. Without a valid token it does nothing and its
//! pod's log says why.

use std::net::Ipv4Addr;

use base64::Engine;
use serde_json::{Value, json};

use super::support::{Cluster, Shape, named_worker_config};

/// Worker user data without a hostname: the node takes its server's name.
fn pool_user_data() -> String {
    named_worker_config("pool").replacen(
        "---\napiVersion: v1alpha1\nkind: HostnameConfig\nhostname: pool\n",
        "",
        1,
    )
}

fn values(c: &Cluster, image: i64, user_data: &str, token_key: &str) -> String {
    let config = json!({"imagesForArch": {"amd64": image.to_string()},
        "nodeConfigs": {"auto": {"cloudInit": user_data, "serverLabels": {"team": "web"}}}});
    let encoded = base64::engine::general_purpose::STANDARD.encode(config.to_string());
    format!(
        "cloudProvider: hetzner\ntolerations:\n  - operator: Exists\nautoscalingGroups:\n  - name: auto\n    minSize: 0\n    maxSize: 2\n    instanceType: cx23\n    region: fsn1\nextraArgs:\n  scale-down-unneeded-time: 2m\n  scale-down-delay-after-add: 2m\nextraEnv:\n  HCLOUD_CLUSTER_CONFIG: {encoded}\n  HCLOUD_NETWORK: \"{}\"\nextraEnvSecrets:\n  HCLOUD_TOKEN:\n    name: hcloud\n    key: {token_key}\n",
        c.network
    )
}

fn deployment(replicas: u32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx",
                    "resources": {"requests": {"cpu": "1200m", "memory": "256Mi"}}}]}}}})
}

async fn auto_servers(c: &Cluster) -> Vec<Value> {
    c.hcloud(
        "GET",
        "/servers?label_selector=hcloud/node-group%3Dauto",
        None,
    )
    .await["servers"]
        .as_array()
        .unwrap()
        .clone()
}

async fn running_web(c: &Cluster) -> usize {
    c.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
        .await["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"]["phase"] == "Running")
        .count()
}

async fn autoscaler_log(c: &Cluster) -> String {
    let pods = c.names("/api/v1/namespaces/kube-system/pods").await;
    let pod = pods
        .iter()
        .find(|p| p.contains("cluster-autoscaler") && !p.starts_with("helm-install"))
        .expect("an autoscaler pod");
    c.text(&format!("/api/v1/namespaces/kube-system/pods/{pod}/log"))
        .await
}

#[tokio::test]
async fn pending_pods_add_pool_servers_up_to_max_and_idle_ones_go_down_to_min() {
    // As on Hetzner: Cilium and the cloud controller run, so nodes (the autoscaler's too) are
    // Ready and initialised, and pods can land on them.
    let c = Cluster::start(
        Ipv4Addr::new(127, 81, 0, 1),
        Shape {
            workers: 1,
            flannel: false,
        },
    )
    .await;
    c.deploy_helm_controller().await;
    c.bootstrap_cilium().await;
    c.install_ccm().await;
    c.advance(30).await;
    let image = c.sim.talos_image("v1.13.9").await;
    let user_data = pool_user_data();
    c.install_chart_with(
        "cluster-autoscaler",
        &values(&c, image, &user_data, "token"),
    )
    .await;
    c.apply_object(&deployment(4)).await;

    // One replica fits on the existing worker; each new cx23 takes one more; max 2.
    for _ in 0..60 {
        c.advance(15).await;
        if running_web(&c).await == 3 {
            break;
        }
    }
    assert_eq!(
        running_web(&c).await,
        3,
        "{}\n{}",
        c.state().await["kubernetes"][0]["autoscaler"],
        c.get("/api/v1/nodes").await["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| format!(
                "{} {} {}",
                n["metadata"]["name"], n["spec"]["taints"], n["status"]["conditions"]
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let servers = auto_servers(&c).await;
    assert_eq!(servers.len(), 2, "never beyond max");
    let dump = c.state().await;
    for s in &servers {
        let name = s["name"].as_str().unwrap();
        let hex = name.strip_prefix("auto-").expect("named <group>-<hex>");
        assert!(!hex.is_empty() && hex.len() <= 16 && hex.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(s["labels"]["team"], "web");
        assert_eq!(s["image"]["id"], image);
        assert_eq!(s["server_type"]["name"], "cx23");
        assert_eq!(s["private_net"][0]["network"], c.network);
        let stored = dump["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == s["id"])
            .expect("the server in /_sim/state");
        assert_eq!(stored["user_data"], user_data.as_str());
    }
    let nodes = c.names("/api/v1/nodes").await;
    for s in &servers {
        assert!(
            nodes.contains(&s["name"].as_str().unwrap().to_string()),
            "{nodes:?}"
        );
    }
    let pending = c
        .get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
        .await["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"]["phase"] == "Pending")
        .count();
    assert_eq!(pending, 1, "the fourth replica waits: the group is at max");
    let stats = c.sim.stats().await;
    assert_eq!(stats["autoscaler_scale_ups"], 2);
    assert!(autoscaler_log(&c).await.contains("Final scale-up plan"));

    // Without the pods the pool's nodes are unneeded and go, down to min (0).
    let reply = c
        .kube(
            "DELETE",
            "/apis/apps/v1/namespaces/default/deployments/web",
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    for _ in 0..80 {
        c.advance(15).await;
        if auto_servers(&c).await.is_empty() {
            break;
        }
    }
    assert!(
        auto_servers(&c).await.is_empty(),
        "{}",
        c.state().await["kubernetes"][0]["autoscaler"]
    );
    c.advance(15).await;
    let nodes = c.names("/api/v1/nodes").await;
    assert_eq!(
        nodes.len(),
        2,
        "only the control plane and the fixed worker stay: {nodes:?}"
    );
    let stats = c.sim.stats().await;
    assert_eq!(stats["autoscaler_scale_downs"], 2);
    c.stop().await;
}

#[tokio::test]
async fn an_autoscaler_without_a_valid_token_creates_nothing_and_says_why() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 82, 0, 1),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;
    let image = c.sim.talos_image("v1.13.9").await;
    c.secret("hcloud", &[("token", "not-the-token")]).await;
    c.install_chart_with(
        "cluster-autoscaler",
        &values(&c, image, &pool_user_data(), "token"),
    )
    .await;
    c.apply_object(&deployment(3)).await;
    for _ in 0..8 {
        c.advance(15).await;
    }
    assert!(auto_servers(&c).await.is_empty());
    let state = c.state().await["kubernetes"][0]["autoscaler"].clone();
    assert_eq!(state["enabled"], false);
    assert!(
        state["error"].as_str().unwrap().contains("unauthorized"),
        "{state}"
    );
    assert!(autoscaler_log(&c).await.contains("unable to authenticate"));
    c.stop().await;
}
