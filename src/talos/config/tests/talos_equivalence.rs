//! With the Hetzner additions off, our generator writes the same documents as Talos's own
//! generator, compared with Talos's stability fixtures for each contract and role.

use indexmap::IndexMap;

use super::super::assemble::{Plan, assemble};
use super::super::{Cni, MachineRole};
use super::{ROLES, vendored};
use crate::talos::secrets::SecretsBundle;
use crate::talos::version::VersionContract;
use crate::talos::yaml::{self, Node};

fn talos_plan<'a>(
    contract: VersionContract,
    role: MachineRole,
    secrets: &'a SecretsBundle,
) -> Plan<'a> {
    Plan {
        contract,
        role,
        secrets,
        cluster_name: "base",
        endpoint: "https://base:6443",
        kubernetes_version: "1.28.0".into(),
        dns_domain: "cluster.local",
        pod_subnets: vec!["10.244.0.0/16".into()],
        service_subnets: vec!["10.96.0.0/12".into()],
        machine_cert_sans: Vec::new(),
        api_server_cert_sans: Vec::new(),
        cni: Cni::Flannel,
        allow_scheduling_on_control_planes: false,
        hostname: None,
        node_subnet: None,
        private_interface: None,
        external_cloud_provider: false,
        kubelet_extra_args: IndexMap::new(),
        node_labels: IndexMap::new(),
        node_taints: IndexMap::new(),
        disk_encryption: false,
    }
}

#[test]
fn matches_talos_generator_for_every_contract_and_role() {
    let secrets_text = std::fs::read_to_string(vendored("stability/secrets.yaml")).unwrap();
    let secrets = SecretsBundle::from_yaml(&secrets_text).unwrap();
    for contract in VersionContract::ALL {
        for role in ROLES {
            let path = vendored(&format!(
                "stability/{contract}-base-{}.yaml",
                role.talos_type()
            ));
            let mut expected =
                yaml::parse_documents(&std::fs::read_to_string(&path).unwrap()).unwrap();
            // Talos still writes the deprecated, ignored `persist: true`; its schema refuses it
            // and we leave it out.
            let removed = expected[0].as_map_mut().unwrap().shift_remove("persist");
            assert_eq!(removed, Some(Node::Bool(true)));

            let actual = assemble(&talos_plan(contract, role, &secrets)).unwrap();
            let kinds = |documents: &[Node]| -> Vec<String> {
                documents
                    .iter()
                    .map(|d| {
                        d.get_path(&["kind"])
                            .and_then(Node::as_str)
                            .unwrap_or("v1alpha1")
                            .to_owned()
                    })
                    .collect()
            };
            assert_eq!(kinds(&actual), kinds(&expected), "{}", path.display());
            for (ours, theirs) in actual.iter().zip(&expected) {
                assert_eq!(ours, theirs, "{}: document differs", path.display());
            }
        }
    }
}

fn key_orders(node: &Node, path: String, out: &mut Vec<String>) {
    match node {
        Node::Map(map) => {
            out.push(format!("{path}: {:?}", map.keys().collect::<Vec<_>>()));
            for (key, value) in map {
                key_orders(value, format!("{path}.{key}"), out);
            }
        }
        Node::Seq(items) => {
            for (index, item) in items.iter().enumerate() {
                key_orders(item, format!("{path}[{index}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn key_order_follows_talos() {
    let secrets_text = std::fs::read_to_string(vendored("stability/secrets.yaml")).unwrap();
    let secrets = SecretsBundle::from_yaml(&secrets_text).unwrap();
    for contract in VersionContract::ALL {
        for role in ROLES {
            let path = vendored(&format!(
                "stability/{contract}-base-{}.yaml",
                role.talos_type()
            ));
            let mut expected =
                yaml::parse_documents(&std::fs::read_to_string(&path).unwrap()).unwrap();
            expected[0].as_map_mut().unwrap().shift_remove("persist");
            let actual = assemble(&talos_plan(contract, role, &secrets)).unwrap();
            for (ours, theirs) in actual.iter().zip(&expected) {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                key_orders(ours, String::new(), &mut a);
                key_orders(theirs, String::new(), &mut b);
                assert_eq!(a, b, "{}", path.display());
            }
        }
    }
}
