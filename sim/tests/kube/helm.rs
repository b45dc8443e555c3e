//! The helm-controller stand-in: a HelmChart is installed by its `helm-install-<name>` Job, an
//! update runs a new job with the next revision, a chart asked to fail fails with a Helm-like
//! message, and deleting the chart runs `helm-delete-<name>` before the chart disappears.

use std::net::Ipv4Addr;

use serde_json::Value;

use super::support::{Cluster, Shape};

const CHARTS: &str = "/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts";
const JOBS: &str = "/apis/batch/v1/namespaces/kube-system/jobs";

fn chart_yaml(name: &str, chart: &str, values: &str) -> String {
    format!(
        "apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata:\n  name: {name}\n  namespace: kube-system\nspec:\n  chart: {chart}\n  repo: https://charts.example.org\n  version: 1.2.3\n  targetNamespace: apps\n  valuesContent: |\n    {values}\n"
    )
}

fn release<'a>(state: &'a Value, name: &str) -> Option<&'a Value> {
    state["kubernetes"][0]["helm_releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
}

#[tokio::test]
async fn helm_charts_install_fail_upgrade_and_uninstall() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 41, 0, 1),
        Shape {
            workers: 0,
            flannel: true,
        },
    )
    .await;
    let ns =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}});
    assert_eq!(
        c.kube("POST", "/api/v1/namespaces", Some(ns)).await.status,
        201
    );

    // Install: the job is active, then succeeds; the chart carries the finalizer and jobName.
    let applied = c
        .apply(
            &format!("{CHARTS}/traefik"),
            "hk8s",
            false,
            &chart_yaml("traefik", "traefik", "replicas: 1"),
        )
        .await;
    assert_eq!(applied.status, 201, "{:?}", applied.body);
    let job = c.get(&format!("{JOBS}/helm-install-traefik")).await;
    assert_eq!(job["status"]["active"], 1);
    assert_eq!(
        job["metadata"]["annotations"]["helm.cattle.io/revision"],
        "1"
    );
    let chart = c.get(&format!("{CHARTS}/traefik")).await;
    assert_eq!(chart["status"]["jobName"], "helm-install-traefik");
    assert_eq!(
        chart["metadata"]["finalizers"][0],
        "wrangler.cattle.io/on-helm-chart-remove"
    );
    assert_eq!(
        release(&c.state().await, "traefik").unwrap()["status"],
        "pending-install"
    );
    c.advance(10).await;
    let job = c.get(&format!("{JOBS}/helm-install-traefik")).await;
    assert_eq!(job["status"]["succeeded"], 1);
    assert_eq!(job["status"]["conditions"][0]["type"], "Complete");
    let secret = c
        .get("/api/v1/namespaces/apps/secrets/sh.helm.release.v1.traefik.v1")
        .await;
    assert_eq!(secret["metadata"]["labels"]["status"], "deployed");
    let state = c.state().await;
    let installed = release(&state, "traefik").unwrap();
    assert_eq!(
        (installed["status"].as_str(), installed["revision"].as_i64()),
        (Some("deployed"), Some(1))
    );
    assert_eq!(
        (installed["chart"].as_str(), installed["version"].as_str()),
        (Some("traefik"), Some("1.2.3"))
    );

    // Update: a new job, revision 2; the previous release secret is superseded.
    c.apply(
        &format!("{CHARTS}/traefik"),
        "hk8s",
        false,
        &chart_yaml("traefik", "traefik", "replicas: 2"),
    )
    .await;
    let job = c.get(&format!("{JOBS}/helm-install-traefik")).await;
    assert_eq!(
        (
            job["status"]["active"].as_i64(),
            job["metadata"]["annotations"]["helm.cattle.io/revision"].as_str()
        ),
        (Some(1), Some("2"))
    );
    c.advance(10).await;
    assert_eq!(
        c.get(&format!("{JOBS}/helm-install-traefik")).await["status"]["succeeded"],
        1
    );
    assert_eq!(release(&c.state().await, "traefik").unwrap()["revision"], 2);
    let v1 = c
        .get("/api/v1/namespaces/apps/secrets/sh.helm.release.v1.traefik.v1")
        .await;
    assert_eq!(v1["metadata"]["labels"]["status"], "superseded");

    // A chart asked to fail (values `hk8sSim: {fail: true}`) fails with the reason.
    c.apply(
        &format!("{CHARTS}/broken"),
        "hk8s",
        false,
        &chart_yaml("broken", "ingress-nginx", "hk8sSim: {fail: true}"),
    )
    .await;
    c.advance(10).await;
    let job = c.get(&format!("{JOBS}/helm-install-broken")).await;
    assert_eq!(job["status"]["failed"], 1);
    let condition = &job["status"]["conditions"][0];
    assert_eq!(condition["type"], "Failed");
    assert!(
        condition["message"]
            .as_str()
            .unwrap()
            .contains("INSTALLATION FAILED"),
        "{condition}"
    );
    let chart = c.get(&format!("{CHARTS}/broken")).await;
    assert_eq!(chart["status"]["conditions"][1]["type"], "Failed");
    assert_eq!(chart["status"]["conditions"][1]["status"], "True");
    assert_eq!(
        release(&c.state().await, "broken").unwrap()["status"],
        "failed"
    );

    // The target namespace must exist, unless createNamespace asks for it.
    let missing = "apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata:\n  name: metrics\n  namespace: kube-system\nspec:\n  chart: metrics-server\n  targetNamespace: monitoring\n";
    c.apply(&format!("{CHARTS}/metrics"), "hk8s", false, missing)
        .await;
    c.advance(10).await;
    let job = c.get(&format!("{JOBS}/helm-install-metrics")).await;
    let message = job["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("namespaces \"monitoring\" not found"),
        "{message}"
    );
    let create = format!("{missing}  createNamespace: true\n");
    c.apply(&format!("{CHARTS}/metrics"), "hk8s", false, &create)
        .await;
    c.advance(10).await;
    assert_eq!(
        c.get(&format!("{JOBS}/helm-install-metrics")).await["status"]["succeeded"],
        1
    );
    assert_eq!(
        c.get("/api/v1/namespaces/monitoring").await["status"]["phase"],
        "Active"
    );

    // Uninstall: deletionTimestamp, the delete job, then the chart and its release are gone.
    let deleted = c.kube("DELETE", &format!("{CHARTS}/traefik"), None).await;
    assert_eq!(deleted.status, 200);
    let chart = c.get(&format!("{CHARTS}/traefik")).await;
    assert!(chart["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        c.get(&format!("{JOBS}/helm-delete-traefik")).await["status"]["active"],
        1
    );
    assert_eq!(
        release(&c.state().await, "traefik").unwrap()["status"],
        "uninstalling"
    );
    c.advance(10).await;
    assert_eq!(
        c.kube("GET", &format!("{CHARTS}/traefik"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        c.get(&format!("{JOBS}/helm-delete-traefik")).await["status"]["succeeded"],
        1
    );
    assert!(release(&c.state().await, "traefik").is_none());
    assert!(
        c.names("/api/v1/namespaces/apps/secrets?labelSelector=owner%3Dhelm,name%3Dtraefik")
            .await
            .is_empty()
    );
    c.stop().await;
}
