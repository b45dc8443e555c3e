//! Server-side tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, what `kubectl get`
//! asks for): the columns of the API server's printers for the common kinds (nodes, pods,
//! deployments, replicasets, statefulsets, daemonsets, jobs, services, configmaps, secrets,
//! namespaces), `Name`/`Age` for any other kind. Ages are written as the API server writes them
//! (apimachinery's `HumanDuration`) against the sim clock. Rows carry the object as
//! `includeObject` asks (`Metadata` by default: a `PartialObjectMetadata`).

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Whether an Accept header asks for a `meta.k8s.io/v1` Table.
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|clause| {
        let params: Vec<&str> = clause.split(';').map(str::trim).collect();
        params.first() == Some(&"application/json")
            && params.contains(&"as=Table")
            && params.contains(&"v=v1")
            && params.contains(&"g=meta.k8s.io")
    })
}

/// The Table of an object or a list of objects (`None` for anything else, e.g. a Status).
pub fn table(reply: &Value, include_object: Option<&str>, now: &str) -> Option<Value> {
    let now = OffsetDateTime::parse(now, &Rfc3339).ok()?;
    let kind = reply["kind"].as_str()?;
    let (items, kind, metadata) = if let Some(items) = reply["items"].as_array() {
        let kind = kind.strip_suffix("List").unwrap_or(kind);
        let kind = items
            .first()
            .and_then(|i| i["kind"].as_str())
            .unwrap_or(kind);
        let mut meta = json!({});
        for key in ["resourceVersion", "continue", "remainingItemCount"] {
            if let Some(v) = reply["metadata"].get(key) {
                meta[key] = v.clone();
            }
        }
        (items.clone(), kind.to_string(), meta)
    } else if reply["metadata"].is_object() && kind != "Status" {
        let meta = json!({"resourceVersion": reply["metadata"]["resourceVersion"]});
        (vec![reply.clone()], kind.to_string(), meta)
    } else {
        return None;
    };
    let printer = printer(&kind);
    let columns: Vec<Value> = printer
        .iter()
        .map(|(name, priority, _)| {
            let mut c = json!({"name": name, "type": "string", "format": "", "description": description(name), "priority": priority});
            if *name == "Name" {
                c["format"] = json!("name");
            }
            c
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let cells: Vec<Value> = printer.iter().map(|(_, _, cell)| cell(obj, now)).collect();
            let mut row = json!({"cells": cells});
            match include_object.unwrap_or("Metadata") {
                "None" => {}
                "Object" => row["object"] = obj.clone(),
                _ => {
                    row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]});
                }
            }
            row
        })
        .collect();
    Some(
        json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
        "columnDefinitions": columns, "rows": rows}),
    )
}

type Cell = fn(&Value, OffsetDateTime) -> Value;

fn description(column: &str) -> &'static str {
    match column {
        "Name" => {
            "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
        }
        "Age" => {
            "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC."
        }
        _ => "",
    }
}

