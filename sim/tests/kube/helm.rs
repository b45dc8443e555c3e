//! Helm through the Kubernetes API: `helm.cattle.io` is not served until helm-controller runs
//! and creates its CRDs; a HelmChart of the sim's own `/charts` repository is installed by its
//! `helm-install-<name>` Job (a Helm 3 release Secret, the chart's Deployment), upgraded by the
//! next job (revision 2), fails with Helm's own words in the job pod's log, and is uninstalled by
//! `helm-delete-<name>` before the chart disappears. The repository serves a real index and
//! chart archives over HTTP.

use std::io::Read;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::support::{Cluster, Shape};

const CHARTS: &str = "/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts";

fn chart(name: &str, repo: &str, version: &str, values: &str) -> Value {
    json!({"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
           "metadata": {"name": name, "namespace": "kube-system"},
           "spec": {"chart": "hello", "repo": repo, "version": version, "targetNamespace": "apps",
                    "createNamespace": true, "valuesContent": values, "backOffLimit": 3}})
}

fn release<'a>(state: &'a Value, name: &str) -> Option<&'a Value> {
    state["kubernetes"][0]["helm_releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
}

fn groups(apis: &Value) -> Vec<String> {
    apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn helm_charts_need_helm_controller_then_install_upgrade_fail_and_uninstall() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 41, 0, 1),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;
    let repo = format!("http://{}/charts", c.sim.handle.addr());

    // No helm-controller: the group is not served at all.
    let discovery = c.kube("GET", "/apis/helm.cattle.io/v1", None).await;
    assert_eq!(discovery.status, 404);
    assert_eq!(
        discovery.body["message"],
        "the server could not find the requested resource"
    );
    assert!(!groups(&c.get("/apis").await).contains(&"helm.cattle.io".to_string()));
    let refused = c
        .apply(
            &format!("{CHARTS}/web"),
            "hk8s",
            true,
            &chart("web", &repo, "1.0.0", "replicas: 2\n").to_string(),
        )
        .await;
    assert_eq!(refused.status, 404, "{:?}", refused.body);

    // helm-controller creates its CRDs when it starts.
    c.deploy_helm_controller().await;
    let crd = c
        .get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/helmcharts.helm.cattle.io")
        .await;
    assert_eq!(crd["spec"]["names"]["kind"], "HelmChart");
    assert!(groups(&c.get("/apis").await).contains(&"helm.cattle.io".to_string()));
    let resources = c.get("/apis/helm.cattle.io/v1").await;
    assert!(
        resources["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "helmchartconfigs")
    );

    // Install from the sim's own repository.
    c.apply_object(&chart("web", &repo, "1.0.0", "replicas: 2\n"))
        .await;
    c.advance(1).await;
    let job = c
        .get("/apis/batch/v1/namespaces/kube-system/jobs/helm-install-web")
        .await;
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["image"],
        hk8s_sim::testing::KLIPPER_HELM_IMAGE
    );
    assert!(c.wait_job("helm-install-web").await);
    let secret = c
        .get("/api/v1/namespaces/apps/secrets/sh.helm.release.v1.web.v1")
        .await;
    assert_eq!(secret["metadata"]["labels"]["status"], "deployed");
    assert_eq!(secret["type"], "helm.sh/release.v1");
    let deployment = c.get("/apis/apps/v1/namespaces/apps/deployments/web").await;
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["metadata"]["labels"]["app.kubernetes.io/instance"],
        "web"
    );
    let state = c.state().await;
    let installed = release(&state, "web").unwrap();
    assert_eq!(
        (
            installed["status"].as_str(),
            installed["revision"].as_i64(),
            installed["version"].as_str()
        ),
        (Some("deployed"), Some(1), Some("1.0.0"))
    );
    let chart_status = c.get(&format!("{CHARTS}/web")).await;
    assert_eq!(chart_status["status"]["jobName"], "helm-install-web");
    assert_eq!(
        chart_status["metadata"]["finalizers"][0],
        "wrangler.cattle.io/on-helm-chart-remove"
    );

    // Upgrade: new version and values, revision 2.
    c.apply_object(&chart("web", &repo, "1.1.0", "replicas: 3\n"))
        .await;
    c.advance(1).await;
    assert!(c.wait_job("helm-install-web").await);
    c.advance(2).await;
    assert_eq!(release(&c.state().await, "web").unwrap()["revision"], 2);
    assert_eq!(
        c.get("/apis/apps/v1/namespaces/apps/deployments/web").await["spec"]["replicas"],
        3
    );
    let v1 = c
        .get("/api/v1/namespaces/apps/secrets/sh.helm.release.v1.web.v1")
        .await;
    assert_eq!(v1["metadata"]["labels"]["status"], "superseded");

    // A values type error: Helm's schema error in the job pod's log, then the Job fails.
    c.apply_object(&chart("broken", &repo, "1.1.0", "replicas: lots\n"))
        .await;
    let mut log = String::new();
    for _ in 0..30 {
        c.advance(2).await;
        let pods = c
            .get("/api/v1/namespaces/kube-system/pods?labelSelector=job-name%3Dhelm-install-broken")
            .await;
        let Some(pod) = pods["items"].as_array().unwrap().first() else {
            continue;
        };
        if pod["status"]["containerStatuses"][0]["restartCount"]
            .as_i64()
            .unwrap_or(0)
            >= 1
        {
            let name = pod["metadata"]["name"].as_str().unwrap();
            let reply = c
                .kube(
                    "GET",
                    &format!("/api/v1/namespaces/kube-system/pods/{name}/log?previous=true"),
                    None,
                )
                .await;
            assert_eq!(reply.status, 200);
            log = c
                .text(&format!(
                    "/api/v1/namespaces/kube-system/pods/{name}/log?previous=true"
                ))
                .await;
            break;
        }
    }
    assert!(
        log.contains("Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) in the following chart(s):\nhello:\n- at '/replicas': got string, want integer"),
        "{log}"
    );
    assert!(!c.wait_job("helm-install-broken").await);
    let job = c
        .get("/apis/batch/v1/namespaces/kube-system/jobs/helm-install-broken")
        .await;
    let failed = job["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Failed")
        .unwrap()
        .clone();
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    c.advance(1).await;
    let broken = c.get(&format!("{CHARTS}/broken")).await;
    assert_eq!(broken["status"]["conditions"][1]["type"], "Failed");
    assert_eq!(broken["status"]["conditions"][1]["status"], "True");
    assert!(release(&c.state().await, "broken").is_none());

    // Uninstall: the delete job, then the chart, its release and its Deployment are gone.
    assert_eq!(
        c.kube("DELETE", &format!("{CHARTS}/web"), None)
            .await
            .status,
        200
    );
    assert!(c.get(&format!("{CHARTS}/web")).await["metadata"]["deletionTimestamp"].is_string());
    let delete_job = c
        .get("/apis/batch/v1/namespaces/kube-system/jobs/helm-delete-web")
        .await;
    assert_eq!(
        delete_job["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["delete"])
    );
    c.wait_gone(&format!("{CHARTS}/web")).await;
    assert_eq!(
        c.kube("GET", "/apis/apps/v1/namespaces/apps/deployments/web", None)
            .await
            .status,
        404
    );
    assert!(release(&c.state().await, "web").is_none());
    assert!(
        c.names("/api/v1/namespaces/apps/secrets?labelSelector=owner%3Dhelm,name%3Dweb")
            .await
            .is_empty()
    );
    let stats = c.sim.stats().await;
    // Every run of Helm counts: web's install and the three failed attempts of broken.
    assert_eq!(
        stats["helm_jobs"],
        json!({"install": 4, "upgrade": 1, "delete": 1}),
        "{stats}"
    );
    c.stop().await;
}

