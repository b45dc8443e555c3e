//! Watches as clients use them (`kubectl get -w`, `kubectl wait`, the client libraries' watch
//! helpers): events from a list's resourceVersion in order, selectors, `timeoutSeconds`,
//! bookmarks, `410 Expired` for a compacted version; Node watches, kubelet heartbeats and node
//! Leases on the sim clock; then the Python client's `watch.Watch().stream` and kubectl.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::{Value, json};

use super::support::{Cluster, Shape};

/// The most real time a test waits for the next event before it gives up (a hang guard only:
/// events follow the sim clock, which the tests move).
const GUARD: Duration = Duration::from_secs(30);

/// A watch's reply, read one event (line) at a time.
struct Watch {
    reply: reqwest::Response,
    buffer: Vec<u8>,
}

impl Watch {
    async fn open(c: &Cluster, path: &str) -> Watch {
        let reply = c.stream(path).await;
        assert_eq!(reply.status().as_u16(), 200, "GET {path}");
        assert_eq!(
            reply.headers()["content-type"],
            "application/json",
            "GET {path}"
        );
        Watch {
            reply,
            buffer: Vec::new(),
        }
    }

    /// The next event, or `None` once the server ended the stream.
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Some(
                    serde_json::from_slice(&line[..end]).expect("one JSON event per line"),
                );
            }
            match tokio::time::timeout(GUARD, self.reply.chunk()).await {
                Err(_) => panic!(
                    "no watch event (buffered: {:?})",
                    String::from_utf8_lossy(&self.buffer)
                ),
                Ok(Ok(Some(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Ok(None)) => {
                    assert!(self.buffer.is_empty(), "a partial event at the end");
                    return None;
                }
                Ok(Err(e)) => panic!("watch stream broke: {e}"),
            }
        }
    }

    /// The next event as `(type, name)`.
    async fn next_named(&mut self) -> (String, String) {
        let event = self
            .next()
            .await
            .expect("an event, not the end of the stream");
        (
            event["type"].as_str().unwrap_or_default().to_string(),
            event["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    }
}

fn rv(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a numeric resourceVersion: {object}"))
}

fn config_map(name: &str, app: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "labels": {"app": app}}, "data": {"k": value}})
}

