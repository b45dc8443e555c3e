//! `GET /servers/{id}/metrics`: Hetzner's time series for `cpu`, `disk` and `network`, with its
//! query validation (`type` comma-separated or repeated, `start`/`end` RFC 3339, `step` seconds,
//! about 200 samples when no step is given and never more than 500, only the last 30 days).
//! The values are plausible and deterministic (a function of server, series and time): a running
//! server idles at a few percent CPU with light disk and network traffic, a stopped one is at zero,
//! and there are no samples before the server existed.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::AppState;
use super::error::{ApiError, FieldErrors};
use super::list::ListQuery;
use super::request::{Reply, ok};
use super::servers::find_server;
use crate::clock::format_timestamp;

/// Samples when the client gives no step.
const DEFAULT_SAMPLES: i64 = 200;
/// Hetzner widens the step so that no series has more samples than this.
const MAX_SAMPLES: i64 = 500;
/// How far back metrics are kept.
const RETENTION_SECONDS: i64 = 30 * 24 * 3600;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/servers/{id}/metrics", get(server_metrics))
}

/// Series of each metric type, with a typical value for an idle running server and its unit.
fn series(kind: &str) -> &'static [(&'static str, f64)] {
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

async fn server_metrics(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    let world = app.read();
    let server = find_server(&world, &id)?;
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
        if !["cpu", "disk", "network"].contains(kind) {
            fields.add("type", "Must be one of: cpu, disk, network.");
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
    let created = OffsetDateTime::parse(&server.created, &Rfc3339)
        .map_or(from, OffsetDateTime::unix_timestamp);
    let first = from.max(created).max(now - RETENTION_SECONDS);
    let last = to.min(now);
    let running = server.status == "running";
    let cores = crate::catalog::server_type(&server.server_type).map_or(1, |t| t.cores);
    let mut time_series = Map::new();
    for kind in kinds {
        for (name, typical) in series(kind) {
            let mut values = Vec::new();
            let mut t = from + (first - from + step - 1).max(0) / step * step;
            while t <= last {
                let value = if running {
                    // CPU is per vCPU (100 = one full vCPU), so idle load scales with the cores.
                    let scale = if *name == "cpu" { cores as f64 } else { 1.0 };
                    typical * scale * jitter(server.id, name, t)
                } else {
                    0.0
                };
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
