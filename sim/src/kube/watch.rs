//! Watches (`GET …?watch=true`, and the legacy `/api/v1/watch/…` paths), as the API server serves
//! them: one JSON event per line, `{"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": …}`,
//! streamed in a chunked `application/json` reply, for stored objects and Nodes alike (both are
//! in the cluster's [`super::changes::ChangeLog`]).
//!
//! - `resourceVersion` absent or `0`: ADDED for every current object first, then the changes; a
//!   version: the changes after it, or one ERROR event with a `410 Expired` Status when the
//!   history before it is compacted away (a version never handed out is a 504, as the API server
//!   answers when its cache cannot catch up with it).
//! - `labelSelector` / `fieldSelector` (and the name of a named path) filter; an object that
//!   starts or stops matching is ADDED or DELETED, as the API server's watch cache does.
//! - `timeoutSeconds` (sim clock; default the API server's minimum request timeout, 30 min) ends
//!   the stream; `allowWatchBookmarks` adds a BOOKMARK every minute; `sendInitialEvents` ends the
//!   initial ADDED events with the `k8s.io/initial-events-end` bookmark.
//!
//! - The `watch_drop` fault ([`crate::faults`]) ends a stream early, without a final event.
//!
//! The handler holds the fleet lock only to read the history: the stream is fed by a task that
//! polls the history every [`POLL`] of real time. Polling rather than notifying because the
//! store is written from many places (requests, every controller of the Talos loop), all under
//! the fleet mutex, and a poll costs one lock and a scan of the events since the last one. The
//! controllers do not wait for requests: the Talos loop runs them every 25 ms, so a watcher sees
//! a pod become Ready, or a Node change, with no other request made.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::changes::{ChangeLog, EventType};
use super::objects::{Target, query_value};
use super::select::ListFilter;
use super::{Ctx, ok_json, status};
use crate::talos::TalosSim;
use crate::talos::state::Fleet;

/// How often a watch looks for new events (real time).
pub const POLL: Duration = Duration::from_millis(50);

/// How often a watch that allows bookmarks gets one (sim time), as the API server sends them.
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// The API server's `--min-request-timeout` default: a watch without `timeoutSeconds` ends then.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// The resource path of a watch request: the legacy `/watch/` segment removed, or the path itself
/// when `watch` is set (any value but the false ones, as the API server parses booleans).
pub fn route(path: &str, query: &[(String, String)]) -> Option<String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let legacy = match segments.as_slice() {
        ["api", "v1", "watch", rest @ ..] if !rest.is_empty() => {
            Some(format!("/api/v1/{}", rest.join("/")))
        }
        ["apis", group, version, "watch", rest @ ..] if !rest.is_empty() => {
            Some(format!("/apis/{group}/{version}/{}", rest.join("/")))
        }
        _ => None,
    };
    if legacy.is_some() {
        return legacy;
    }
    let watch = query_value(query, "watch")?.to_ascii_lowercase();
    (!matches!(
        watch.as_str(),
        "" | "0" | "false" | "f" | "n" | "no" | "off"
    ))
    .then(|| path.to_string())
}

/// What one watch is after.
struct Spec {
    cluster: String,
    group_version: String,
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    filter: ListFilter,
    kind: String,
    bookmarks: bool,
    deadline: Duration,
    /// When the `watch_drop` fault cuts the stream, if it does.
    cut_at: Option<Duration>,
}

impl Spec {
    fn matches(&self, obj: &Value) -> bool {
        let meta = &obj["metadata"];
        self.namespace
            .as_deref()
            .is_none_or(|ns| meta["namespace"].as_str().unwrap_or_default() == ns)
            && self
                .name
                .as_deref()
                .is_none_or(|name| meta["name"].as_str().unwrap_or_default() == name)
            && self.filter.matches(obj)
    }

    /// The events after `cursor` (moved to the newest version seen), or the 410 event when the
    /// history after it is gone.
    fn events(&self, log: &ChangeLog, cursor: &mut u64) -> Result<Vec<Bytes>, Bytes> {
        if *cursor < log.compacted() {
            return Err(expired(*cursor, log.compacted()));
        }
        let mut lines = Vec::new();
        for change in log.since(*cursor) {
            *cursor = change.rv;
            if change.resource.0 != self.group_version || change.resource.1 != self.resource {
                continue;
            }
            let now = self.matches(&change.object);
            let before = change.previous.as_ref().is_some_and(|p| self.matches(p));
            let event = match (change.event, before, now) {
                (EventType::Added, _, true) => EventType::Added,
                (EventType::Deleted, _, true) => EventType::Deleted,
                (EventType::Modified, true, true) => EventType::Modified,
                (EventType::Modified, false, true) => EventType::Added,
                (EventType::Modified, true, false) => EventType::Deleted,
                _ => continue,
            };
            lines.push(line(event.as_str(), &change.object));
        }
        Ok(lines)
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            &json!({"kind": self.kind, "apiVersion": self.group_version, "metadata": metadata}),
        )
    }
}

fn line(event: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": event, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

/// The ERROR event of a watch from a compacted version.
fn expired(requested: u64, compacted: u64) -> Bytes {
    line(
        "ERROR",
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("too old resource version: {requested} ({compacted})"),
            "reason": "Expired", "code": 410}),
    )
}

fn bad_request(message: &str) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn invalid(message: &str) -> Response {
    status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message)
}

