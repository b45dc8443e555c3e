//! Tests of machine-configuration generation: equivalence with Talos's generator, the published
//! JSON schemas, golden files, and what each role may contain.

mod golden;
mod roles;
mod schema;
mod talos_equivalence;

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{ClusterInput, Cni, MachineRole, NodeInput, Taint, TaintEffect};
use crate::talos::secrets::SecretsBundle;
use crate::talos::version::VersionContract;

/// `tests/data/talos/<relative>`.
pub(super) fn vendored(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/talos")
        .join(relative)
}

/// The talosctl-layout fixture bundle (OpenSSL-made, see `src/talos/testdata/README.md`).
pub(super) fn fixture_secrets() -> SecretsBundle {
    SecretsBundle::from_yaml(include_str!("../../testdata/talosctl-secrets.yaml")).unwrap()
}

/// A realistic Hetzner cluster for `contract`.
pub(super) fn cluster(contract: VersionContract, cni: Cni) -> ClusterInput {
    let (talos, kubernetes) = match contract {
        VersionContract::V1_12 => ("v1.12.11", "1.35.0"),
        VersionContract::V1_13 => ("v1.13.9", "1.35.0"),
        VersionContract::V1_14 => ("v1.14.0-rc.1", "1.36.0"),
    };
    ClusterInput {
        name: "prod".into(),
        endpoint: "https://10.0.1.254:6443".into(),
        talos_version: talos.parse().unwrap(),
        kubernetes_version: kubernetes.parse().unwrap(),
        node_subnet: "10.0.1.0/24".parse().unwrap(),
        pod_cidr: "10.244.0.0/16".parse().unwrap(),
        service_cidr: "10.96.0.0/12".parse().unwrap(),
        cert_sans: vec!["10.0.1.254".into(), "203.0.113.10".into()],
        cni,
        allow_workloads_on_control_plane: false,
        private_interface: "eth1".into(),
        disk_encryption: true,
    }
}

/// A node of `role` with a label and a taint.
pub(super) fn node(role: MachineRole) -> NodeInput {
    let (hostname, ip) = match role {
        MachineRole::ControlPlane => ("prod-cp-1", "10.0.1.2"),
        MachineRole::Worker => ("prod-general-1", "10.0.1.10"),
    };
    NodeInput {
        role,
        hostname: Some(hostname.into()),
        labels: BTreeMap::from([("hk8s.io/pool".to_owned(), "general".to_owned())]),
        taints: vec![Taint {
            key: "dedicated".into(),
            value: Some("batch".into()),
            effect: TaintEffect::NoSchedule,
        }],
        cert_sans: vec![ip.into()],
    }
}

pub(super) const ROLES: [MachineRole; 2] = [MachineRole::ControlPlane, MachineRole::Worker];
pub(super) const CNIS: [Cni; 3] = [Cni::Flannel, Cni::Cilium, Cni::None];