/// `(column, priority, cell)` of each column of a kind's printer (priority 1 = `-o wide`).
fn printer(kind: &str) -> Vec<(&'static str, u8, Cell)> {
    match kind {
        "Node" => vec![
            ("Name", 0, name),
            ("Status", 0, node_status),
            ("Roles", 0, node_roles),
            ("Age", 0, age),
            ("Version", 0, |o, _| {
                text(&o["status"]["nodeInfo"]["kubeletVersion"])
            }),
            ("Internal-IP", 1, |o, _| node_address(o, "InternalIP")),
            ("External-IP", 1, |o, _| node_address(o, "ExternalIP")),
            ("OS-Image", 1, |o, _| {
                or_unknown(&o["status"]["nodeInfo"]["osImage"])
            }),
            ("Kernel-Version", 1, |o, _| {
                or_unknown(&o["status"]["nodeInfo"]["kernelVersion"])
            }),
            ("Container-Runtime", 1, |o, _| {
                or_unknown(&o["status"]["nodeInfo"]["containerRuntimeVersion"])
            }),
        ],
        "Pod" => vec![
            ("Name", 0, name),
            ("Ready", 0, pod_ready),
            ("Status", 0, pod_status),
            ("Restarts", 0, pod_restarts),
            ("Age", 0, age),
            ("IP", 1, |o, _| or_none(&o["status"]["podIP"])),
            ("Node", 1, |o, _| or_none(&o["spec"]["nodeName"])),
            ("Nominated Node", 1, |o, _| {
                or_none(&o["status"]["nominatedNodeName"])
            }),
            ("Readiness Gates", 1, |_, _| json!("<none>")),
        ],
        "Deployment" => vec![
            ("Name", 0, name),
            ("Ready", 0, |o, _| {
                json!(format!(
                    "{}/{}",
                    int(&o["status"]["readyReplicas"]),
                    int(&o["spec"]["replicas"])
                ))
            }),
            ("Up-to-date", 0, |o, _| {
                json!(int(&o["status"]["updatedReplicas"]))
            }),
            ("Available", 0, |o, _| {
                json!(int(&o["status"]["availableReplicas"]))
            }),
            ("Age", 0, age),
            ("Containers", 1, containers),
            ("Images", 1, images),
            ("Selector", 1, selector),
        ],
        "ReplicaSet" => vec![
            ("Name", 0, name),
            ("Desired", 0, |o, _| json!(int(&o["spec"]["replicas"]))),
            ("Current", 0, |o, _| json!(int(&o["status"]["replicas"]))),
            ("Ready", 0, |o, _| json!(int(&o["status"]["readyReplicas"]))),
            ("Age", 0, age),
            ("Containers", 1, containers),
            ("Images", 1, images),
            ("Selector", 1, selector),
        ],
        "StatefulSet" => vec![
            ("Name", 0, name),
            ("Ready", 0, |o, _| {
                json!(format!(
                    "{}/{}",
                    int(&o["status"]["readyReplicas"]),
                    int(&o["spec"]["replicas"])
                ))
            }),
            ("Age", 0, age),
            ("Containers", 1, containers),
            ("Images", 1, images),
        ],
        "DaemonSet" => vec![
            ("Name", 0, name),
            ("Desired", 0, |o, _| {
                json!(int(&o["status"]["desiredNumberScheduled"]))
            }),
            ("Current", 0, |o, _| {
                json!(int(&o["status"]["currentNumberScheduled"]))
            }),
            ("Ready", 0, |o, _| json!(int(&o["status"]["numberReady"]))),
            ("Up-to-date", 0, |o, _| {
                json!(int(&o["status"]["updatedNumberScheduled"]))
            }),
            ("Available", 0, |o, _| {
                json!(int(&o["status"]["numberAvailable"]))
            }),
            ("Node Selector", 0, |o, _| {
                json!(labels(&o["spec"]["template"]["spec"]["nodeSelector"]))
            }),
            ("Age", 0, age),
            ("Containers", 1, containers),
            ("Images", 1, images),
            ("Selector", 1, selector),
        ],
        "Job" => vec![
            ("Name", 0, name),
            ("Status", 0, job_status),
            ("Completions", 0, job_completions),
            ("Duration", 0, job_duration),
            ("Age", 0, age),
            ("Containers", 1, containers),
            ("Images", 1, images),
            ("Selector", 1, selector),
        ],
        "Service" => vec![
            ("Name", 0, name),
            ("Type", 0, |o, _| {
                json!(o["spec"]["type"].as_str().unwrap_or("ClusterIP"))
            }),
            ("Cluster-IP", 0, |o, _| or_none(&o["spec"]["clusterIP"])),
            ("External-IP", 0, service_external_ip),
            ("Port(s)", 0, service_ports),
            ("Age", 0, age),
            ("Selector", 1, |o, _| json!(labels(&o["spec"]["selector"]))),
        ],
        "ConfigMap" => vec![
            ("Name", 0, name),
            ("Data", 0, |o, _| {
                json!(len(&o["data"]) + len(&o["binaryData"]))
            }),
            ("Age", 0, age),
        ],
        "Secret" => vec![
            ("Name", 0, name),
            ("Type", 0, |o, _| text(&o["type"])),
            ("Data", 0, |o, _| json!(len(&o["data"]))),
            ("Age", 0, age),
        ],
        "Namespace" => vec![
            ("Name", 0, name),
            ("Status", 0, |o, _| text(&o["status"]["phase"])),
            ("Age", 0, age),
        ],
        _ => vec![("Name", 0, name), ("Age", 0, age)],
    }
}

fn name(o: &Value, _: OffsetDateTime) -> Value {
    text(&o["metadata"]["name"])
}

fn text(v: &Value) -> Value {
    json!(v.as_str().unwrap_or_default())
}

fn or_none(v: &Value) -> Value {
    json!(v.as_str().filter(|s| !s.is_empty()).unwrap_or("<none>"))
}

