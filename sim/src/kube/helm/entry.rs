//! klipper-helm's `entry` script, which every helm-controller job runs: from the container's
//! environment (`NAME`, `CHART`, `REPO`, `TARGET_NAMESPACE`, `HELM_VERSION`, `FAILURE_POLICY`,
//! `EXPECTED_RELEASE_REVISION`, `CONFIG_HASH`), its arguments (`install [--namespace n]
//! [--create-namespace] [--version v] [--set k=v] [--set-string k=v]` or `delete`) and the values
//! files mounted at `/config` (`*.yaml`, in name order), it adds the chart repository under the
//! release name (`helm repo add ${NAME%%/*} $REPO`; a chart URL skips that), looks at the
//! release's status, and installs, upgrades (a deployed release), re-installs (a failed one,
//! `FAILURE_POLICY=reinstall`) or uninstalls it. What it writes to `/dev/termination-log` (the
//! "Installing helm chart" lines) and to its output (Helm's, with `Error: …` on failure) is
//! returned with the exit code.
//!
//! Versions matter: klipper-helm before v0.13.0 does not label the release with the config hash
//! helm-controller v0.17.4+ checks (see [`super::controller`]), and only v0.13.0+ skips an
//! upgrade whose release revision is not the `EXPECTED_RELEASE_REVISION`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::{Value, json};

use super::action::{self, Repositories, Request};
use super::release;
use super::values;
use crate::kube::store::Store;

/// A `(major, minor, patch)` image version; `latest` and unparsable tags count as newest.
pub type Version = (u64, u64, u64);

/// The version in an image reference's tag (`rancher/klipper-helm:v0.9.10-build20251111`).
pub fn image_version(image: &str) -> Version {
    let tag = image
        .rsplit_once(':')
        .map(|(_, t)| t)
        .filter(|t| !t.contains('/'))
        .unwrap_or("latest");
    let core = tag
        .trim_start_matches('v')
        .split(['-', '+'])
        .next()
        .unwrap_or_default();
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    match (
        parts.next().flatten(),
        parts.next().flatten(),
        parts.next().flatten(),
    ) {
        (Some(a), Some(b), Some(c)) => (a, b, c),
        _ => (u64::MAX, 0, 0),
    }
}

/// What one run of the container sees.
#[derive(Debug, Clone)]
pub struct Job {
    /// The container's environment (`value`s).
    pub env: BTreeMap<String, String>,
    /// The container's arguments.
    pub args: Vec<String>,
    /// `(file name, content)` of the files under `/config`.
    pub config_files: Vec<(String, String)>,
    /// The pod's namespace (Helm's namespace when `--namespace` is not given).
    pub pod_namespace: String,
    /// klipper-helm image version.
    pub klipper: Version,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Exit code.
    pub exit_code: i32,
    /// What the container printed.
    pub log: String,
    /// What it wrote to `/dev/termination-log`.
    pub termination_log: String,
    /// `install`, `upgrade` or `delete` when Helm was run for it.
    pub action: Option<&'static str>,
}

struct Run<'a> {
    job: &'a Job,
    log: String,
    term: String,
    action: Option<&'static str>,
}

impl Run<'_> {
    fn env(&self, key: &str) -> &str {
        self.job
            .env
            .get(key)
            .map(String::as_str)
            .unwrap_or_default()
    }

    fn finish(self, exit_code: i32) -> Outcome {
        Outcome {
            exit_code,
            log: self.log,
            termination_log: self.term,
            action: self.action,
        }
    }

    fn fail(mut self, error: &str) -> Outcome {
        self.log.push_str(&format!("Error: {error}\n"));
        self.finish(1)
    }
}

/// The parsed `install` arguments.
#[derive(Debug, Default)]
struct InstallArgs {
    namespace: Option<String>,
    create_namespace: bool,
    version: String,
    sets: Vec<(String, bool)>,
}

