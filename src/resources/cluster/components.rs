//! What the cluster installs once Kubernetes answers and its nodes registered, on every apply
//! (server-side apply, so a newer provider upgrades it in place): helm-controller, Cilium when
//! it is the CNI (then the nodes become Ready), then together the hcloud cloud controller (then
//! the nodes are initialised: provider id set, `uninitialized` taint gone) and
//! kubelet-csr-approver (Talos kubelets rotate serving certificates; someone must approve them).
//!
//! With `cni = "none"` nothing can get a pod network until the user installs a CNI: the
//! controller's chart is applied but not awaited, and the apply says so.

use serde_json::Value;

use crate::kube::components::{
    FIELD_MANAGER, NAMESPACE, ccm, cilium, csr_approver, helm_controller,
};
use crate::kube::helm::{self, ChartSpec};
use crate::kube::{KubeClient, Propagation, retry_transient};
use crate::resources::fleet::gates::{self, NodeAddress};
use crate::resources::fleet::{Clients, Operation, failed};
use crate::talos::config::Cni;
use crate::tfplugin::diag::{Diagnostic, Diagnostics};

use super::infra::Infra;
use super::spec::ClusterSpec;

/// Applies `objects` in order, each repeated through transient failures (an API server that
/// restarts, a control plane rebooting) within the operation's deadline: server-side apply is
/// idempotent.
async fn apply_all(
    op: &Operation,
    kube: &KubeClient,
    objects: &[Value],
    what: &str,
) -> Result<(), Diagnostics> {
    for object in objects {
        retry_transient(&format!("apply {what}"), &op.deadline, || {
            kube.apply(object, FIELD_MANAGER, true)
        })
        .await
        .map_err(|e| failed(format!("Cannot apply {what}"), &e))?;
    }
    Ok(())
}

fn values_over(mut defaults: Value, user: &Value) -> String {
    helm::merge_values(&mut defaults, user);
    helm::values_yaml(&defaults)
}

fn ccm_chart(spec: &ClusterSpec) -> ChartSpec {
    let defaults = ccm::default_values(&spec.network.pod_cidr.to_string(), &spec.location);
    ChartSpec {
        name: ccm::RELEASE.into(),
        namespace: NAMESPACE.into(),
        repo: ccm::REPOSITORY.into(),
        chart: ccm::RELEASE.into(),
        version: spec.cloud_controller.version.clone(),
        values: values_over(defaults, &spec.cloud_controller.values),
        timeout: None,
        labels: Default::default(),
    }
}

fn csr_approver_chart() -> ChartSpec {
    ChartSpec {
        name: csr_approver::RELEASE.into(),
        namespace: NAMESPACE.into(),
        repo: csr_approver::REPOSITORY.into(),
        chart: csr_approver::RELEASE.into(),
        version: csr_approver::DEFAULT_VERSION.into(),
        values: helm::values_yaml(&csr_approver::default_values()),
        timeout: None,
        labels: Default::default(),
    }
}

fn cilium_chart(spec: &ClusterSpec) -> ChartSpec {
    ChartSpec {
        name: cilium::RELEASE.into(),
        namespace: NAMESPACE.into(),
        repo: cilium::REPOSITORY.into(),
        chart: cilium::CHART.into(),
        version: spec.cilium.version.clone(),
        values: values_over(
            cilium::default_values(spec.control_plane.count),
            &spec.cilium.values,
        ),
        timeout: None,
        labels: Default::default(),
    }
}

/// Installs (or upgrades) every component and waits for the nodes to be usable; returns what
/// the user should know although nothing failed.
///
/// # Errors
/// Which component failed (helm's own message) or what the nodes still wait for.
pub async fn install(
    op: &Operation,
    clients: &Clients,
    spec: &ClusterSpec,
    infra: &Infra,
    nodes: &[NodeAddress],
) -> Result<Vec<Diagnostic>, Diagnostics> {
    let kube = &clients.kube;
    apply_all(op, kube, &helm_controller::objects(), "helm-controller").await?;
    if spec.cni == Cni::Cilium {
        install_cilium(op, kube, spec).await?;
    }
    let ready = gates::nodes_become_ready(spec.cni);
    if ready {
        gates::wait_kubernetes(op, clients, nodes, true).await?;
    }
    let mut warnings = Vec::new();
    let (controller, approver) = tokio::join!(
        cloud_controller(op, kube, spec, infra, nodes, ready),
        install_csr_approver(op, kube, ready)
    );
    controller?;
    approver?;
    if !ready {
        warnings.push(Diagnostic::warning(
            "The cluster has no CNI yet",
            "cni = \"none\": the nodes registered but stay NotReady, and no pod (the hcloud cloud \
             controller's installer included) can start until you install a CNI. Its chart is \
             applied and installs by itself once a CNI runs.",
        ));
    }
    Ok(warnings)
}