fn or_unknown(v: &Value) -> Value {
    json!(v.as_str().filter(|s| !s.is_empty()).unwrap_or("<unknown>"))
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn len(v: &Value) -> usize {
    v.as_object().map_or(0, |m| m.len())
}

/// `labels.FormatLabels`: `a=b,c=d`, `<none>` when empty.
fn labels(v: &Value) -> String {
    let pairs: Vec<String> = v
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

fn parse(v: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(v.as_str()?, &Rfc3339).ok()
}

fn age(o: &Value, now: OffsetDateTime) -> Value {
    json!(since(&o["metadata"]["creationTimestamp"], now))
}

/// `translateTimestampSince`.
fn since(v: &Value, now: OffsetDateTime) -> String {
    match parse(v) {
        Some(t) => human_duration((now - t).whole_seconds()),
        None => "<unknown>".into(),
    }
}

/// apimachinery's `duration.HumanDuration`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn condition<'a>(o: &'a Value, kind: &str) -> Option<&'a Value> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn node_status(o: &Value, _: OffsetDateTime) -> Value {
    let mut status = match condition(o, "Ready").and_then(|c| c["status"].as_str()) {
        Some("True") => "Ready",
        Some("False") => "NotReady",
        _ => "Unknown",
    }
    .to_string();
    if o["spec"]["unschedulable"] == true {
        status.push_str(",SchedulingDisabled");
    }
    json!(status)
}

fn node_roles(o: &Value, _: OffsetDateTime) -> Value {
    let mut roles: Vec<String> = Vec::new();
    for (k, v) in o["metadata"]["labels"].as_object().into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.push(role.to_string());
            }
        } else if k == "kubernetes.io/role"
            && let Some(role) = v.as_str().filter(|r| !r.is_empty())
        {
            roles.push(role.to_string());
        }
    }
    roles.sort();
    roles.dedup();
    json!(if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    })
}

