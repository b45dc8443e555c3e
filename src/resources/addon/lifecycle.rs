//! Install, upgrade, refresh, uninstall and import of an addon, through the cluster's
//! Kubernetes API (admin credentials minted from the connection's secrets for this operation).
//!
//! - apply (create and update): prerequisites, then the HelmChart with server-side apply; with
//!   `wait` the install job's outcome (helm's own error when it failed) and the release's
//!   workloads ready, within `timeout`.
//! - refresh: the HelmChart gone → the addon is gone (the plan recreates it); its spec changed
//!   outside Terraform → `version`/`values` in state say what it is now, so the plan shows the
//!   repair; status and revision from the release record.
//! - delete: the HelmChart deleted and awaited until helm-controller uninstalled the release.
//! - import (`<cluster>/<namespace>/<name>`): the connection cannot be imported (it holds the
//!   cluster's secrets), so the imported state has none; the first plan sets it in place and
//!   that apply changes nothing in the cluster when the configuration matches (same release
//!   revision).

use std::time::Duration;

use serde_json::Value as Json;

use super::release::{self, AddonRelease};
use crate::deadline::Deadline;
use crate::kube::KubeClient;
use crate::kube::components::{FIELD_MANAGER, NAMESPACE as SYSTEM_NAMESPACE, ccm};
use crate::provider::ProviderData;
use crate::resources::cluster_ref::ClusterRef;
use crate::resources::config_view as view;
use crate::resources::fleet::{Clients, failed};
use crate::resources::import_id::{self, ImportId};
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::framework::Warnings;
use crate::tfplugin::value::{Type, Value};

/// How long a refresh may spend reading the release.
const READ_BUDGET: Duration = Duration::from_secs(60);
/// Extra time for reaching the cluster, on top of the addon's `timeout`.
const CONNECT_SLACK: Duration = Duration::from_secs(60);

fn attr(name: &str) -> AttributePath {
    AttributePath::root(name)
}

fn cluster_of(value: &Value) -> Result<Option<ClusterRef>, Diagnostics> {
    match view::known(value, &attr("cluster")) {
        Some(connection) => ClusterRef::from_connection(connection).map(Some),
        None => Ok(None),
    }
}

async fn connect(data: &ProviderData, cluster: &ClusterRef) -> Result<KubeClient, Diagnostics> {
    Clients::connect(
        &cluster.secrets,
        &cluster.endpoint_ip,
        &cluster.name,
        data.poll_interval,
    )
    .await
    .map(|clients| clients.kube)
}

fn deadline(
    data: &ProviderData,
    budget: Duration,
    cancel: &tokio_util::sync::CancellationToken,
) -> Deadline {
    Deadline::after(budget)
        .with_cancel(cancel.clone())
        .with_poll_interval(data.poll_interval)
}

