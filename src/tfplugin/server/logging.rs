//! Logging to stderr in hclog's JSON shape, which go-plugin parses and Terraform filters with
//! `TF_LOG` / `TF_LOG_PROVIDER`.
//!
//! Each line is `{"@level":"debug","@message":"…","@module":"provider","@timestamp":"…",…fields}`.
//! Values of sensitive attributes are never passed to `tracing` by the framework.

use std::io::Write;
use std::time::SystemTime;

use serde_json::{Map, Value as Json};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// The level Terraform asked for: `TF_LOG_PROVIDER`, else `TF_LOG`; unset or unknown means warn
/// (hclog's behaviour for plugins), `OFF` means nothing, `JSON` means trace.
#[must_use]
pub fn level_from_env(provider_level: Option<&str>, global_level: Option<&str>) -> LevelFilter {
    let chosen = provider_level
        .filter(|s| !s.is_empty())
        .or(global_level.filter(|s| !s.is_empty()));
    match chosen.map(str::to_ascii_uppercase).as_deref() {
        Some("TRACE" | "JSON") => LevelFilter::TRACE,
        Some("DEBUG") => LevelFilter::DEBUG,
        Some("INFO") => LevelFilter::INFO,
        Some("ERROR") => LevelFilter::ERROR,
        Some("OFF") => LevelFilter::OFF,
        _ => LevelFilter::WARN,
    }
}

/// Installs the hclog-shaped stderr logger for this process (no-op if one is installed already).
pub fn init(module: &'static str) {
    let level = level_from_env(
        std::env::var("TF_LOG_PROVIDER").ok().as_deref(),
        std::env::var("TF_LOG").ok().as_deref(),
    );
    // Our own crate logs at the requested level; dependencies (h2, rustls, hyper) only from
    // warn up, so TF_LOG=DEBUG shows provider operations rather than HTTP/2 frames.
    let own_crate = module_path!().split("::").next().unwrap_or_default();
    let targets = tracing_subscriber::filter::Targets::new()
        .with_target(own_crate, level)
        .with_default(level.min(LevelFilter::WARN));
    let layer = HclogLayer { module }.with_filter(targets);
    // A second init (tests, embedding) keeps the first subscriber: that is fine.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// A `tracing` layer writing hclog JSON lines to stderr.
struct HclogLayer {
    module: &'static str,
}

impl<S: Subscriber> Layer<S> for HclogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = render(
            self.module,
            event.metadata().level(),
            event,
            SystemTime::now(),
        );
        let mut stderr = std::io::stderr().lock();
        // Nowhere to report a failing stderr; dropping the line is the only option.
        let _ = writeln!(stderr, "{line}");
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

fn render(module: &str, level: &Level, event: &Event<'_>, now: SystemTime) -> String {
    let mut fields = FieldCollector::default();
    event.record(&mut fields);
    let mut line = Map::new();
    line.insert("@level".into(), Json::from(level_name(level)));
    line.insert(
        "@message".into(),
        Json::from(fields.message.unwrap_or_default()),
    );
    line.insert("@module".into(), Json::from(module));
    line.insert("@timestamp".into(), Json::from(timestamp(now)));
    for (k, v) in fields.fields {
        line.entry(k).or_insert(v);
    }
    Json::Object(line).to_string()
}

/// RFC 3339 in UTC with microseconds, as hclog writes it.
fn timestamp(now: SystemTime) -> String {
    let t = time::OffsetDateTime::from(now);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

#[derive(Default)]
struct FieldCollector {
    message: Option<String>,
    fields: Map<String, Json>,
}

impl Visit for FieldCollector {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.fields
                .insert(field.name().to_owned(), Json::from(text));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.fields
                .insert(field.name().to_owned(), Json::from(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields
            .insert(field.name().to_owned(), Json::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields
            .insert(field.name().to_owned(), Json::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .insert(field.name().to_owned(), Json::from(value));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn level_follows_terraform_variables() {
        assert_eq!(level_from_env(None, None), LevelFilter::WARN);
        assert_eq!(
            level_from_env(Some("debug"), Some("ERROR")),
            LevelFilter::DEBUG
        );
        assert_eq!(level_from_env(Some(""), Some("TRACE")), LevelFilter::TRACE);
        assert_eq!(level_from_env(None, Some("JSON")), LevelFilter::TRACE);
        assert_eq!(level_from_env(None, Some("off")), LevelFilter::OFF);
    }

    /// A layer capturing rendered lines instead of writing them to stderr.
    struct Capture(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            let now =
                SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_700_000_000_123_456);
            self.0
                .lock()
                .unwrap()
                .push(render("provider", event.metadata().level(), event, now));
        }
    }

    #[test]
    fn renders_hclog_json() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(Arc::clone(&lines)));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(
                tf_rpc = "PlanResourceChange",
                attempt = 2,
                "planning {}",
                "x"
            );
        });
        let lines = lines.lock().unwrap();
        let parsed: Json = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(parsed["@level"], "debug");
        assert_eq!(parsed["@message"], "planning x");
        assert_eq!(parsed["@module"], "provider");
        assert_eq!(parsed["@timestamp"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(parsed["tf_rpc"], "PlanResourceChange");
        assert_eq!(parsed["attempt"], 2);
    }
}