fn node_address(o: &Value, kind: &str) -> Value {
    let found = o["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == kind)
        .and_then(|a| a["address"].as_str());
    json!(found.unwrap_or("<none>"))
}

fn statuses(o: &Value) -> Vec<&Value> {
    o["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .collect()
}

fn pod_ready(o: &Value, _: OffsetDateTime) -> Value {
    let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
    let ready = statuses(o).iter().filter(|s| s["ready"] == true).count();
    json!(format!("{ready}/{total}"))
}

/// The reason `printPod` shows: the phase, overridden by the pod's reason, a waiting or
/// terminated container's reason, or `Terminating`.
fn pod_status(o: &Value, _: OffsetDateTime) -> Value {
    let mut reason = o["status"]["reason"]
        .as_str()
        .or_else(|| o["status"]["phase"].as_str())
        .unwrap_or("Unknown")
        .to_string();
    let mut running = false;
    for s in statuses(o).iter().rev() {
        if let Some(r) = s["state"]["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            reason = r.to_string();
        } else if s["state"]["terminated"].is_object() {
            let t = &s["state"]["terminated"];
            reason = match t["reason"].as_str().filter(|r| !r.is_empty()) {
                Some(r) => r.to_string(),
                None if int(&t["signal"]) != 0 => format!("Signal:{}", int(&t["signal"])),
                None => format!("ExitCode:{}", int(&t["exitCode"])),
            };
        } else if s["ready"] == true && s["state"]["running"].is_object() {
            running = true;
        }
    }
    if reason == "Completed" && running {
        reason = "Running".into();
    }
    if o["metadata"]["deletionTimestamp"].is_string() {
        reason = if o["status"]["reason"] == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    json!(reason)
}

fn pod_restarts(o: &Value, now: OffsetDateTime) -> Value {
    let mut restarts = 0;
    let mut last: Option<OffsetDateTime> = None;
    for s in statuses(o) {
        restarts += int(&s["restartCount"]);
        if let Some(t) = parse(&s["lastState"]["terminated"]["finishedAt"]) {
            last = Some(last.map_or(t, |l| l.max(t)));
        }
    }
    json!(match last {
        Some(t) if restarts > 0 => format!(
            "{restarts} ({} ago)",
            human_duration((now - t).whole_seconds())
        ),
        _ => restarts.to_string(),
    })
}

fn pod_template(o: &Value) -> &Value {
    &o["spec"]["template"]["spec"]["containers"]
}

fn containers(o: &Value, _: OffsetDateTime) -> Value {
    join(pod_template(o), "name")
}

fn images(o: &Value, _: OffsetDateTime) -> Value {
    join(pod_template(o), "image")
}

fn join(list: &Value, field: &str) -> Value {
    let names: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c[field].as_str())
        .collect();
    json!(names.join(","))
}

/// `metav1.LabelSelectorAsSelector(...).String()` for `matchLabels` and simple expressions.
fn selector(o: &Value, _: OffsetDateTime) -> Value {
    let s = &o["spec"]["selector"];
    let mut parts: Vec<String> = s["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    for e in s["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    parts.sort();
    json!(if parts.is_empty() {
        "<none>".to_string()
    } else {
        parts.join(",")
    })
}

fn job_status(o: &Value, _: OffsetDateTime) -> Value {
    let holds = |kind: &str| condition(o, kind).is_some_and(|c| c["status"] == "True");
    json!(if holds("Complete") {
        "Complete"
    } else if holds("Failed") {
        "Failed"
    } else if o["metadata"]["deletionTimestamp"].is_string() {
        "Terminating"
    } else if holds("Suspended") {
        "Suspended"
    } else if holds("FailureTarget") {
        "FailureTarget"
    } else if holds("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    })
}

fn job_completions(o: &Value, _: OffsetDateTime) -> Value {
    let succeeded = int(&o["status"]["succeeded"]);
    json!(match o["spec"]["completions"].as_i64() {
        Some(c) => format!("{succeeded}/{c}"),
        None => match o["spec"]["parallelism"].as_i64() {
            Some(p) if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    })
}

fn job_duration(o: &Value, now: OffsetDateTime) -> Value {
    let Some(start) = parse(&o["status"]["startTime"]) else {
        return json!("");
    };
    let end = parse(&o["status"]["completionTime"]).unwrap_or(now);
    json!(human_duration((end - start).whole_seconds()))
}

fn service_external_ip(o: &Value, _: OffsetDateTime) -> Value {
    let spec = &o["spec"];
    let external: Vec<&str> = spec["externalIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let joined = |v: Vec<&str>| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.join(",")
        }
    };
    json!(match spec["type"].as_str().unwrap_or("ClusterIP") {
        "ExternalName" => spec["externalName"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        "LoadBalancer" => {
            let mut ips: Vec<&str> = o["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["ip"].as_str().or_else(|| i["hostname"].as_str()))
                .collect();
            ips.extend(external);
            if ips.is_empty() {
                "<pending>".to_string()
            } else {
                ips.join(",")
            }
        }
        _ => joined(external),
    })
}

fn service_ports(o: &Value, _: OffsetDateTime) -> Value {
    let ports: Vec<String> = o["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let protocol = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64().filter(|n| *n != 0) {
                Some(node) => format!("{}:{node}/{protocol}", int(&p["port"])),
                None => format!("{}/{protocol}", int(&p["port"])),
            }
        })
        .collect();
    json!(if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-01-02T00:00:00+00:00";

    #[test]
    fn recognises_kubectls_accept_header() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }

    #[test]
    fn node_rows_have_status_roles_age_and_version() {
        let list = json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}, "items": [
            {"kind": "Node", "metadata": {"name": "cp-1", "creationTimestamp": "2026-01-01T23:55:00+00:00",
                "labels": {"node-role.kubernetes.io/control-plane": ""}},
             "spec": {"unschedulable": true},
             "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.35.0"}}}]});
        let t = table(&list, None, NOW).unwrap();
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["priority"] == 0)
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Status", "Roles", "Age", "Version"]);
        assert_eq!(
            t["rows"][0]["cells"].as_array().unwrap()[..5],
            [
                json!("cp-1"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane"),
                json!("5m"),
                json!("v1.35.0")
            ]
        );
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn pod_rows_show_readiness_and_the_waiting_reason() {
        let pod = json!({"kind": "Pod", "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00+00:00"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"finishedAt": "2026-01-01T23:59:00+00:00"}}}]}});
        let t = table(&pod, Some("None"), NOW).unwrap();
        assert_eq!(
            t["rows"][0]["cells"].as_array().unwrap()[..5],
            [
                json!("p"),
                json!("1/2"),
                json!("CrashLoopBackOff"),
                json!("3 (60s ago)"),
                json!("24h")
            ]
        );
        assert!(t["rows"][0].get("object").is_none());
    }

    #[test]
    fn other_kinds_get_name_and_age() {
        let t = table(
            &json!({"kind": "Lease", "metadata": {"name": "l"}}),
            None,
            NOW,
        )
        .unwrap();
        assert_eq!(t["rows"][0]["cells"], json!(["l", "<unknown>"]));
        assert!(table(&json!({"kind": "Status", "metadata": {}}), None, NOW).is_none());
    }

    #[test]
    fn human_durations_match_apimachinery() {
        for (s, want) in [
            (5, "5s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (9 * 3600, "9h"),
            (3 * 86400 + 3600, "3d1h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400, "3y"),
        ] {
            assert_eq!(human_duration(s), want);
        }
    }
}