async fn create(c: &Cluster, name: &str, app: &str, value: &str) {
    let reply = c
        .kube(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some(config_map(name, app, value)),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
}

async fn patch(c: &Cluster, name: &str, patch: Value) {
    let reply = c
        .kube(
            "PATCH",
            &format!("/api/v1/namespaces/default/configmaps/{name}"),
            Some(patch),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

async fn delete(c: &Cluster, name: &str) {
    let reply = c
        .kube(
            "DELETE",
            &format!("/api/v1/namespaces/default/configmaps/{name}"),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

async fn small_cluster(base: Ipv4Addr, workers: usize) -> Cluster {
    Cluster::start(
        base,
        Shape {
            workers,
            flannel: true,
        },
    )
    .await
}

#[tokio::test]
async fn watches_from_a_list_see_changes_in_order_and_selectors_pick_their_objects() {
    let c = small_cluster(Ipv4Addr::new(127, 92, 0, 1), 0).await;
    create(&c, "before", "web", "0").await;
    let list = c.get("/api/v1/namespaces/default/configmaps").await;
    let from = rv(&list);
    let mut all = Watch::open(
        &c,
        &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={from}"),
    )
    .await;
    // No version: the current objects first, as ADDED. `watch=1` is a watch too.
    let mut web = Watch::open(
        &c,
        "/api/v1/namespaces/default/configmaps?watch=1&labelSelector=app%3Dweb",
    )
    .await;
    assert_eq!(web.next_named().await, ("ADDED".into(), "before".into()));
    // The legacy path, with the field selector `kubectl wait` uses.
    let mut named = Watch::open(
        &c,
        &format!(
            "/api/v1/watch/namespaces/default/configmaps?fieldSelector=metadata.name%3Dx&resourceVersion={from}"
        ),
    )
    .await;

    create(&c, "x", "web", "1").await;
    patch(&c, "x", json!({"data": {"k": "2"}})).await;
    create(&c, "y", "db", "1").await;
    // y starts matching app=web: that watch sees it come in.
    patch(&c, "y", json!({"metadata": {"labels": {"app": "web"}}})).await;
    delete(&c, "x").await;

    let mut events = Vec::new();
    let mut last = from;
    for _ in 0..5 {
        let event = all.next().await.expect("an event");
        let version = rv(&event["object"]);
        assert!(version > last, "versions increase: {event}");
        last = version;
        events.push((
            event["type"].as_str().unwrap().to_string(),
            event["object"]["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_string(),
            event["object"]["data"]["k"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
    }
    let expected = [
        ("ADDED", "x", "1"),
        ("MODIFIED", "x", "2"),
        ("ADDED", "y", "1"),
        ("MODIFIED", "y", "1"),
        ("DELETED", "x", "2"),
    ];
    assert_eq!(
        events,
        expected.map(|(t, n, v)| (t.to_string(), n.to_string(), v.to_string()))
    );
    // The deleted object's version is that of its deletion: newer than anything listed since.
    let now = c.get("/api/v1/namespaces/default/configmaps").await;
    assert!(rv(&now) >= last);

    for expected in [
        ("ADDED", "x"),
        ("MODIFIED", "x"),
        ("ADDED", "y"),
        ("DELETED", "x"),
    ] {
        assert_eq!(
            web.next_named().await,
            (expected.0.to_string(), expected.1.to_string())
        );
    }
    for expected in ["ADDED", "MODIFIED", "DELETED"] {
        assert_eq!(named.next_named().await, (expected.to_string(), "x".into()));
    }
    c.stop().await;
}

#[tokio::test]
async fn timeouts_end_watches_bookmarks_carry_the_version_and_old_versions_expire() {
    let c = small_cluster(Ipv4Addr::new(127, 92, 16, 1), 0).await;
    let created = c
        .kube(
            "POST",
            "/api/v1/namespaces",
            Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "quiet"}})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let list = c.get("/api/v1/namespaces/quiet/configmaps").await;
    let from = rv(&list);
    let mut watch = Watch::open(
        &c,
        &format!(
            "/api/v1/namespaces/quiet/configmaps?watch=true&resourceVersion={from}&timeoutSeconds=90&allowWatchBookmarks=true"
        ),
    )
    .await;
    c.advance(61).await;
    let bookmark = watch.next().await.expect("a bookmark");
    assert_eq!(bookmark["type"], "BOOKMARK", "{bookmark}");
    assert_eq!(bookmark["object"]["kind"], "ConfigMap");
    assert_eq!(bookmark["object"]["apiVersion"], "v1");
    assert!(rv(&bookmark["object"]) >= from);
    c.advance(30).await;
    assert_eq!(watch.next().await, None, "timeoutSeconds=90 ends the watch");

    // A version the sim never handed out.
    let ahead = c
        .stream(&format!(
            "/api/v1/namespaces/quiet/configmaps?watch=true&resourceVersion={}",
            from + 1_000_000
        ))
        .await;
    assert_eq!(ahead.status().as_u16(), 504);
    let body: Value = ahead.json().await.unwrap();
    assert_eq!(body["reason"], "Timeout", "{body}");
    assert_eq!(
        body["details"]["causes"][0]["reason"],
        "ResourceVersionTooLarge"
    );

    // The API server compacts history every 5 minutes to where the previous compaction was.
    for _ in 0..3 {
        c.advance(301).await;
    }
    let mut old = Watch::open(
        &c,
        &format!("/api/v1/namespaces/quiet/configmaps?watch=true&resourceVersion={from}"),
    )
    .await;
    let error = old.next().await.expect("an ERROR event");
    assert_eq!(error["type"], "ERROR", "{error}");
    assert_eq!(error["object"]["kind"], "Status");
    assert_eq!(error["object"]["code"], 410);
    assert_eq!(error["object"]["reason"], "Expired");
    let message = error["object"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("too old resource version: {from} (")),
        "{message}"
    );
    assert_eq!(old.next().await, None);
    // A fresh list's version is good for a watch again.
    let fresh = rv(&c.get("/api/v1/namespaces/quiet/configmaps").await);
    let mut renewed = Watch::open(
        &c,
        &format!("/api/v1/namespaces/quiet/configmaps?watch=true&resourceVersion={fresh}"),
    )
    .await;
    let reply = c
        .kube(
            "POST",
            "/api/v1/namespaces/quiet/configmaps",
            Some(json!({"metadata": {"name": "late"}, "data": {"k": "v"}})),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(renewed.next_named().await, ("ADDED".into(), "late".into()));
    c.stop().await;
}

#[tokio::test]
async fn a_dropped_watch_ends_without_a_final_event_and_resumes_from_its_last_version() {
    let c = Cluster::start_with(
        Ipv4Addr::new(127, 32, 0, 1),
        Shape {
            workers: 0,
            flannel: true,
        },
        "watch_drop=1,seed=5",
    )
    .await;
    let from = rv(&c.get("/api/v1/namespaces/default/configmaps").await);
    let path = "/api/v1/namespaces/default/configmaps?watch=true";
    let mut watch = Watch::open(&c, &format!("{path}&resourceVersion={from}")).await;
    create(&c, "seen", "web", "0").await;
    let event = watch.next().await.expect("the event before the drop");
    assert_eq!(event["type"], "ADDED");
    let last = rv(&event["object"]);
    // A drop comes within a minute of sim time (at time scale 1): the stream just ends, with
    // no ERROR or other final event.
    c.advance(61).await;
    create(&c, "missed", "web", "1").await;
    let mut after_drop = Vec::new();
    while let Some(event) = watch.next().await {
        after_drop.push(event);
    }
    assert!(
        after_drop.iter().all(|e| e["type"] == "ADDED"),
        "nothing but changes before the end: {after_drop:?}"
    );
    let stats = c.sim.stats().await;
    assert_eq!(stats["api_faults"]["watch_drop"], 1, "{stats}");
    // A client resuming from the last version it saw misses nothing (whether or not the
    // change made it out before the drop).
    let mut resumed = Watch::open(&c, &format!("{path}&resourceVersion={last}")).await;
    assert_eq!(
        resumed.next_named().await,
        ("ADDED".into(), "missed".into())
    );
    c.stop().await;
}

#[tokio::test]
async fn a_pod_watch_sees_the_pod_become_ready_with_no_other_kubernetes_request() {
    let c = small_cluster(Ipv4Addr::new(127, 92, 64, 1), 0).await;
    let pods = "/api/v1/namespaces/default/pods";
    let from = rv(&c.get(pods).await);
    // What `kubectl wait --for=condition=Ready pod/web` asks for.
    let mut watch = Watch::open(
        &c,
        &format!("{pods}?watch=true&fieldSelector=metadata.name%3Dweb&resourceVersion={from}&allowWatchBookmarks=true"),
    )
    .await;
    // Tolerating every taint: no CCM initialises the nodes of this cluster.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "app", "image": "nginx"}],
                 "tolerations": [{"operator": "Exists"}]}});
    assert_eq!(c.kube("POST", pods, Some(pod)).await.status, 201);
    assert_eq!(watch.next_named().await, ("ADDED".into(), "web".into()));
    // Only the clock moves (and a Hetzner request): the sim's own loop runs the controllers.
    for _ in 0..4 {
        c.advance(5).await;
    }
    let mut became_ready = false;
    for _ in 0..10 {
        let event = watch.next().await.expect("a pod event");
        assert_eq!(event["type"], "MODIFIED", "{event}");
        let conditions = event["object"]["status"]["conditions"].as_array().cloned();
        if conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
        {
            became_ready = true;
            break;
        }
    }
    assert!(became_ready, "the watch sees the pod become Ready");
    c.stop().await;
}

fn ready(node: &Value) -> (String, String, String) {
    let condition = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .unwrap_or_else(|| panic!("a Ready condition: {node}"));
    let s = |k: &str| condition[k].as_str().unwrap_or_default().to_string();
    (s("status"), s("lastHeartbeatTime"), s("lastTransitionTime"))
}

#[tokio::test]
async fn node_watches_heartbeats_and_leases_follow_the_clock_and_stop_with_the_node() {
    let c = small_cluster(Ipv4Addr::new(127, 92, 32, 1), 1).await;
    let worker = "prod-general-1";
    let node_path = format!("/api/v1/nodes/{worker}");
    let lease_path =
        format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{worker}");

    let lease = c.get(&lease_path).await;
    assert_eq!(lease["spec"]["holderIdentity"], worker);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    assert_eq!(lease["metadata"]["ownerReferences"][0]["kind"], "Node");
    let renewed = lease["spec"]["renewTime"].as_str().unwrap().to_string();
    assert!(renewed.ends_with(".000000Z"), "MicroTime: {renewed}");
    let node = c.get(&node_path).await;
    let (status, heartbeat, transition) = ready(&node);
    assert_eq!(status, "True");
    assert!(heartbeat >= transition);

    // The status is posted every 5 minutes when nothing changes; the lease every 10 s.
    c.advance(300).await;
    let node = c.get(&node_path).await;
    let (_, later, same_transition) = ready(&node);
    assert!(later > heartbeat, "{later} after {heartbeat}");
    assert_eq!(same_transition, transition);
    let lease = c.get(&lease_path).await;
    let renewed = lease["spec"]["renewTime"].as_str().unwrap().to_string();
    c.advance(15).await;
    let lease = c.get(&lease_path).await;
    assert!(lease["spec"]["renewTime"].as_str().unwrap() > renewed.as_str());
    assert_eq!(ready(&c.get(&node_path).await).1, later);

    let list = c.get("/api/v1/nodes").await;
    assert!(
        rv(&list) >= rv(&node),
        "a NodeList's version covers its Nodes"
    );
    let mut watch = Watch::open(
        &c,
        &format!(
            "/api/v1/nodes?watch=true&fieldSelector=metadata.name%3D{worker}&resourceVersion={}",
            rv(&list)
        ),
    )
    .await;
    let server = c.servers[1].0;
    c.hcloud("POST", &format!("/servers/{server}/actions/poweroff"), None)
        .await;
    for _ in 0..4 {
        c.advance(15).await;
    }
    let mut down = None;
    for _ in 0..10 {
        let event = watch.next().await.expect("a Node event");
        assert_eq!(event["type"], "MODIFIED", "{event}");
        assert_eq!(event["object"]["metadata"]["name"], worker);
        if ready(&event["object"]).0 != "True" {
            down = Some(event["object"].clone());
            break;
        }
    }
    let down = down.expect("the watch sees the node go not Ready");
    let (status, stopped_heartbeat, stopped_at) = ready(&down);
    assert_eq!(status, "Unknown");
    assert!(stopped_at > transition);
    assert!(rv(&down) > rv(&list));

    // A stopped kubelet posts nothing and renews nothing.
    let frozen = c.get(&lease_path).await["spec"]["renewTime"].clone();
    c.advance(400).await;
    assert_eq!(c.get(&lease_path).await["spec"]["renewTime"], frozen);
    let (_, heartbeat_now, transition_now) = ready(&c.get(&node_path).await);
    assert_eq!(
        (heartbeat_now, transition_now),
        (stopped_heartbeat, stopped_at)
    );
    // The control plane's kubelet carries on.
    let cp_lease = c
        .get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/prod-cp-1")
        .await;
    assert!(cp_lease["spec"]["renewTime"] != frozen);
    c.stop().await;
}

/// A kubeconfig file for the cluster, in a directory that lives as long as it is held.
fn kubeconfig_file(c: &Cluster) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, c.kubeconfig()).unwrap();
    (dir, path)
}

/// A tool the test needs, or `None` (skipped loudly; an error with `HK8S_REQUIRE_TOOLS=1`).
fn tool(what: &str, found: Option<std::path::PathBuf>) -> Option<std::path::PathBuf> {
    if found.is_none() {
        assert!(
            std::env::var("HK8S_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "HK8S_REQUIRE_TOOLS=1 but {what} is not available"
        );
        eprintln!("\n!!! SKIPPED the {what} watch check: {what} is not available !!!\n");
    }
    found
}

fn python() -> Option<std::path::PathBuf> {
    let venv = std::env::var_os("HK8S_VENV").map(|v| std::path::Path::new(&v).join("bin/python"));
    tool("Python kubernetes client (HK8S_VENV)", venv)
}

fn kubectl() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("kubectl"))
            .find(|p| p.is_file())
    });
    tool("kubectl", found)
}

