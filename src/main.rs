//! `terraform-provider-hk8s`: started by Terraform (go-plugin), or by hand with `--debug`.

use hk8s::provider::{Hk8sProvider, PROVIDER_ADDRESS};
use hk8s::tfplugin::server::{ServeOptions, logging, serve};

const USAGE: &str = "\
terraform-provider-hk8s: Kubernetes clusters on Hetzner Cloud running Talos Linux

Terraform and OpenTofu start this program themselves; see the registry docs for usage.

Usage:
  terraform-provider-hk8s            serve Terraform's plugin protocol (started by Terraform)
  terraform-provider-hk8s --debug    serve for a debugger; prints TF_REATTACH_PROVIDERS to export
  terraform-provider-hk8s --version  print the version
  terraform-provider-hk8s --help     print this help
";

/// What the command line asks for.
enum Command {
    Serve { debug: bool },
    Version,
    Help,
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    match args {
        [] => Ok(Command::Serve { debug: false }),
        [flag] if flag == "--debug" || flag == "-debug" => Ok(Command::Serve { debug: true }),
        [flag] if flag == "--version" || flag == "-version" || flag == "version" => {
            Ok(Command::Version)
        }
        [flag] if flag == "--help" || flag == "-help" || flag == "-h" || flag == "help" => {
            Ok(Command::Help)
        }
        other => Err(format!("unexpected arguments: {}", other.join(" "))),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_args(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("Error: {message}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let debug = match command {
        Command::Version => {
            println!("terraform-provider-hk8s {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Command::Help => {
            print!("{USAGE}");
            return;
        }
        Command::Serve { debug } => debug,
    };
    logging::init("provider");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("Error: starting the async runtime: {error}");
            std::process::exit(1);
        }
    };
    let options = ServeOptions::new(PROVIDER_ADDRESS).debug(debug);
    let code = runtime.block_on(serve(Hk8sProvider::default(), options));
    // Background tasks (open streams) must not keep the process alive after shutdown.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
