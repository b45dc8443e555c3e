//! `GET /servers/{id}/metrics` (`cpu`, `disk`, `network`) and `GET /load_balancers/{id}/metrics`
//! (`open_connections`, `connections_per_second`, `requests_per_second`, `bandwidth`): Hetzner's
//! time series, with its query validation (`type` comma-separated or repeated, `start`/`end` RFC 3339, `step` seconds,
//! about 200 samples when no step is given and never more than 500, only the last 30 days).
//! The values are plausible and deterministic (a function of resource, series and time): a running
//! server idles at a few percent CPU with light disk and network traffic, a stopped one is at zero;
//! a load balancer with services sees light traffic, one without none; there are no samples
//! before the resource existed.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::AppState;
use super::error::{ApiError, FieldErrors};
use super::list::ListQuery;
use super::load_balancers::find_lb;
use super::request::{Reply, ok};
use super::servers::find_server;
use crate::clock::format_timestamp;
use crate::world::World;

/// Samples when the client gives no step.
const DEFAULT_SAMPLES: i64 = 200;
/// Hetzner widens the step so that no series has more samples than this.
const MAX_SAMPLES: i64 = 500;
/// How far back metrics are kept.
const RETENTION_SECONDS: i64 = 30 * 24 * 3600;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/servers/{id}/metrics", get(server_metrics))
        .route("/load_balancers/{id}/metrics", get(load_balancer_metrics))
}

/// Server series of each metric type, with a typical value for an idle running server.
fn server_series(kind: &str) -> &'static [(&'static str, f64)] {
    match kind {
        "cpu" => &[("cpu", 3.0)],
        "disk" => &[
            ("disk.0.iops.read", 0.5),
            ("disk.0.iops.write", 4.0),
            ("disk.0.bandwidth.read", 2_048.0),
            ("disk.0.bandwidth.write", 40_960.0),
        ],
        _ => &[
            ("network.0.pps.in", 12.0),
            ("network.0.pps.out", 9.0),
            ("network.0.bandwidth.in", 2_400.0),
            ("network.0.bandwidth.out", 1_800.0),
        ],
    }
}

/// Load balancer series of each metric type, with a typical value for a lightly used one.
fn load_balancer_series(kind: &str) -> &'static [(&'static str, f64)] {
    match kind {
        "open_connections" => &[("open_connections", 8.0)],
        "connections_per_second" => &[("connections_per_second", 2.0)],
        "requests_per_second" => &[("requests_per_second", 5.0)],
        _ => &[("bandwidth.in", 4_096.0), ("bandwidth.out", 16_384.0)],
    }
}

/// A deterministic value in [0.5, 1.5) for (server, series, time).
fn jitter(server: i64, name: &str, t: i64) -> f64 {
    let mut x = (server as u64) ^ (t as u64).rotate_left(17);
    for b in name.bytes() {
        x = x.wrapping_mul(0x100_0000_01b3) ^ u64::from(b);
    }
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    0.5 + (x % 1000) as f64 / 1000.0
}

fn parse_time(fields: &mut FieldErrors, query: &ListQuery, name: &str) -> Option<OffsetDateTime> {
    let Some(raw) = query.get(name) else {
        fields.add(name, "Missing data for required field.");
        return None;
    };
    let parsed = OffsetDateTime::parse(raw, &Rfc3339).ok();
    if parsed.is_none() {
        fields.add(name, "Not a valid datetime.");
    }
    parsed
}

/// The resource a request asks metrics of.
struct Subject<'a> {
    id: i64,
    created: &'a str,
    /// Scales every typical value (0 = idle, e.g. a stopped server).
    load: f64,
    /// Extra scale of the `cpu` series (per vCPU).
    cores: f64,
}

async fn server_metrics(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Reply {
    let world = app.read();
    let server = find_server(&world, &id)?;
    let subject = Subject {
        id: server.id,
        created: &server.created,
        load: if server.status == "running" { 1.0 } else { 0.0 },
        cores: crate::catalog::server_type(&server.server_type).map_or(1.0, |t| f64::from(t.cores)),
    };
    metrics(
        &world,
        q.as_deref(),
        &subject,
        &["cpu", "disk", "network"],
        server_series,
    )
}

async fn load_balancer_metrics(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Reply {
    let world = app.read();
    let lb = &world.data.load_balancers[&find_lb(&world, &id)?];
    let subject = Subject {
        id: lb.id,
        created: &lb.created,
        load: if lb.services.is_empty() { 0.0 } else { 1.0 },
        cores: 1.0,
    };
    let kinds = [
        "open_connections",
        "connections_per_second",
        "requests_per_second",
        "bandwidth",
    ];
    metrics(&world, q.as_deref(), &subject, &kinds, load_balancer_series)
}

fn metrics(
    world: &World,
    raw_query: Option<&str>,
    subject: &Subject<'_>,
    allowed: &[&str],
    series: fn(&str) -> &'static [(&'static str, f64)],
) -> Reply {
    let query = ListQuery::parse(raw_query)?;
    let mut fields = FieldErrors::default();
    let kinds: Vec<&str> = query
        .all("type")
        .into_iter()
        .flat_map(|t| t.split(','))
        .collect();
    if kinds.is_empty() {
        fields.add("type", "Missing data for required field.");
    }
    for kind in &kinds {
        if !allowed.contains(kind) {
            fields.add("type", format!("Must be one of: {}.", allowed.join(", ")));
        }
    }
    let start = parse_time(&mut fields, &query, "start");
    let end = parse_time(&mut fields, &query, "end");
    let step = match query.get("step").map(str::parse::<i64>) {
        None => None,
        Some(Ok(step)) if step > 0 => Some(step),
        Some(_) => {
            fields.add("step", "Must be greater than or equal to 1.");
            None
        }
    };
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        fields.add("end", "end must be after start");
    }
    fields.finish()?;
    let (Some(start), Some(end)) = (start, end) else {
        return Err(ApiError::field("start", "Missing data for required field."));
    };
    let (from, to) = (start.unix_timestamp(), end.unix_timestamp());
    let span = (to - from).max(1);
    let step = step
        .unwrap_or((span + DEFAULT_SAMPLES - 1) / DEFAULT_SAMPLES)
        .max((span + MAX_SAMPLES - 1) / MAX_SAMPLES)
        .max(1);
    let now = world.clock.now_utc().unix_timestamp();
    let created = OffsetDateTime::parse(subject.created, &Rfc3339)
        .map_or(from, OffsetDateTime::unix_timestamp);
    let first = from.max(created).max(now - RETENTION_SECONDS);
    let last = to.min(now);
    let mut time_series = Map::new();
    for kind in kinds {
        for (name, typical) in series(kind) {
            let mut values = Vec::new();
            let mut t = from + (first - from + step - 1).max(0) / step * step;
            while t <= last {
                // CPU is per vCPU (100 = one full vCPU), so idle load scales with the cores.
                let scale = if *name == "cpu" { subject.cores } else { 1.0 };
                let value = typical * scale * subject.load * jitter(subject.id, name, t);
                values.push(json!([t as f64, format!("{value:.2}")]));
                t += step;
            }
            time_series.insert((*name).to_string(), json!({ "values": values }));
        }
    }
    ok(json!({"metrics": {
        "start": format_timestamp(start), "end": format_timestamp(end), "step": step,
        "time_series": Value::Object(time_series),
    }}))
}