/// Starts a watch of `target` (already authorised, the cluster serving): checks the request,
/// takes the initial events under the lock, and streams the rest from a task.
pub fn start(ctx: &Ctx, fleet: &Fleet, target: &Target, query: &[(String, String)]) -> Response {
    let Some(cluster) = fleet.clusters.get(&ctx.cluster) else {
        return status(StatusCode::NOT_FOUND, "NotFound", "no cluster");
    };
    let store = &cluster.kube;
    let nodes = target.group_version == "v1" && target.resource == "nodes";
    if !nodes && !super::crds::served(store, &target.group_version, &target.resource) {
        return ok_json(StatusCode::NOT_FOUND, &super::crds::not_served());
    }
    if let Some(sub) = &target.subresource {
        return status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            &format!(
                "the {sub} subresource of {} cannot be watched",
                target.resource
            ),
        );
    }
    let filter = match ListFilter::parse(
        query_value(query, "labelSelector"),
        query_value(query, "fieldSelector"),
    ) {
        Ok(f) => f,
        Err(e) => return bad_request(&e.to_string()),
    };
    // 0 is no timeout of the client's: the server's own applies, as for an absent one.
    let timeout = match query_value(query, "timeoutSeconds") {
        None | Some("" | "0") => DEFAULT_TIMEOUT,
        Some(t) => match t.parse::<u64>() {
            Ok(s) => Duration::from_secs(s),
            Err(_) => {
                return bad_request(&format!(
                    "invalid value {t:?} for timeoutSeconds: must be a non-negative integer"
                ));
            }
        },
    };
    let bookmarks = query_value(query, "allowWatchBookmarks") == Some("true");
    let initial_events = query_value(query, "sendInitialEvents") == Some("true");
    if initial_events {
        if query_value(query, "resourceVersionMatch") != Some("NotOlderThan") {
            return invalid(
                "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            );
        }
        if !bookmarks {
            return invalid(
                "allowWatchBookmarks: Required value: sendInitialEvents requires setting allowWatchBookmarks to true",
            );
        }
    }
    let kind = super::objects::group_resources(fleet, &ctx.cluster, &target.group_version)
        .and_then(|list| {
            list["resources"]
                .as_array()?
                .iter()
                .find(|r| r["name"] == target.resource.as_str())?["kind"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default();
    let newest: u64 = store.version().parse().unwrap_or_default();
    let spec = Spec {
        cluster: ctx.cluster.clone(),
        group_version: target.group_version.clone(),
        resource: target.resource.clone(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        filter,
        kind,
        bookmarks,
        deadline: ctx.sim.now() + timeout,
        cut_at: ctx
            .sim
            .api_faults
            .lock()
            .watch_drop()
            .map(|after| ctx.sim.now() + ctx.sim.fault_duration(after)),
    };
    let requested = query_value(query, "resourceVersion").unwrap_or_default();
    let mut first = Vec::new();
    let cursor = if initial_events || matches!(requested, "" | "0") {
        let current = if nodes {
            super::nodes::list(fleet, &ctx.cluster)
        } else {
            store.items(&target.group_version, &target.resource)
        };
        first.extend(
            current
                .iter()
                .filter(|o| spec.matches(o))
                .map(|o| line("ADDED", o)),
        );
        if initial_events {
            first.push(spec.bookmark(newest, true));
        }
        newest
    } else {
        let Ok(rv) = requested.parse::<u64>() else {
            return bad_request(&format!(
                "resourceVersion: Invalid value: {requested:?}: must be a valid resource version"
            ));
        };
        if rv > newest {
            let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("Too large resource version: {rv}, current: {newest}"),
                "reason": "Timeout", "code": 504,
                "details": {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                    "retryAfterSeconds": 1}});
            return ok_json(StatusCode::GATEWAY_TIMEOUT, &body);
        }
        rv
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    tokio::spawn(stream(ctx.sim.clone(), spec, cursor, first, tx));
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response()
}

/// Feeds a watch until its timeout, its client leaving, or its cluster no longer serving (the
/// API server going away ends the stream as well).
async fn stream(
    sim: Arc<TalosSim>,
    spec: Spec,
    mut cursor: u64,
    first: Vec<Bytes>,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
) {
    for line in first {
        if tx.send(Ok(line)).await.is_err() {
            return;
        }
    }
    let mut next_bookmark = sim.now() + BOOKMARK_INTERVAL;
    loop {
        let now = sim.now();
        if tx.is_closed() || now >= spec.deadline {
            return;
        }
        if spec.cut_at.is_some_and(|at| now >= at) {
            // No final event: the stream just ends, as when the API server restarts.
            sim.api_faults
                .lock()
                .record(crate::faults::ApiFaultKind::WatchDrop);
            return;
        }
        let batch = {
            let fleet = sim.lock();
            if !fleet.kube_serving(&spec.cluster) {
                return;
            }
            match fleet.clusters.get(&spec.cluster) {
                Some(cluster) => spec.events(&cluster.kube.changes, &mut cursor),
                None => return,
            }
        };
        let (lines, end) = match batch {
            Ok(lines) => (lines, false),
            Err(error) => (vec![error], true),
        };
        for line in lines {
            if tx.send(Ok(line)).await.is_err() {
                return;
            }
        }
        if end {
            return;
        }
        if spec.bookmarks && now >= next_bookmark {
            next_bookmark = now + BOOKMARK_INTERVAL;
            if tx.send(Ok(spec.bookmark(cursor, false))).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(POLL).await;
    }
}