/// Applies a chart; waits for its install only when pods can start (`ready`: a CNI runs).
async fn apply_chart(
    op: &Operation,
    kube: &KubeClient,
    chart: &ChartSpec,
    ready: bool,
    what: &str,
) -> Result<(), Diagnostics> {
    if ready {
        return kube
            .install_chart(chart, FIELD_MANAGER, &op.deadline)
            .await
            .map(drop)
            .map_err(|e| failed(format!("{what} did not install"), &e));
    }
    kube.apply_chart(chart, FIELD_MANAGER, &op.deadline)
        .await
        .map(drop)
        .map_err(|e| failed(format!("Cannot apply the chart of {what}"), &e))
}

/// The hcloud cloud controller: its Secret and chart, then every node initialised; or, when
/// turned off, the provider's release uninstalled.
async fn cloud_controller(
    op: &Operation,
    kube: &KubeClient,
    spec: &ClusterSpec,
    infra: &Infra,
    nodes: &[NodeAddress],
    ready: bool,
) -> Result<(), Diagnostics> {
    if !spec.cloud_controller.enabled {
        let ours = kube
            .chart_state(NAMESPACE, ccm::RELEASE)
            .await
            .ok()
            .flatten()
            .is_some_and(|state| state.object["metadata"]["labels"][helm::MANAGED_BY] == "hk8s");
        if ours {
            kube.uninstall_chart(NAMESPACE, ccm::RELEASE, &op.deadline)
                .await
                .map_err(|e| failed("Cannot uninstall the hcloud cloud controller", &e))?;
        }
        return Ok(());
    }
    let token = spec
        .cloud_controller
        .token
        .as_ref()
        .unwrap_or(&op.hcloud_token);
    apply_all(
        op,
        kube,
        &[ccm::secret(token.expose(), infra.network.id)],
        "the cloud controller's Secret kube-system/hcloud",
    )
    .await?;
    apply_chart(
        op,
        kube,
        &ccm_chart(spec),
        ready,
        "The hcloud cloud controller",
    )
    .await?;
    if ready {
        wait_initialised(op, kube, nodes).await?;
    }
    Ok(())
}

async fn install_csr_approver(
    op: &Operation,
    kube: &KubeClient,
    ready: bool,
) -> Result<(), Diagnostics> {
    apply_chart(
        op,
        kube,
        &csr_approver_chart(),
        ready,
        "The kubelet serving-certificate approver",
    )
    .await
}

/// Cilium: the first install through the bootstrap job (see [`cilium`]), then the HelmChart
/// takes the release over; later applies only upgrade the HelmChart.
async fn install_cilium(
    op: &Operation,
    kube: &KubeClient,
    spec: &ClusterSpec,
) -> Result<(), Diagnostics> {
    let chart = cilium_chart(spec);
    let charted = retry_transient("read the cilium HelmChart", &op.deadline, || {
        kube.chart_state(NAMESPACE, cilium::RELEASE)
    })
    .await
    .map_err(|e| failed("Cannot read the cilium HelmChart", &e))?
    .is_some();
    let released = retry_transient("read the cilium release", &op.deadline, || {
        kube.release(NAMESPACE, cilium::RELEASE)
    })
    .await
    .map_err(|e| failed("Cannot read the cilium release", &e))?
    .is_some_and(|r| r.status == "deployed");
    if !charted && !released {
        apply_all(
            op,
            kube,
            &cilium::bootstrap_objects(&chart.version, &chart.values),
            "the Cilium bootstrap job",
        )
        .await?;
        kube.wait_helm_job(
            NAMESPACE,
            cilium::BOOTSTRAP_JOB,
            cilium::RELEASE,
            &op.deadline,
        )
        .await
        .map_err(|e| failed("Cilium did not install", &e))?;
    }
    kube.install_chart(&chart, FIELD_MANAGER, &op.deadline)
        .await
        .map_err(|e| failed("Cilium did not install", &e))?;
    if !charted {
        // The HelmChart owns the release now; the one-shot job and its values are done.
        for (kind, api_version, name) in [
            ("Job", "batch/v1", cilium::BOOTSTRAP_JOB),
            ("Secret", "v1", cilium::BOOTSTRAP_VALUES),
        ] {
            if let Err(e) = kube
                .delete(
                    api_version,
                    kind,
                    Some(NAMESPACE),
                    name,
                    Some(Propagation::Background),
                )
                .await
            {
                tracing::info!(error = %e, "the Cilium bootstrap {kind} was not deleted");
            }
        }
    }
    Ok(())
}

/// Waits until the cloud controller initialised every node in `nodes`.
async fn wait_initialised(
    op: &Operation,
    kube: &KubeClient,
    nodes: &[NodeAddress],
) -> Result<(), Diagnostics> {
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    kube.wait_nodes(
        &names,
        "initialised by the hcloud cloud controller",
        &op.deadline,
        gates::uninitialised,
    )
    .await
    .map(drop)
    .map_err(|e| {
        failed(
            "The hcloud cloud controller did not initialise the nodes",
            &e,
        )
    })
}
