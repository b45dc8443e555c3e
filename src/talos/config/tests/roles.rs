//! What each role may contain, and the Hetzner settings, read back from the generated YAML.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{CNIS, cluster, fixture_secrets, node};
use crate::talos::config::{Cni, Error, MachineRole, generate};
use crate::talos::version::VersionContract;
use crate::talos::yaml::Node;

fn find<'a>(documents: &'a [Node], kind: &str) -> Option<&'a Node> {
    documents
        .iter()
        .find(|d| d.get_path(&["kind"]).and_then(Node::as_str) == Some(kind))
}

#[test]
fn workers_carry_no_ca_keys_no_etcd_and_no_encryption_secret() {
    let secrets = fixture_secrets();
    let private_keys = [
        &secrets.os_ca.key_pem,
        &secrets.kubernetes_ca.key_pem,
        &secrets.aggregator_ca.key_pem,
        &secrets.etcd_ca.key_pem,
        &secrets.service_account_key,
    ];
    let secretbox = match &secrets.encryption {
        crate::talos::secrets::EncryptionSecret::Secretbox(s)
        | crate::talos::secrets::EncryptionSecret::AesCbc(s) => s.clone(),
    };
    for contract in VersionContract::ALL {
        for cni in CNIS {
            let worker = generate(
                &secrets,
                &cluster(contract, cni),
                &node(MachineRole::Worker),
            )
            .unwrap()
            .to_yaml()
            .unwrap();
            for key in private_keys {
                assert!(
                    !worker.contains(key.as_str()),
                    "{contract}: raw key in worker config"
                );
                assert!(
                    !worker.contains(&STANDARD.encode(key)),
                    "{contract}: key in worker config"
                );
            }
            assert!(
                !worker.contains(&secretbox),
                "{contract}: encryption secret in worker config"
            );
            assert!(
                !worker.contains("etcd"),
                "{contract}: etcd settings in worker config"
            );
            assert!(!worker.contains("PRIVATE KEY"), "{contract}");

            let control_plane = generate(
                &secrets,
                &cluster(contract, cni),
                &node(MachineRole::ControlPlane),
            )
            .unwrap()
            .to_yaml()
            .unwrap();
            assert!(control_plane.contains(&secretbox), "{contract}");
            assert!(control_plane.contains("advertisedSubnets"), "{contract}");
        }
    }
}

#[test]
fn hetzner_settings_are_present_for_every_contract() {
    let secrets = fixture_secrets();
    for contract in VersionContract::ALL {
        let config = generate(
            &secrets,
            &cluster(contract, Cni::Flannel),
            &node(MachineRole::ControlPlane),
        )
        .unwrap();
        let docs = config.documents();
        let v1 = &docs[0];
        assert_eq!(
            v1.get_path(&["cluster", "externalCloudProvider", "enabled"]),
            Some(&Node::Bool(true))
        );
        assert_eq!(
            v1.get_path(&["cluster", "etcd", "advertisedSubnets"]),
            Some(&Node::Seq(vec![Node::String("10.0.1.0/24".into())]))
        );
        let sans = v1.get_path(&["machine", "certSANs"]).unwrap();
        for san in ["10.0.1.254", "203.0.113.10", "10.0.1.2"] {
            assert!(matches!(sans, Node::Seq(items) if items.contains(&Node::String(san.into()))));
        }
        assert_eq!(
            find(docs, "HostnameConfig")
                .unwrap()
                .get_path(&["hostname"]),
            Some(&Node::String("prod-cp-1".into()))
        );
        assert!(
            find(docs, "HostnameConfig")
                .unwrap()
                .get_path(&["auto"])
                .is_none()
        );
        assert!(
            find(docs, "DHCPv4Config")
                .is_some_and(|d| d.get_path(&["name"]) == Some(&Node::String("eth1".into())))
        );
        assert!(find(docs, "LinkConfig").is_some());

        let (subnets, rotate, endpoint, labels, taints, api_sans) =
            if contract.kubernetes_config_documents() {
                (
                    find(docs, "KubeNodeConfig")
                        .unwrap()
                        .get_path(&["nodeIP", "validSubnets"]),
                    find(docs, "KubeletConfig")
                        .unwrap()
                        .get_path(&["extraArgs", "rotate-server-certificates"]),
                    find(docs, "KubeClusterConfig")
                        .unwrap()
                        .get_path(&["endpoint"]),
                    find(docs, "KubeNodeConfig").unwrap().get_path(&["labels"]),
                    find(docs, "KubeNodeConfig").unwrap().get_path(&["taints"]),
                    find(docs, "KubeAPIServerConfig")
                        .unwrap()
                        .get_path(&["certExtraSANs"]),
                )
            } else {
                (
                    v1.get_path(&["machine", "kubelet", "nodeIP", "validSubnets"]),
                    v1.get_path(&[
                        "machine",
                        "kubelet",
                        "extraArgs",
                        "rotate-server-certificates",
                    ]),
                    v1.get_path(&["cluster", "controlPlane", "endpoint"]),
                    v1.get_path(&["machine", "nodeLabels"]),
                    v1.get_path(&["machine", "nodeTaints"]),
                    v1.get_path(&["cluster", "apiServer", "certSANs"]),
                )
            };
        assert_eq!(
            subnets,
            Some(&Node::Seq(vec![Node::String("10.0.1.0/24".into())])),
            "{contract}"
        );
        assert_eq!(rotate, Some(&Node::String("true".into())), "{contract}");
        assert_eq!(
            endpoint,
            Some(&Node::String("https://10.0.1.254:6443".into())),
            "{contract}"
        );
        assert_eq!(
            labels.unwrap().get_path(&["hk8s.io/pool"]),
            Some(&Node::String("general".into()))
        );
        assert_eq!(
            taints.unwrap().get_path(&["dedicated"]),
            Some(&Node::String("batch:NoSchedule".into()))
        );
        assert!(
            matches!(api_sans, Some(Node::Seq(items)) if items.contains(&Node::String("203.0.113.10".into())))
        );
    }
}

