//! `hk8s-sim` command line: `hk8s-sim serve --listen 127.0.0.1:PORT --token TOKEN …`.
//! Prints `export HCLOUD_ENDPOINT=…` and `export HCLOUD_TOKEN=…` once listening and stops cleanly
//! on SIGINT/SIGTERM (saving `--state-file`). Talos nodes listen on `--talos-port` (50000) and
//! control planes on `--kube-port` (6443) of their servers' 127.x.y.z addresses.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hk8s_sim::faults::FaultSpec;
use hk8s_sim::latency::LatencyMode;
use hk8s_sim::{SimConfig, serve};

#[derive(Parser)]
#[command(
    name = "hk8s-sim",
    version,
    about = "Offline Hetzner Cloud API, Talos nodes and Kubernetes API for testing hk8s and your own HCL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the simulated Hetzner Cloud API until SIGINT/SIGTERM.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Bearer token clients must present (HCLOUD_TOKEN).
    #[arg(long)]
    token: String,
    /// How long actions take.
    #[arg(long, value_enum, default_value = "instant")]
    latency: LatencyMode,
    /// Multiplies every realistic duration (0.1 = ten times faster than Hetzner).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Faults, e.g. `5xx=0.02,429burst=0.01,locked=0.05,action_error=0.01,seed=7`. Hetzner API:
    /// 5xx, 429burst, locked, action_error, location_disabled=LOC, factory_download_error,
    /// create_image_error, rescue_ssh_refused=SECONDS. Talos API: talos_unavailable, talos_slow
    /// (delay up to 5 s), talos_reboot (per node per minute), slow_boot=FACTOR (boots take up to
    /// FACTOR times longer). Kubernetes API: kube_5xx, kube_429 (Retry-After), watch_drop.
    /// Probabilities in [0, 1]; durations scale with --time-scale. See the README.
    #[arg(long, default_value = "")]
    faults: FaultSpec,
    /// Seed of the fault stream when the spec has none.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Save the world here on shutdown and restore it on start.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Comma-separated Talos versions to pre-create snapshots for (both architectures).
    #[arg(long, value_delimiter = ',')]
    talos_snapshots: Vec<String>,
    /// Requests per hour before 429 rate_limit_exceeded.
    #[arg(long, default_value_t = hk8s_sim::DEFAULT_RATE_LIMIT_PER_HOUR)]
    rate_limit: u32,
    /// Seconds the rate-limit bucket takes to refill completely (3600 at Hetzner; shorter values
    /// let tests watch a bucket empty and refill).
    #[arg(long, default_value_t = 3600)]
    rate_limit_period: u64,
    /// Port Talos nodes serve apid on (and load balancers forward 50000 to), on their 127.x.y.z.
    #[arg(long, default_value_t = hk8s_sim::talos::APID_PORT)]
    talos_port: u16,
    /// Port control planes serve the Kubernetes API on (and load balancers forward 6443 to).
    #[arg(long, default_value_t = hk8s_sim::talos::KUBE_PORT)]
    kube_port: u16,
    /// First public IPv4 handed out (a loopback address, default 127.10.0.1). Give sims that run
    /// side by side different blocks (e.g. 127.20.0.1, 127.21.0.1) so each can keep the nominal
    /// ports 50000 and 6443.
    #[arg(long, default_value_t = hk8s_sim::world::DEFAULT_FIRST_IPV4, value_parser = parse_loopback)]
    public_ipv4_base: std::net::Ipv4Addr,
    /// Port the rescue systems' SSH servers listen on, on their server's 127.x.y.z (22 like
    /// Hetzner's, which needs root or CAP_NET_BIND_SERVICE; a test knob, the provider uses 22).
    #[arg(long, default_value_t = 22)]
    rescue_ssh_port: u16,
    /// Validate every Hetzner API response against Hetzner's OpenAPI description; violations are
    /// logged at WARN and listed at `GET /_sim/openapi` (also on with HK8S_SIM_CHECK_OPENAPI=1).
    #[arg(long)]
    check_openapi: bool,
}

fn parse_loopback(text: &str) -> Result<std::net::Ipv4Addr, String> {
    let ip: std::net::Ipv4Addr = text
        .parse()
        .map_err(|e| format!("{text:?} is not an IPv4 address: {e}"))?;
    if !ip.is_loopback() || ip.octets()[3] == 0 || ip == std::net::Ipv4Addr::LOCALHOST {
        return Err(format!(
            "{ip} must be a loopback address in 127.0.0.0/8 other than 127.0.0.1 and not ending in .0"
        ));
    }
    Ok(ip)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let Command::Serve(args) = Cli::parse().command;
    if !(args.time_scale >= 0.0 && args.time_scale.is_finite()) {
        eprintln!("hk8s-sim: --time-scale must be a non-negative number");
        return ExitCode::FAILURE;
    }
    let mut config = SimConfig::new(args.token.clone());
    config.listen = args.listen;
    config.latency = args.latency;
    config.time_scale = args.time_scale;
    config.faults = args.faults;
    config.seed = args.seed;
    config.state_file = args.state_file;
    config.talos_versions = args
        .talos_snapshots
        .into_iter()
        .filter(|v| !v.is_empty())
        .collect();
    config.rate_limit_per_hour = args.rate_limit;
    config.rate_limit_period = std::time::Duration::from_secs(args.rate_limit_period);
    config.talos_ports = hk8s_sim::talos::Ports {
        apid: args.talos_port,
        kube: args.kube_port,
    };
    config.public_ipv4_base = args.public_ipv4_base;
    config.claim_ipv4_block_at_start = true;
    config.rescue_ssh_port = args.rescue_ssh_port;
    config.check_openapi |= args.check_openapi;
    let handle = match serve(config).await {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("hk8s-sim: {}", error_chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "export HCLOUD_ENDPOINT={}", handle.endpoint());
    let _ = writeln!(stdout, "export HCLOUD_TOKEN={}", args.token);
    let _ = writeln!(
        stdout,
        "export HK8S_IMAGE_FACTORY={}",
        handle.image_factory_url()
    );
    let _ = stdout.flush();
    drop(stdout);
    wait_for_signal().await;
    match handle.shutdown().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hk8s-sim: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hk8s-sim: cannot watch SIGTERM ({e}); stop with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