/// Create and update.
///
/// # Errors
/// What failed (helm's own message for a failed install); everything applied stays and the
/// next apply continues from it.
pub async fn apply(
    data: &ProviderData,
    planned: &Value,
    creating: bool,
    cancel: &tokio_util::sync::CancellationToken,
    warnings: &Warnings,
) -> Result<Value, Diagnostics> {
    let mut state = planned.clone();
    let cluster = cluster_of(planned)?.ok_or_else(|| {
        Diagnostics::from(
            Diagnostic::error(
                "The addon's cluster is not known",
                "Set `cluster = hk8s_cluster.<name>.connection`.",
            )
            .at(attr("cluster")),
        )
    })?;
    let name = view::string(planned, &attr("name"))
        .unwrap_or_default()
        .to_owned();
    if name == release::CSI && view::is_unknown(planned, &attr("encryption_passphrase")) {
        state.set_at_path(
            &attr("encryption_passphrase"),
            Value::from(release::new_passphrase()),
        );
    }
    let addon = release::build(&state, &cluster)?;
    let deadline = deadline(data, addon.timeout + CONNECT_SLACK, cancel);
    let kube = connect(data, &cluster).await?;
    prepare(data, &kube, &addon).await?;
    let ns = addon.chart.namespace.clone();
    let (status, revision) = if addon.wait {
        let installed = match kube
            .install_chart(&addon.chart, FIELD_MANAGER, &deadline)
            .await
        {
            Ok(installed) => installed,
            Err(e) => {
                if creating && matches!(e, crate::kube::Error::ChartFailed { .. }) {
                    // A release that never installed is not kept: Terraform records no state for
                    // a failed create, so the HelmChart would be left behind, retrying.
                    let cleanup = Deadline::after(CONNECT_SLACK).with_cancel(cancel.clone());
                    if let Err(e) = kube.uninstall_chart(&ns, &name, &cleanup).await {
                        tracing::info!(error = %e, "the failed addon's HelmChart was not removed");
                    }
                }
                return Err(install_failed(&name, &e, creating));
            }
        };
        kube.wait_release_ready(&ns, &name, &deadline)
            .await
            .map_err(|e| {
                failed(
                    format!("The workloads of addon {name:?} did not become ready"),
                    &e,
                )
            })?;
        ("deployed".to_owned(), installed.revision)
    } else {
        kube.apply_chart(&addon.chart, FIELD_MANAGER, &deadline)
            .await
            .map_err(|e| failed(format!("Cannot apply the HelmChart of addon {name:?}"), &e))?;
        let revision = kube
            .release(&ns, &name)
            .await
            .ok()
            .flatten()
            .map_or(0, |r| r.revision);
        warnings.push(Diagnostic::warning(
            format!("Addon {name:?} applied without waiting"),
            "wait = false: helm-controller installs it in the background; its status and revision \
             are read again on the next refresh.",
        ));
        ("pending".to_owned(), revision)
    };
    state.set_at_path(&attr("status"), Value::from(status));
    state.set_at_path(&attr("revision"), Value::from(revision));
    Ok(state)
}

fn install_failed(name: &str, error: &crate::kube::Error, creating: bool) -> Diagnostics {
    match error {
        crate::kube::Error::ChartFailed { message, .. } => Diagnostic::error(
            format!("Addon {name:?} failed to install"),
            format!(
                "helm said: {message}\n\n{}",
                if creating {
                    "The failed release was removed again; fix the configuration (chart, version, \
                     values) and apply again."
                } else {
                    "The HelmChart stays as applied and the plan keeps showing the change; fix the \
                     configuration (chart, version, values) and apply again."
                }
            ),
        )
        .into(),
        other => failed(format!("Addon {name:?} did not install"), other),
    }
}

/// What must exist before the chart: hcloud-csi's passphrase Secret, and the token Secret
/// `hcloud` when the cluster's cloud controller did not make it (turned off).
async fn prepare(
    data: &ProviderData,
    kube: &KubeClient,
    addon: &AddonRelease,
) -> Result<(), Diagnostics> {
    for object in &addon.prerequisites {
        kube.apply(object, FIELD_MANAGER, true)
            .await
            .map_err(|e| failed("Cannot apply the addon's Secret", &e))?;
    }
    if addon.needs_hcloud_secret {
        let exists = kube
            .get("v1", "Secret", Some(SYSTEM_NAMESPACE), ccm::SECRET)
            .await
            .map_err(|e| failed("Cannot read the Secret kube-system/hcloud", &e))?
            .is_some();
        if !exists {
            let token = data.require_token()?;
            let secret = serde_json::json!({
                "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": ccm::SECRET, "namespace": SYSTEM_NAMESPACE,
                             "labels": {"app.kubernetes.io/managed-by": "hk8s"}},
                "stringData": {"token": token.expose()},
            });
            kube.apply(&secret, FIELD_MANAGER, true)
                .await
                .map_err(|e| failed("Cannot apply the Secret kube-system/hcloud", &e))?;
        }
    }
    Ok(())
}