#[test]
fn cilium_disables_flannel_and_kube_proxy() {
    let secrets = fixture_secrets();
    for contract in VersionContract::ALL {
        for (cni, proxy_disabled) in [
            (Cni::Cilium, true),
            (Cni::None, false),
            (Cni::Flannel, false),
        ] {
            let config = generate(
                &secrets,
                &cluster(contract, cni),
                &node(MachineRole::ControlPlane),
            )
            .unwrap();
            let docs = config.documents();
            if contract.kubernetes_config_documents() {
                assert_eq!(
                    find(docs, "KubeFlannelCNIConfig").is_some(),
                    cni == Cni::Flannel
                );
                let enabled = find(docs, "KubeProxyConfig")
                    .unwrap()
                    .get_path(&["enabled"]);
                assert_eq!(
                    enabled == Some(&Node::Bool(false)),
                    proxy_disabled,
                    "{contract} {cni:?}"
                );
            } else {
                let name = docs[0].get_path(&["cluster", "network", "cni", "name"]);
                assert_eq!(
                    name == Some(&Node::String("none".into())),
                    cni != Cni::Flannel
                );
                let disabled = docs[0].get_path(&["cluster", "proxy", "disabled"]);
                assert_eq!(
                    disabled == Some(&Node::Bool(true)),
                    proxy_disabled,
                    "{contract} {cni:?}"
                );
            }
        }
    }
}

#[test]
fn kubernetes_versions_outside_the_contract_are_refused() {
    let secrets = fixture_secrets();
    let mut input = cluster(VersionContract::V1_12, Cni::Flannel);
    input.kubernetes_version = "1.36.0".parse().unwrap();
    let err = generate(&secrets, &input, &node(MachineRole::Worker)).unwrap_err();
    assert!(matches!(err, Error::Version(_)));
    assert!(err.to_string().contains("1.30.0 up to 1.35.x"), "{err}");
}

#[test]
fn invalid_inputs_name_the_field() {
    let secrets = fixture_secrets();
    let mut input = cluster(VersionContract::V1_13, Cni::Flannel);
    input.endpoint = "http://10.0.1.254:6443".into();
    let err = generate(&secrets, &input, &node(MachineRole::Worker)).unwrap_err();
    assert!(err.to_string().contains("endpoint"), "{err}");
    let mut worker = node(MachineRole::Worker);
    worker.hostname = Some("Bad_Name".into());
    let err = generate(
        &secrets,
        &cluster(VersionContract::V1_13, Cni::Flannel),
        &worker,
    )
    .unwrap_err();
    assert!(err.to_string().contains("node.hostname"), "{err}");
}

#[test]
fn output_is_deterministic() {
    let secrets = fixture_secrets();
    let a = generate(
        &secrets,
        &cluster(VersionContract::V1_14, Cni::Flannel),
        &node(MachineRole::ControlPlane),
    )
    .unwrap();
    let b = generate(
        &secrets,
        &cluster(VersionContract::V1_14, Cni::Flannel),
        &node(MachineRole::ControlPlane),
    )
    .unwrap();
    assert_eq!(a.to_yaml().unwrap(), b.to_yaml().unwrap());
}

#[test]
fn rendered_yaml_parses_back_to_the_same_documents() {
    let secrets = fixture_secrets();
    for contract in VersionContract::ALL {
        for role in super::ROLES {
            for cni in CNIS {
                let config = generate(&secrets, &cluster(contract, cni), &node(role)).unwrap();
                let text = config.to_yaml().unwrap();
                let parsed = crate::talos::yaml::parse_documents(&text).unwrap();
                assert_eq!(parsed, config.documents(), "{contract} {role:?} {cni:?}");
            }
        }
    }
}

#[test]
fn every_generated_config_fits_hetzner_user_data() {
    let secrets = fixture_secrets();
    for contract in VersionContract::ALL {
        for role in super::ROLES {
            let config = generate(&secrets, &cluster(contract, Cni::Flannel), &node(role)).unwrap();
            let user_data = config.to_user_data().unwrap();
            assert!(
                user_data.len() < crate::talos::userdata::HETZNER_USER_DATA_LIMIT / 2,
                "{contract} {role:?}: {}",
                user_data.len()
            );
        }
    }
}

