//! Chart effects: Cilium makes the nodes of a cluster without flannel Ready; the hcloud CCM,
//! once its Secret carries a token the sim's API accepts, initialises the nodes (provider ids,
//! labels, addresses, the `uninitialized` taint lifted), routes the pod CIDRs through the
//! network, and turns Services of type LoadBalancer into Hetzner load balancers visible in the
//! Hetzner API (and deletes them with the Service), counting its API calls. Once the CCM is
//! uninstalled, its balancers stay.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::support::{CCM_VALUES, Cluster, Shape};

const CHARTS: &str = "/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts";
const UNINITIALIZED: &str = "node.cloudprovider.kubernetes.io/uninitialized";

fn ready(node: &Value) -> bool {
    node["status"]["conditions"][0]["status"] == "True"
}

fn has_taint(node: &Value, key: &str) -> bool {
    node["spec"]["taints"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["key"] == key)
}

fn service(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "annotations": annotations},
           "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "https", "port": 443, "targetPort": 8443}]}})
}

/// The balancers the CCM made (not the cluster's API load balancer).
async fn load_balancers(c: &Cluster) -> Vec<Value> {
    c.hcloud("GET", "/load_balancers", None).await["load_balancers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["labels"]["hcloud-ccm/service-uid"].is_string())
        .cloned()
        .collect()
}

async fn nodes(c: &Cluster) -> Vec<Value> {
    c.get("/api/v1/nodes").await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn cilium_and_ccm_charts_make_nodes_ready_and_serve_load_balancers() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 42, 0, 1),
        Shape {
            workers: 1,
            flannel: false,
        },
    )
    .await;
    let initial = nodes(&c).await;
    assert!(initial.iter().all(|n| !ready(n)), "no CNI yet");
    assert!(
        initial
            .iter()
            .all(|n| has_taint(n, UNINITIALIZED) && n["spec"]["providerID"].is_null())
    );

    // Cilium: Ready once its agents run (installed by a bootstrap job on the host network, as
    // helm-controller's own jobs have no pod network yet).
    c.deploy_helm_controller().await;
    assert!(
        c.get("/api/v1/nodes").await["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !ready(n)),
        "not before Cilium runs"
    );
    c.bootstrap_cilium().await;
    assert!(
        c.get("/api/v1/nodes").await["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(ready)
    );

    // The CCM with a token the API refuses: it cannot start, nodes stay uninitialised.
    c.secret(
        "hcloud",
        &[
            ("token", "not-the-project-token"),
            ("network", &c.network.to_string()),
        ],
    )
    .await;
    c.install_chart_with("hcloud-cloud-controller-manager", CCM_VALUES)
        .await;
    c.advance(30).await;
    assert!(
        nodes(&c)
            .await
            .iter()
            .all(|n| has_taint(n, UNINITIALIZED) && n["spec"]["providerID"].is_null())
    );
    let state = c.state().await;
    assert_eq!(state["kubernetes"][0]["ccm"]["running"], false);
    assert_eq!(
        state["kubernetes"][0]["ccm"]["error"],
        "hcloud/newCloud: unable to authenticate (unauthorized)"
    );
    assert_eq!(
        c.hcloud("GET", &format!("/networks/{}", c.network), None)
            .await["network"]["routes"],
        json!([])
    );

    // The project's token: provider ids from the server ids, the node controller's labels and
    // addresses, the uninitialized taint lifted.
    c.secret(
        "hcloud",
        &[
            ("token", hk8s_sim::testing::TOKEN),
            ("network", &c.network.to_string()),
        ],
    )
    .await;
    c.advance(10).await;
    let network = c
        .hcloud("GET", &format!("/networks/{}", c.network), None)
        .await["network"]
        .clone();
    for node in nodes(&c).await {
        let name = node["metadata"]["name"].as_str().unwrap();
        let (server, _) = c.servers.iter().find(|(_, n)| n == name).unwrap();
        assert_eq!(node["spec"]["providerID"], format!("hcloud://{server}"));
        assert!(!has_taint(&node, UNINITIALIZED), "{node}");
        let labels = &node["metadata"]["labels"];
        assert_eq!(labels["node.kubernetes.io/instance-type"], "cx23");
        assert_eq!(labels["topology.kubernetes.io/region"], "fsn1");
        assert_eq!(labels["topology.kubernetes.io/zone"], "fsn1-dc14");
        assert_eq!(labels["instance.hetzner.cloud/provided-by"], "cloud");
        let server_json =
            c.hcloud("GET", &format!("/servers/{server}"), None).await["server"].clone();
        let private_ip = server_json["private_net"][0]["ip"].clone();
        assert_eq!(
            node["status"]["addresses"],
            json!([{"type": "Hostname", "address": name},
                   {"type": "ExternalIP", "address": server_json["public_net"]["ipv4"]["ip"]},
                   {"type": "InternalIP", "address": private_ip}])
        );
        // The route controller: the node's pod CIDR through its private IP.
        let pod_cidr = node["spec"]["podCIDR"].clone();
        assert!(pod_cidr.is_string(), "{node}");
        assert!(
            network["routes"]
                .as_array()
                .unwrap()
                .contains(&json!({"destination": pod_cidr, "gateway": private_ip})),
            "{network}"
        );
    }
    assert_eq!(network["routes"].as_array().unwrap().len(), c.servers.len());
    let stats = c.sim.stats().await;
    let ccm = &stats["ccm_requests"];
    // A refused token fails the network lookup, before the locations list of a good start.
    assert_eq!(ccm["GET /locations"], 1, "{ccm}");
    assert!(ccm["GET /networks/{id}"].as_u64().unwrap() >= 2, "{ccm}");
    assert_eq!(
        ccm["POST /networks/{id}/actions/add_route"],
        c.servers.len(),
        "{ccm}"
    );

    // A route removed behind the CCM's back comes back at the route controller's next period
    // (10 s), not at every pass of the sim: with the clock stopped, however long the sim runs,
    // the CCM spends no more of the project's rate limit.
    let route = &network["routes"][0];
    // Until the network's running actions (the CCM's add_route) finish, it is locked.
    for _ in 0..20 {
        let running = c
            .hcloud(
                "GET",
                &format!("/networks/{}/actions?status=running", c.network),
                None,
            )
            .await;
        if running["actions"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        c.advance(5).await;
    }
    c.hcloud(
        "POST",
        &format!("/networks/{}/actions/delete_route", c.network),
        Some(route.clone()),
    )
    .await;
    let before = c.sim.stats().await["ccm_requests"].clone();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let idle = c.sim.stats().await["ccm_requests"].clone();
    assert!(
        idle["GET /networks/{id}"].as_u64() <= before["GET /networks/{id}"].as_u64().map(|n| n + 1),
        "{before} then {idle}"
    );
    c.advance(10).await;
    let restored = c
        .hcloud("GET", &format!("/networks/{}", c.network), None)
        .await["network"]["routes"]
        .clone();
    assert!(restored.as_array().unwrap().contains(route), "{restored}");

    // A LoadBalancer Service becomes a Hetzner load balancer named and labelled like the CCM's.
    let created = c
        .kube(
            "POST",
            "/api/v1/namespaces/default/services",
            Some(service("web", json!({}))),
        )
        .await;
    assert_eq!(created.status, 201);
    let uid = created.body["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let svc = c.get("/api/v1/namespaces/default/services/web").await;
    let lbs = load_balancers(&c).await;
    assert_eq!(lbs.len(), 1, "{lbs:?}");
    let lb = &lbs[0];
    let expected_name: String = format!("a{}", uid.replace('-', ""))
        .chars()
        .take(32)
        .collect();
    assert_eq!(lb["name"], expected_name);
    assert_eq!(lb["labels"]["hcloud-ccm/service-uid"], uid.as_str());
    assert_eq!(lb["location"]["name"], "fsn1");
    assert_eq!(lb["private_net"][0]["network"], c.network);
    let ports: Vec<(i64, i64)> = lb["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["listen_port"].as_i64().unwrap(),
                s["destination_port"].as_i64().unwrap(),
            )
        })
        .collect();
    let node_ports: Vec<(i64, i64)> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["port"].as_i64().unwrap(), p["nodePort"].as_i64().unwrap()))
        .collect();
    assert_eq!(ports, node_ports);
    assert!(
        lb["services"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["protocol"] == "tcp")
    );
    let mut targets: Vec<i64> = lb["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["server"]["id"].as_i64().unwrap())
        .collect();
    targets.sort();
    // Talos labels control planes `node.kubernetes.io/exclude-from-external-load-balancers`.
    let mut servers: Vec<i64> = c.servers[1..].iter().map(|(id, _)| *id).collect();
    servers.sort();
    assert_eq!(targets, servers);
    assert!(
        lb["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["use_private_ip"] == true)
    );
    assert_eq!(
        svc["status"]["loadBalancer"]["ingress"][0]["ip"],
        lb["public_net"]["ipv4"]["ip"]
    );

    // Annotations choose the name and the location.
    let named = service(
        "api",
        json!({"load-balancer.hetzner.cloud/name": "prod-ingress", "load-balancer.hetzner.cloud/location": "hel1"}),
    );
    assert_eq!(
        c.kube("POST", "/api/v1/namespaces/default/services", Some(named))
            .await
            .status,
        201
    );
    c.get("/api/v1/nodes").await;
    let lbs = load_balancers(&c).await;
    let custom = lbs
        .iter()
        .find(|l| l["name"] == "prod-ingress")
        .expect("annotated balancer");
    assert_eq!(custom["location"]["name"], "hel1");
    assert_eq!(
        c.sim.stats().await["ccm_requests"]["POST /load_balancers"],
        2
    );
    let state = c.state().await;
    assert_eq!(
        state["kubernetes"][0]["ccm_load_balancers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Deleting the Service deletes its balancer.
    assert_eq!(
        c.kube("DELETE", "/api/v1/namespaces/default/services/web", None)
            .await
            .status,
        200
    );
    c.get("/api/v1/nodes").await;
    let names: Vec<Value> = load_balancers(&c)
        .await
        .iter()
        .map(|l| l["name"].clone())
        .collect();
    assert_eq!(names, [json!("prod-ingress")]);

    // Without the CCM, balancers stay even when their Service goes.
    assert_eq!(
        c.kube(
            "DELETE",
            &format!("{CHARTS}/hcloud-cloud-controller-manager"),
            None
        )
        .await
        .status,
        200
    );
    c.wait_gone(&format!("{CHARTS}/hcloud-cloud-controller-manager"))
        .await;
    let node = &c.get("/api/v1/nodes").await["items"][0];
    assert!(
        node["spec"]["providerID"].is_string(),
        "initialized nodes keep their provider id"
    );
    assert_eq!(
        c.kube("DELETE", "/api/v1/namespaces/default/services/api", None)
            .await
            .status,
        200
    );
    c.advance(1).await;
    assert_eq!(
        load_balancers(&c).await.len(),
        1,
        "the orphaned balancer stays for the provider to clean up"
    );
    c.stop().await;
}