/// Refresh.
///
/// # Errors
/// A malformed connection in state.
pub async fn read(
    data: &ProviderData,
    prior: &Value,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Value, Diagnostics> {
    let Some(cluster) = cluster_of(prior)? else {
        return Ok(prior.clone());
    };
    let addon = release::build(prior, &cluster)?;
    let kube = match connect(data, &cluster).await {
        Ok(kube) => kube,
        Err(_) => return Ok(prior.clone()),
    };
    let ns = addon.chart.namespace.as_str();
    // A cluster that cannot be reached (or not within the budget) keeps what state says, so
    // the plan stays usable.
    let read = tokio::time::timeout(READ_BUDGET, kube.chart_state(ns, &addon.chart.name));
    let live = tokio::select! {
        read = read => match read {
            Ok(Ok(live)) => live,
            Ok(Err(e)) => {
                tracing::info!(error = %e, "addon not refreshed: the cluster's API did not answer");
                return Ok(prior.clone());
            }
            Err(_) => {
                tracing::info!(budget = ?READ_BUDGET, "addon not refreshed: the cluster's API did not answer in time");
                return Ok(prior.clone());
            }
        },
        () = cancel.cancelled() => return Ok(prior.clone()),
    };
    let Some(live) = live else {
        return Ok(Value::Null);
    };
    let mut state = prior.clone();
    let wanted = addon.chart.object();
    let spec = &live.object["spec"];
    let failed =
        live.failure.is_some() || live.release.as_ref().is_some_and(|r| r.status == "failed");
    // A change that failed to install stays what the configuration asks for: state keeps the
    // last good values, so the plan shows the change again and the next apply retries it.
    // Anything else that differs was changed outside Terraform and shows as drift.
    if !failed {
        if spec["version"] != wanted["spec"]["version"]
            && let Some(version) = spec["version"].as_str()
        {
            state.set_at_path(&attr("version"), Value::from(version));
        }
        let same = |field: &str| spec[field] == wanted["spec"][field];
        if !(same("valuesContent") && same("repo") && same("chart")) {
            state.set_at_path(&attr("values"), Value::from(changed_outside(spec)));
        }
    }
    let status = match (&live.failure, &live.release) {
        (Some(_), _) => "failed".to_owned(),
        (None, Some(release)) => release.status.clone(),
        (None, None) => "pending".to_owned(),
    };
    if live.object["metadata"]["deletionTimestamp"].is_string() {
        state.set_at_path(&attr("status"), Value::from("uninstalling"));
    } else {
        state.set_at_path(&attr("status"), Value::from(status));
    }
    if let Some(release) = &live.release {
        state.set_at_path(&attr("revision"), Value::from(release.revision));
    }
    Ok(state)
}

/// What `values` shows in state when the HelmChart was changed outside Terraform: a comment
/// saying so and what it holds now, so the plan's diff reads as the repair it is.
fn changed_outside(spec: &Json) -> String {
    format!(
        "# changed outside Terraform: chart {} {} from {}\n{}",
        spec["chart"].as_str().unwrap_or("?"),
        spec["version"].as_str().unwrap_or("?"),
        spec["repo"].as_str().unwrap_or("?"),
        spec["valuesContent"].as_str().unwrap_or_default()
    )
}

/// Delete: uninstall and wait.
///
/// # Errors
/// When the uninstall did not finish within `timeout`.
pub async fn delete(
    data: &ProviderData,
    prior: &Value,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(), Diagnostics> {
    let Some(cluster) = cluster_of(prior)? else {
        return Ok(());
    };
    let addon = release::build(prior, &cluster)?;
    let deadline = deadline(data, addon.timeout + CONNECT_SLACK, cancel);
    let kube = connect(data, &cluster).await?;
    kube.uninstall_chart(&addon.chart.namespace, &addon.chart.name, &deadline)
        .await
        .map_err(|e| {
            failed(
                format!("Addon {:?} was not uninstalled", addon.chart.name),
                &e,
            )
        })
}

/// Import: the state the id names, without its connection (see the module documentation).
///
/// # Errors
/// A malformed id.
pub fn import(id: &str, value_type: &Type) -> Result<Value, Diagnostics> {
    let ImportId::Addon {
        namespace, name, ..
    } = import_id::addon(id)?
    else {
        return Err(Diagnostic::error(
            "Invalid import id",
            "expected <cluster>/<namespace>/<name>",
        )
        .into());
    };
    let version = super::catalog::find(&name).map(|e| Value::from(e.default_version));
    Value::object([
        ("id", Value::from(id)),
        ("name", Value::from(name)),
        ("namespace", Value::from(namespace)),
        ("version", version.unwrap_or(Value::Null)),
        ("wait", Value::Bool(true)),
        ("timeout", Value::from(super::schema::DEFAULT_TIMEOUT)),
    ])
    .conform(value_type, &AttributePath::empty())
    .map_err(|e| failed("Cannot build the imported state", &e))
}