type Lines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>;
type ErrLines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>;

/// Starts a client process with piped output.
fn spawn(program: &std::path::Path, args: &[&str]) -> (tokio::process::Child, Lines, ErrLines) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let err = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    (child, out, err)
}

/// Reads lines until one satisfies `done`; every line read.
async fn read_until<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    done: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(GUARD, lines.next_line()).await {
            Ok(Ok(Some(line))) => {
                let last = done(&line);
                seen.push(line);
                if last {
                    return seen;
                }
            }
            other => panic!("the client ended or went quiet ({other:?}); it printed {seen:#?}"),
        }
    }
}

#[tokio::test]
async fn the_python_clients_watch_helper_streams_configmap_changes() {
    let Some(python) = python() else {
        return;
    };
    let c = small_cluster(Ipv4Addr::new(127, 92, 48, 1), 0).await;
    create(&c, "marker", "other", "m").await;
    let (_dir, kubeconfig) = kubeconfig_file(&c);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/kube_watch.py");
    let (mut child, mut out, _err) = spawn(
        &python,
        &[script, kubeconfig.to_str().unwrap(), "default", "x"],
    );
    // The helper watches without a version: the current objects come first, so once the marker
    // is printed the watch is open.
    read_until(&mut out, |l| l == "ADDED marker m").await;
    create(&c, "x", "web", "1").await;
    patch(&c, "x", json!({"data": {"k": "2"}})).await;
    delete(&c, "x").await;
    let seen = read_until(&mut out, |l| l.starts_with("DELETED x")).await;
    assert_eq!(seen, ["ADDED x 1", "MODIFIED x 2", "DELETED x 2"]);
    let status = tokio::time::timeout(GUARD, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the helper stops after the deletion");
    c.stop().await;
}

#[tokio::test]
async fn kubectl_get_watch_prints_changes_and_wait_returns_on_delete() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let c = small_cluster(Ipv4Addr::new(127, 93, 0, 1), 0).await;
    create(&c, "x", "web", "1").await;
    let (_dir, kubeconfig) = kubeconfig_file(&c);
    let kubeconfig = format!("--kubeconfig={}", kubeconfig.display());
    // -v=6 logs each request once answered: the watch's headers mean it is open.
    let opened = |l: &str| l.contains("watch=true") && l.contains("200 OK");

    let (mut get, mut out, mut err) = spawn(
        &kubectl,
        &[
            &kubeconfig,
            "-n",
            "default",
            "get",
            "configmaps",
            "-w",
            "-o",
            "custom-columns=NAME:.metadata.name,K:.data.k",
            "-v=6",
        ],
    );
    read_until(&mut err, opened).await;
    patch(&c, "x", json!({"data": {"k": "2"}})).await;
    let printed = read_until(&mut out, |l| {
        l.split_whitespace().collect::<Vec<_>>() == ["x", "2"]
    })
    .await;
    assert!(
        printed
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["x", "1"]),
        "the listed state first: {printed:?}"
    );
    get.kill().await.unwrap();

    let (mut wait, mut out, mut err) = spawn(
        &kubectl,
        &[
            &kubeconfig,
            "-n",
            "default",
            "wait",
            "--for=delete",
            "configmap/x",
            "--timeout=300s",
            "-v=6",
        ],
    );
    read_until(&mut err, opened).await;
    delete(&c, "x").await;
    let printed = read_until(&mut out, |l| l.contains("configmap/x")).await;
    assert_eq!(
        printed.last().map(String::as_str),
        Some("configmap/x condition met")
    );
    let status = tokio::time::timeout(GUARD, wait.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    c.stop().await;
}
