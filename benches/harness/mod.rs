//! What the real-Terraform benchmarks (`cluster_create`, `node_pool_create`) share: the sim and
//! CLI they run against, the latency model's critical path, Hetzner request counts from
//! `/_sim/stats`, the provider's peak RSS, and the PASS/OVER table.
//!
//! The provider polls at `poll_interval` = 1 s (its default) × the time scale, so that polls per
//! action, and hence request counts, are those of a real apply at default settings (never below
//! the provider's floor of 100 ms: at a time scale under 0.1 it polls relatively less often).
//!
//! A bench includes it next to the test modules it builds on:
//! ```ignore
//! #[path = "../tests/cluster/mod.rs"] mod cluster;
//! #[path = "../tests/support/mod.rs"] mod support;
//! mod harness;
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hk8s_sim::latency::realistic_duration;

use crate::cluster::world::{TOKEN, World};
use crate::support::{self, Terraform, Workdir};

/// Hetzner API requests by `METHOD /route`.
pub type Counts = BTreeMap<String, u64>;

/// A sim with realistic latency × `BENCH_TIME_SCALE`, the newest Terraform and the release
/// provider it runs.
pub struct Bench {
    /// Terraform 1.15.
    pub tf: Terraform,
    /// `BENCH_TIME_SCALE` (default 0.1).
    pub scale: f64,
    /// The provider's `poll_interval`: 1 s × `scale`, at least the provider's floor.
    pub poll: Duration,
    /// The provider binary this bench built (whose processes the RSS sampler watches).
    pub provider: PathBuf,
    /// The running sim.
    pub world: World,
}

impl Bench {
    /// Starts the sim in loopback block `127.<block>.0.0`; `None` (after a notice naming
    /// `bench`) when Terraform is not installed.
    pub fn start(bench: &str, block: u8) -> Option<Bench> {
        let Some(tf) = support::terraform() else {
            eprintln!("{bench}: Terraform not installed (run `make tools`); skipped");
            return None;
        };
        let scale: f64 = std::env::var("BENCH_TIME_SCALE")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|s: &f64| *s > 0.0)
            .unwrap_or(0.1);
        let poll = Duration::from_secs(1)
            .mul_f64(scale)
            .max(hk8s::provider::MIN_POLL_INTERVAL);
        let provider = support::provider_dir().join("terraform-provider-hk8s");
        let world = World::start(block, &["v1.13.9"], |c| c.time_scale = scale);
        Some(Bench {
            tf,
            scale,
            poll,
            provider,
            world,
        })
    }

    /// The `terraform` and `provider` blocks pointing at the sim.
    pub fn provider_hcl(&self) -> String {
        format!(
            r#"
terraform {{
  required_providers {{
    hk8s = {{ source = "hk8s/hk8s" }}
  }}
}}
provider "hk8s" {{
  hcloud_endpoint = "{endpoint}"
  hcloud_token    = "{TOKEN}"
  poll_interval   = "{poll_ms}ms"
}}
"#,
            endpoint = self.world.endpoint,
            poll_ms = self.poll.as_millis()
        )
    }

    /// Provider blocks and `hk8s_cluster.main`: `count` control planes of `cax21` (over
    /// fsn1/nbg1/hel1 when 3 or more), Talos v1.13.9, Kubernetes 1.35.0.
    pub fn cluster_hcl(&self, name: &str, count: u32) -> String {
        let locations = if count >= 3 {
            r#"locations = ["fsn1", "nbg1", "hel1"]"#
        } else {
            ""
        };
        format!(
            r#"{provider}
resource "hk8s_cluster" "main" {{
  name               = "{name}"
  location           = "fsn1"
  talos_version      = "v1.13.9"
  kubernetes_version = "1.35.0"
  control_plane = {{
    server_type = "cax21"
    count       = {count}
    {locations}
  }}
}}
"#,
            provider = self.provider_hcl()
        )
    }

    /// Hetzner API requests so far.
    pub fn requests(&self) -> Counts {
        requests(&self.world)
    }

    /// Requests a `terraform plan -refresh-only` of `w` costs.
    pub fn refresh_requests(&self, w: &Workdir) -> Counts {
        let before = self.requests();
        timed(w, &["plan", "-refresh-only", "-input=false", "-no-color"]);
        delta(&before, &self.requests())
    }

    /// Requests and wall time of `terraform plan -out` then `terraform apply <plan>` in `w`, with
    /// the provider's peak RSS during the apply.
    pub fn planned_apply(&self, w: &Workdir) -> Applied {
        let before_plan = self.requests();
        timed(
            w,
            &["plan", "-input=false", "-no-color", "-out=bench.tfplan"],
        );
        let before_apply = self.requests();
        let sampler = RssSampler::start(self.provider.clone());
        let wall = timed(w, &["apply", "-input=false", "-no-color", "bench.tfplan"]);
        let peak_kib = sampler.finish();
        let after = self.requests();
        Applied {
            wall,
            plan: delta(&before_plan, &before_apply),
            apply: delta(&before_apply, &after),
            peak_kib,
        }
    }

    /// Prints the critical path (nominal → scaled) and returns its scaled total.
    pub fn print_critical_path(&self, steps: &[Step]) -> Duration {
        let nominal: Duration = steps.iter().map(Step::duration).sum();
        println!("  critical path of the latency model (nominal → scaled):");
        for step in steps {
            let d = step.duration();
            println!(
                "    {:<55} {:>6.1?} → {:>8.2?}",
                step.name,
                d,
                d.mul_f64(self.scale)
            );
        }
        let path = nominal.mul_f64(self.scale);
        println!("    {:<55} {:>6.1?} → {:>8.2?}", "total", nominal, path);
        path
    }
}