#[tokio::test]
async fn the_charts_repository_serves_an_index_and_chart_archives() {
    let sim = hk8s_sim::testing::TestSim::start(45, &[], |_| {}).await;
    let base = format!("http://{}/charts", sim.handle.addr());
    let http = reqwest::Client::new();
    let index = http.get(format!("{base}/index.yaml")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let index: Value = serde_saphyr::from_str(&index.text().await.unwrap()).unwrap();
    let entries = index["entries"]["hello"].as_array().unwrap();
    let versions: Vec<&str> = entries
        .iter()
        .map(|e| e["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.1.0", "1.0.0"]);
    let archive = http
        .get(format!(
            "{base}/{}",
            entries[1]["urls"][0].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(archive.status(), 200);
    let bytes = archive.bytes().await.unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let mut chart_yaml = String::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == "hello/Chart.yaml" {
            entry.read_to_string(&mut chart_yaml).unwrap();
        }
    }
    let chart: Value = serde_saphyr::from_str(&chart_yaml).unwrap();
    assert_eq!(
        (chart["name"].as_str(), chart["version"].as_str()),
        (Some("hello"), Some("1.0.0"))
    );
    assert_eq!(
        http.get(format!("{base}/hello-9.9.9.tgz"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    sim.handle.shutdown().await.unwrap();
}