#[test]
fn workloads_on_control_planes_drop_the_no_schedule_taint() {
    let secrets = fixture_secrets();
    for contract in VersionContract::ALL {
        let mut input = cluster(contract, Cni::Flannel);
        input.allow_workloads_on_control_plane = true;
        let config = generate(&secrets, &input, &node(MachineRole::ControlPlane)).unwrap();
        let docs = config.documents();
        if contract.kubernetes_config_documents() {
            let taints = find(docs, "KubeNodeConfig")
                .unwrap()
                .get_path(&["taints"])
                .unwrap();
            assert!(
                taints
                    .get_path(&["node-role.kubernetes.io/control-plane"])
                    .is_none()
            );
            assert!(taints.get_path(&["dedicated"]).is_some());
        } else {
            assert_eq!(
                docs[0].get_path(&["cluster", "allowSchedulingOnControlPlanes"]),
                Some(&Node::Bool(true))
            );
        }
    }
}

fn volume<'a>(documents: &'a [Node], name: &str) -> Vec<&'a Node> {
    documents
        .iter()
        .filter(|d| {
            d.get_path(&["kind"]).and_then(Node::as_str) == Some("VolumeConfig")
                && d.get_path(&["name"]).and_then(Node::as_str) == Some(name)
        })
        .collect()
}

#[test]
fn disk_encryption_puts_node_id_luks2_on_state_and_ephemeral_for_every_contract() {
    let secrets = fixture_secrets();
    let node_id_luks2: Node =
        crate::talos::yaml::from_str("provider: luks2\nkeys:\n    - slot: 0\n      nodeID: {}\n")
            .unwrap();
    for contract in VersionContract::ALL {
        for role in [MachineRole::ControlPlane, MachineRole::Worker] {
            let config = generate(&secrets, &cluster(contract, Cni::Flannel), &node(role)).unwrap();
            let docs = config.documents();
            for name in ["STATE", "EPHEMERAL"] {
                let found = volume(docs, name);
                // Talos refuses a second document of the same kind and name.
                assert_eq!(
                    found.len(),
                    1,
                    "{contract} {role:?}: one {name} VolumeConfig"
                );
                assert_eq!(
                    found[0].get_path(&["encryption"]),
                    Some(&node_id_luks2),
                    "{contract} {role:?} {name}"
                );
            }
            // 1.14's generator mounts EPHEMERAL securely; the encryption joins that document.
            assert_eq!(
                volume(docs, "EPHEMERAL")[0].get_path(&["mount", "secure"]),
                contract
                    .filesystem_trim_by_default()
                    .then_some(&Node::Bool(true)),
                "{contract}"
            );
            assert!(
                volume(docs, "STATE")[0].get_path(&["mount"]).is_none(),
                "{contract}: Talos refuses mount settings on STATE"
            );
            // The deprecated v1alpha1 field is never written (Talos refuses both at once).
            assert!(
                docs[0]
                    .get_path(&["machine", "systemDiskEncryption"])
                    .is_none()
            );
        }
    }
}

#[test]
fn disk_encryption_off_writes_no_encryption() {
    let secrets = fixture_secrets();
    for contract in VersionContract::ALL {
        let mut input = cluster(contract, Cni::Flannel);
        input.disk_encryption = false;
        let config = generate(&secrets, &input, &node(MachineRole::ControlPlane)).unwrap();
        let docs = config.documents();
        assert!(volume(docs, "STATE").is_empty(), "{contract}");
        let ephemeral = volume(docs, "EPHEMERAL");
        if contract.filesystem_trim_by_default() {
            // Exactly what Talos's generator writes: the secure mount, no encryption.
            assert_eq!(ephemeral.len(), 1);
            assert!(
                ephemeral[0].get_path(&["encryption"]).is_none(),
                "{contract}"
            );
            assert_eq!(
                ephemeral[0].get_path(&["mount", "secure"]),
                Some(&Node::Bool(true))
            );
        } else {
            assert!(ephemeral.is_empty(), "{contract}");
        }
        assert!(!config.to_yaml().unwrap().contains("luks2"), "{contract}");
    }
}

#[test]
fn without_a_hostname_the_platform_names_the_node() {
    let secrets = fixture_secrets();
    let mut worker = node(MachineRole::Worker);
    worker.hostname = None;
    let config = generate(
        &secrets,
        &cluster(VersionContract::V1_13, Cni::Flannel),
        &worker,
    )
    .unwrap();
    let docs = config.documents();
    let hostname = find(docs, "HostnameConfig").unwrap();
    // `auto` has the lowest priority: Hetzner's metadata (the server name) wins.
    assert_eq!(hostname.get_path(&["hostname"]), None);
    assert_eq!(
        hostname.get_path(&["auto"]),
        Some(&Node::String("stable".into()))
    );
    assert_eq!(
        docs[0].get_path(&["machine", "network", "hostname"]),
        None,
        "no v1alpha1 hostname either"
    );
}