fn parse_args(args: &[String]) -> Result<InstallArgs, String> {
    let mut out = InstallArgs::default();
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| iter.next().cloned());
        match flag {
            "--namespace" | "-n" => out.namespace = value(),
            "--create-namespace" => out.create_namespace = true,
            "--version" => out.version = value().unwrap_or_default(),
            "--set" => out.sets.push((value().unwrap_or_default(), true)),
            "--set-string" => out.sets.push((value().unwrap_or_default(), false)),
            "--take-ownership" | "--wait" | "--atomic" => {}
            other => return Err(format!("unknown flag: {other}")),
        }
    }
    Ok(out)
}

/// Runs the entry script once.
pub fn run(store: &mut Store, job: &Job, own: Option<SocketAddr>, timestamp: &str) -> Outcome {
    let mut run = Run {
        job,
        log: String::new(),
        term: String::new(),
        action: None,
    };
    if run.env("HELM_VERSION") == "v2" {
        let message = "Helm v2 is EOL effective 2020-11-13; upgrade your chart to helm v3\n";
        run.term.push_str(message);
        run.log.push_str(message);
        return run.finish(64);
    }
    let delete = job.args.first().map(String::as_str) == Some("delete");
    let name = run.env("NAME").to_string();
    let chart = run.env("CHART").to_string();
    let mut repositories: Repositories = Vec::new();
    if !delete {
        if chart.starts_with("http://") || chart.starts_with("https://") {
            run.log
                .push_str("chart path is a url, skipping repo update\n");
        } else {
            if chart.starts_with("stable/") {
                return run.fail(
                    &action::repo_add("https://charts.helm.sh/stable/", own)
                        .err()
                        .unwrap_or_default(),
                );
            }
            let repo = run.env("REPO").to_string();
            if !repo.is_empty() {
                let alias = name.split('/').next().unwrap_or_default().to_string();
                match action::repo_add(&repo, own) {
                    Ok(repository) => {
                        run.log
                            .push_str(&format!("{alias:?} has been added to your repositories\n"));
                        run.log.push_str(&format!(
                            "Hang tight while we grab the latest from your chart repositories...\n...Successfully got an update from the {alias:?} chart repository\nUpdate Complete. ⎈Happy Helming!⎈\n"
                        ));
                        repositories.push((alias, repository));
                    }
                    Err(e) => return run.fail(&e),
                }
            }
        }
    }
    let target = run.env("TARGET_NAMESPACE").to_string();
    let current = release::current(store, &target, &name);
    let newer = job.klipper >= (0, 13, 0);
    let expected = run.env("EXPECTED_RELEASE_REVISION").to_string();
    let check_revision = |run: &mut Run<'_>, revision: u32| -> bool {
        if newer && !expected.is_empty() && expected != revision.to_string() {
            let message = format!(
                "Current release revision {revision} does not match expected revision {expected}\n"
            );
            run.term.push_str(&message);
            run.log.push_str(&message);
            return false;
        }
        true
    };
    if delete {
        let Some(current) = current else {
            run.term
                .push_str("No helm chart installed; nothing to delete\n");
            return run.finish(0);
        };
        if !check_revision(&mut run, current.revision) {
            return run.finish(0);
        }
        run.term.push_str("Uninstalling helm chart\n");
        run.action = Some("delete");
        match action::uninstall(store, &target, &name) {
            Ok(out) => run.log.push_str(&out),
            Err(e) => run.log.push_str(&format!("Error: {e}\n")),
        }
        // `helm uninstall … || true`
        return run.finish(0);
    }
    let args = match parse_args(&job.args) {
        Ok(a) => a,
        Err(e) => return run.fail(&e),
    };
    let mut config = json!({});
    let mut files: Vec<&(String, String)> = job
        .config_files
        .iter()
        .filter(|(n, _)| n.ends_with(".yaml"))
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let verb_error = |current: bool| {
        if current {
            "UPGRADE FAILED"
        } else {
            "INSTALLATION FAILED"
        }
    };
    let upgrade = current.as_ref().is_some_and(|c| {
        c.status == "deployed" || c.status == "superseded" || c.status == "pending-upgrade"
    });
    for (file, text) in files {
        match values::parse_file(&format!("/config/{file}"), text) {
            Ok(v) => values::merge(&mut config, &v),
            Err(e) => return run.fail(&format!("{}: {e}", verb_error(upgrade))),
        }
    }
    for (set, typed) in &args.sets {
        if let Err(e) = values::apply_set(&mut config, set, *typed) {
            return run.fail(&format!("{}: {e}", verb_error(upgrade)));
        }
    }
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| job.pod_namespace.clone());
    let labels = if newer && !run.env("CONFIG_HASH").is_empty() {
        vec![(
            "helmcharts.helm.cattle.io/configHash".to_string(),
            run.env("CONFIG_HASH").to_string(),
        )]
    } else {
        Vec::new()
    };
    let install =
        |run: &mut Run<'_>, store: &mut Store, previous: Option<&release::Release>| -> i32 {
            let is_upgrade = previous.is_some();
            run.action = Some(if is_upgrade { "upgrade" } else { "install" });
            let prefix = verb_error(is_upgrade);
            let located = match action::locate(&chart, &args.version, &repositories, own) {
                Ok(l) => l,
                Err(e) => {
                    run.log.push_str(&format!("Error: {prefix}: {e}\n"));
                    return 1;
                }
            };
            let request = Request {
                release: name.clone(),
                namespace: namespace.clone(),
                create_namespace: args.create_namespace,
                located,
                config: config.clone(),
                labels: labels.clone(),
            };
            match action::install_or_upgrade(store, &request, previous, timestamp) {
                Ok(out) => {
                    run.log.push_str(&out);
                    0
                }
                Err(e) => {
                    run.log.push_str(&format!("Error: {prefix}: {e}\n"));
                    1
                }
            }
        };
    let Some(current) = current else {
        run.term.push_str("Installing helm chart\n");
        let code = install(&mut run, store, None);
        return run.finish(code);
    };
    if newer && !check_revision(&mut run, current.revision) {
        return run.finish(0);
    }
    let mut status = current.status.clone();
    if matches!(
        status.as_str(),
        "pending-install" | "pending-upgrade" | "pending-rollback" | "superseded" | "uninstalling"
    ) {
        run.log.push_str(&format!(
            "Previous helm job was interrupted, updating status from {status} to failed\n"
        ));
        run.term.push_str(&format!(
            "Resetting helm release status from '{status}' to 'failed'\n"
        ));
        if matches!(status.as_str(), "pending-upgrade" | "superseded") {
            run.term.push_str("Retrying upgrade of helm chart\n");
            run.log.push_str(&format!("Retrying upgrade of {name}\n"));
            let code = install(&mut run, store, Some(&current));
            return run.finish(code);
        }
        status = "failed".into();
    }
    if status == "deployed" {
        run.log.push_str(&format!("Already installed {name}\n"));
        run.term.push_str("Upgrading helm chart\n");
        run.log.push_str(&format!("Upgrading {name}\n"));
        let code = install(&mut run, store, Some(&current));
        return run.finish(code);
    }
    let policy = match run.env("FAILURE_POLICY") {
        "" => "reinstall".to_string(),
        p => p.to_string(),
    };
    if policy == "reinstall" {
        run.term
            .push_str(&format!("Uninstalling {status} helm chart\n"));
        match action::uninstall(store, &target, &name) {
            Ok(out) => run.log.push_str(&out),
            Err(e) => return run.fail(&e),
        }
        run.log.push_str("Deleted\n");
        run.term.push_str("Installing helm chart\n");
        let code = install(&mut run, store, None);
        return run.finish(code);
    }
    let message = format!(
        "Release status is '{status}' and failure policy is '{policy}', not 'reinstall'; waiting for operator intervention\n"
    );
    run.term.push_str(&message);
    run.log.push_str(&message);
    run.finish(1)
}

/// The value of an env var entry (only literal `value`s; `valueFrom` reads nothing).
pub fn env_of(container: &Value) -> BTreeMap<String, String> {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_versions() {
        assert_eq!(
            image_version("rancher/klipper-helm:v0.9.10-build20251111"),
            (0, 9, 10)
        );
        assert_eq!(image_version("rancher/helm-controller:v0.17.7"), (0, 17, 7));
        assert_eq!(image_version("rancher/klipper-helm").0, u64::MAX);
        assert_eq!(image_version("registry:5000/klipper-helm").0, u64::MAX);
    }
}