/// What one planned apply cost.
pub struct Applied {
    /// Wall time of `terraform apply <saved plan>` (provider start, apply, state write).
    pub wall: Duration,
    /// Hetzner requests of the plan.
    pub plan: Counts,
    /// Hetzner requests of the apply.
    pub apply: Counts,
    /// The provider's peak RSS during the apply, KiB (0: never seen).
    pub peak_kib: u64,
}

impl Applied {
    /// Requests of plan and apply together.
    pub fn requests(&self) -> Counts {
        let mut all = self.plan.clone();
        for (route, n) in &self.apply {
            *all.entry(route.clone()).or_default() += n;
        }
        all
    }
}

/// One step of a critical path: a name and the latency-model actions run back to back in it.
pub struct Step {
    /// What the step is, for the table.
    pub name: &'static str,
    /// Each inner list runs in parallel with the others; the step lasts as long as its longest.
    pub parallel: Vec<Vec<&'static str>>,
}

impl Step {
    /// Nominal duration, from `hk8s_sim::latency::realistic_duration`.
    pub fn duration(&self) -> Duration {
        self.parallel
            .iter()
            .map(|chain| {
                chain
                    .iter()
                    .map(|c| realistic_duration(c))
                    .sum::<Duration>()
            })
            .max()
            .unwrap_or_default()
    }
}

/// Samples the peak RSS of every process whose executable is `binary` until stopped (the
/// provider is a grandchild of the bench, so `getrusage(RUSAGE_CHILDREN)` would report the
/// Terraform host instead).
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak_kib: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    /// Samples every 10 ms.
    pub fn start(binary: PathBuf) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kib = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak_kib.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                for kib in provider_hwms(&binary) {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssSampler {
            stop,
            peak_kib,
            thread: Some(thread),
        }
    }

    /// The largest `VmHWM` seen, KiB.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak_kib.load(Ordering::Relaxed)
    }
}

/// `VmHWM` in KiB of each running process whose `/proc/<pid>/exe` is `binary`.
fn provider_hwms(binary: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| std::fs::read_link(e.path().join("exe")).is_ok_and(|exe| exe == binary))
        .filter_map(|e| {
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .collect()
}

/// Hetzner API requests by `METHOD /route`, from `/_sim/stats`.
pub fn requests(world: &World) -> Counts {
    counts(&world.stats(), "requests")
}

/// The counter map under `key` of a `/_sim/stats` answer (empty when absent).
fn counts(stats: &serde_json::Value, key: &str) -> Counts {
    stats[key]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// `after - before`, zero entries dropped.
pub fn delta(before: &Counts, after: &Counts) -> Counts {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Every counter of `/_sim/stats` a bench reports, at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The provider's Hetzner API requests by `METHOD /route`.
    pub hetzner: Counts,
    /// Talos API calls by gRPC method.
    pub talos: Counts,
    /// Kubernetes API requests by `VERB resource`.
    pub kube: Counts,
    /// Hetzner requests of the cloud controller stand-in (same token, same bucket).
    pub ccm: Counts,
    /// Requests answered 429.
    pub rate_limited: u64,
}

impl Snapshot {
    /// The counters now.
    pub fn take(world: &World) -> Snapshot {
        let stats = world.stats();
        Snapshot {
            hetzner: counts(&stats, "requests"),
            talos: counts(&stats, "talos_requests"),
            kube: counts(&stats, "kube_requests"),
            ccm: counts(&stats, "ccm_requests"),
            rate_limited: stats["rate_limited"].as_u64().unwrap_or(0),
        }
    }

    /// What happened between `before` and `self`.
    pub fn since(&self, before: &Snapshot) -> Snapshot {
        Snapshot {
            hetzner: delta(&before.hetzner, &self.hetzner),
            talos: delta(&before.talos, &self.talos),
            kube: delta(&before.kube, &self.kube),
            ccm: delta(&before.ccm, &self.ccm),
            rate_limited: self.rate_limited - before.rate_limited.min(self.rate_limited),
        }
    }
}

/// All requests.
pub fn total(counts: &Counts) -> u64 {
    counts.values().sum()
}

/// Runs `terraform <args>` in `w`, returning the wall time; exits the bench (printing Terraform's
/// output) when Terraform fails.
pub fn timed(w: &Workdir, args: &[&str]) -> Duration {
    let started = Instant::now();
    let out = w.run(args);
    let elapsed = started.elapsed();
    if !out.status.success() {
        eprintln!(
            "terraform {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    elapsed
}

/// `terraform apply -auto-approve` in `w`, returning the wall time.
pub fn apply(w: &Workdir) -> Duration {
    timed(w, &["apply", "-input=false", "-no-color", "-auto-approve"])
}

/// Requests by endpoint, most first.
pub fn print_requests(title: &str, counts: &Counts) {
    println!("  {title}");
    let mut rows: Vec<_> = counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (route, n) in rows {
        println!("    {n:>4}  {route}");
    }
}

/// `12.3 MiB`, or `not seen`.
pub fn mib(kib: u64) -> String {
    if kib > 0 {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    } else {
        "not seen".into()
    }
}

/// The measures table: prints its header when made.
pub struct Table;

impl Table {
    /// Prints the header.
    pub fn start() -> Table {
        println!();
        println!(
            "  {:<48} {:>14} {:>14}  result",
            "measure", "value", "target"
        );
        Table
    }

    /// A measure with no target.
    pub fn info(&self, what: &str, value: impl std::fmt::Display) {
        println!("  {what:<48} {:>14}", value.to_string());
    }

    /// A measure against its target: PASS or OVER.
    pub fn check(&self, what: &str, value: impl std::fmt::Display, target: &str, ok: bool) {
        println!(
            "  {what:<48} {:>14} {target:>14}  {}",
            value.to_string(),
            if ok { "PASS" } else { "OVER" }
        );
    }
}
