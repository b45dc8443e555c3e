//! Patch semantics, checked on generated configurations of each contract.

use std::collections::BTreeMap;

use super::{Error, Patch, apply, validate};
use crate::talos::config::{ClusterInput, Cni, MachineConfig, MachineRole, NodeInput, generate};
use crate::talos::secrets::SecretsBundle;
use crate::talos::version::VersionContract;
use crate::talos::yaml::Node;

fn config(contract: VersionContract, role: MachineRole) -> MachineConfig {
    let secrets =
        SecretsBundle::from_yaml(include_str!("../testdata/talosctl-secrets.yaml")).unwrap();
    let talos = match contract {
        VersionContract::V1_12 => "v1.12.11",
        VersionContract::V1_13 => "v1.13.9",
        VersionContract::V1_14 => "v1.14.0-rc.1",
    };
    let cluster = ClusterInput {
        name: "prod".into(),
        endpoint: "https://10.0.1.254:6443".into(),
        talos_version: talos.parse().unwrap(),
        kubernetes_version: "1.35.0".parse().unwrap(),
        node_subnet: "10.0.1.0/24".parse().unwrap(),
        pod_cidr: "10.244.0.0/16".parse().unwrap(),
        service_cidr: "10.96.0.0/12".parse().unwrap(),
        cert_sans: vec!["10.0.1.254".into()],
        cni: Cni::Flannel,
        allow_workloads_on_control_plane: false,
        private_interface: "eth1".into(),
        disk_encryption: true,
    };
    let node = NodeInput {
        role,
        hostname: Some("prod-cp-1".into()),
        labels: BTreeMap::new(),
        taints: Vec::new(),
        cert_sans: Vec::new(),
    };
    generate(&secrets, &cluster, &node).unwrap()
}

fn patched(contract: VersionContract, patches: &[&str]) -> MachineConfig {
    let mut config = config(contract, MachineRole::ControlPlane);
    let patches: Vec<Patch> = patches
        .iter()
        .enumerate()
        .map(|(index, text)| Patch::parse(index, text).unwrap())
        .collect();
    apply(&mut config, &patches).unwrap();
    config
}

fn get<'a>(config: &'a MachineConfig, kind: Option<&str>, path: &[&str]) -> Option<&'a Node> {
    config
        .documents()
        .iter()
        .find(|d| d.get_path(&["kind"]).and_then(Node::as_str) == kind)
        .and_then(|d| d.get_path(path))
}

fn strings(node: Option<&Node>) -> Vec<String> {
    match node {
        Some(Node::Seq(items)) => items
            .iter()
            .map(|i| i.as_str().unwrap_or_default().to_owned())
            .collect(),
        other => panic!("expected a list, got {other:?}"),
    }
}

fn s(text: &str) -> Node {
    Node::String(text.into())
}

#[test]
fn scalars_overwrite_except_zero_values_and_booleans_always_apply() {
    let config = patched(
        VersionContract::V1_13,
        &[
            "machine:\n  kubelet:\n    image: custom/kubelet:v1\n    defaultRuntimeSeccompProfileEnabled: false\n  install:\n    grubUseUKICmdline: false\ncluster:\n  network:\n    dnsDomain: \"\"\n",
        ],
    );
    assert_eq!(
        get(&config, None, &["machine", "kubelet", "image"]),
        Some(&s("custom/kubelet:v1"))
    );
    assert_eq!(
        get(
            &config,
            None,
            &["machine", "kubelet", "defaultRuntimeSeccompProfileEnabled"]
        ),
        Some(&Node::Bool(false))
    );
    // An empty string is Go's zero value: it does not overwrite.
    assert_eq!(
        get(&config, None, &["cluster", "network", "dnsDomain"]),
        Some(&s("cluster.local"))
    );
}

#[test]
fn maps_merge_lists_append_and_replace_fields_replace() {
    let config = patched(
        VersionContract::V1_12,
        &[
            "machine:\n  certSANs: [extra.example.com]\n  nodeLabels:\n    tier: gold\ncluster:\n  network:\n    podSubnets: [10.32.0.0/12]\n",
            "machine:\n  nodeLabels:\n    zone: fsn1\n",
        ],
    );
    assert_eq!(
        strings(get(&config, None, &["machine", "certSANs"])),
        ["10.0.1.254", "extra.example.com"]
    );
    let labels = get(&config, None, &["machine", "nodeLabels"])
        .unwrap()
        .as_map()
        .unwrap();
    assert_eq!(labels.get("tier"), Some(&s("gold")));
    assert_eq!(labels.get("zone"), Some(&s("fsn1")));
    assert!(labels.contains_key("node.kubernetes.io/exclude-from-external-load-balancers"));
    assert_eq!(
        strings(get(&config, None, &["cluster", "network", "podSubnets"])),
        ["10.32.0.0/12"]
    );

    let config = patched(
        VersionContract::V1_14,
        &["apiVersion: v1alpha1\nkind: KubeNetworkConfig\nserviceSubnets: [10.100.0.0/16]\n"],
    );
    assert_eq!(
        strings(get(&config, Some("KubeNetworkConfig"), &["serviceSubnets"])),
        ["10.100.0.0/16"]
    );
    assert_eq!(
        strings(get(&config, Some("KubeNetworkConfig"), &["podSubnets"])),
        ["10.244.0.0/16"]
    );
}

#[test]
fn interfaces_merge_by_name_and_vlans_by_id() {
    let config = patched(
        VersionContract::V1_13,
        &[
            "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        mtu: 1450\n        vlans:\n          - vlanId: 10\n            mtu: 1400\n      - interface: eth2\n        dhcp: true\n",
            "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        dhcp: true\n        vlans:\n          - vlanId: 10\n            dhcp: true\n          - vlanId: 20\n",
        ],
    );
    let Some(Node::Seq(interfaces)) = get(&config, None, &["machine", "network", "interfaces"])
    else {
        panic!("interfaces missing");
    };
    assert_eq!(interfaces.len(), 2, "{interfaces:?}");
    let eth0 = &interfaces[0];
    assert_eq!(eth0.get_path(&["mtu"]), Some(&Node::Int(1450)));
    assert_eq!(eth0.get_path(&["dhcp"]), Some(&Node::Bool(true)));
    let Some(Node::Seq(vlans)) = eth0.get_path(&["vlans"]) else {
        panic!()
    };
    assert_eq!(vlans.len(), 2);
    assert_eq!(vlans[0].get_path(&["mtu"]), Some(&Node::Int(1400)));
    assert_eq!(vlans[0].get_path(&["dhcp"]), Some(&Node::Bool(true)));
}

#[test]
fn admission_plugins_merge_by_name_and_extra_args_replace_per_key() {
    let config = patched(
        VersionContract::V1_13,
        &[
            "cluster:\n  apiServer:\n    admissionControl:\n      - name: PodSecurity\n        configuration:\n          defaults:\n            enforce: restricted\n",
            "machine:\n  kubelet:\n    extraArgs:\n      rotate-server-certificates: \"false\"\n      max-pods: \"150\"\n",
        ],
    );
    let Some(Node::Seq(plugins)) =
        get(&config, None, &["cluster", "apiServer", "admissionControl"])
    else {
        panic!()
    };
    assert_eq!(plugins.len(), 1);
    assert_eq!(
        plugins[0].get_path(&["configuration", "defaults", "enforce"]),
        Some(&s("restricted"))
    );
    assert_eq!(
        plugins[0].get_path(&["configuration", "defaults", "audit"]),
        Some(&s("restricted"))
    );
    let args = get(&config, None, &["machine", "kubelet", "extraArgs"]).unwrap();
    assert_eq!(
        args.get_path(&["rotate-server-certificates"]),
        Some(&s("false"))
    );
    assert_eq!(args.get_path(&["max-pods"]), Some(&s("150")));
}

#[test]
fn documents_match_by_kind_and_name_and_new_ones_are_added() {
    let config = patched(
        VersionContract::V1_14,
        &[
            "apiVersion: v1alpha1\nkind: KubeAuthorizerConfig\nname: rbac\nwebhook: {}\n---\napiVersion: v1alpha1\nkind: StaticHostConfig\nname: 10.0.1.100\nhostnames: [registry.internal]\n",
        ],
    );
    let authorizers: Vec<&Node> = config
        .documents()
        .iter()
        .filter(|d| d.get_path(&["kind"]) == Some(&s("KubeAuthorizerConfig")))
        .collect();
    assert_eq!(authorizers.len(), 2);
    assert!(
        authorizers[0].get_path(&["webhook"]).is_none(),
        "node authorizer untouched"
    );
    assert!(authorizers[1].get_path(&["webhook"]).is_some());
    assert_eq!(
        config.documents().last().unwrap().get_path(&["kind"]),
        Some(&s("StaticHostConfig"))
    );
}

#[test]
fn patch_delete_removes_keys_list_items_and_documents() {
    let config = patched(
        VersionContract::V1_14,
        &[
            "apiVersion: v1alpha1\nkind: KubeFlannelCNIConfig\n$patch: delete\n---\nmachine:\n  features:\n    diskQuotaSupport:\n      $patch: delete\n---\napiVersion: v1alpha1\nkind: KubeNodeConfig\nlabels:\n  node.kubernetes.io/exclude-from-external-load-balancers:\n    $patch: delete\n",
        ],
    );
    assert!(get(&config, Some("KubeFlannelCNIConfig"), &[]).is_none());
    assert!(get(&config, None, &["machine", "features", "diskQuotaSupport"]).is_none());
    let labels = get(&config, Some("KubeNodeConfig"), &["labels"])
        .unwrap()
        .as_map()
        .unwrap();
    assert!(!labels.contains_key("node.kubernetes.io/exclude-from-external-load-balancers"));
    assert!(labels.contains_key("node-role.kubernetes.io/control-plane"));

    let config = patched(
        VersionContract::V1_13,
        &[
            "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        dhcp: true\n      - interface: eth2\n        dhcp: true\n",
            "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        $patch: delete\n      - interface: eth3\n        dhcp: true\n",
        ],
    );
    let Some(Node::Seq(interfaces)) = get(&config, None, &["machine", "network", "interfaces"])
    else {
        panic!()
    };
    let names: Vec<_> = interfaces
        .iter()
        .map(|i| i.get_path(&["interface"]).cloned())
        .collect();
    assert_eq!(names, [Some(s("eth2")), Some(s("eth3"))]);
}

#[test]
fn patch_delete_errors_name_patch_and_path() {
    let mut config = config(VersionContract::V1_13, MachineRole::ControlPlane);
    let before = config.clone();
    let patches = [
        Patch::parse(0, "machine:\n  nodeLabels:\n    a: b\n").unwrap(),
        Patch::parse(1, "machine:\n  sysctls:\n    $patch: delete\n").unwrap(),
    ];
    let err = apply(&mut config, &patches).unwrap_err();
    assert!(matches!(err, Error::Delete { patch: 1, .. }), "{err}");
    assert!(err.to_string().contains("machine.sysctls"), "{err}");
    assert_eq!(config, before, "a failed apply leaves the config unchanged");

    let err = apply(
        &mut config,
        &[Patch::parse(0, "version: v1alpha1\n$patch: delete\n").unwrap()],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("v1alpha1 document cannot be deleted"),
        "{err}"
    );
}

#[test]
fn type_mismatch_names_the_path() {
    let mut config = config(VersionContract::V1_13, MachineRole::ControlPlane);
    let err = apply(
        &mut config,
        &[Patch::parse(3, "machine:\n  certSANs: not-a-list\n").unwrap()],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "config patch #3: machine.certSANs: cannot merge a string into a list"
    );
}

#[test]
fn json6902_and_non_mappings_are_refused_with_a_pointer() {
    let err = validate(2, "- op: add\n  path: /machine/certSANs/-\n  value: x\n").unwrap_err();
    assert!(matches!(err, Error::Json6902 { patch: 2 }));
    assert!(err.to_string().contains("strategic-merge"), "{err}");
    let err = validate(0, "just a string\n").unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotAMapping {
                found: "string",
                ..
            }
        ),
        "{err}"
    );
    let err = validate(0, "- a\n- b\n").unwrap_err();
    assert!(
        matches!(err, Error::NotAMapping { found: "list", .. }),
        "{err}"
    );
    let err = validate(0, "machine: [\n").unwrap_err();
    assert!(matches!(err, Error::Yaml { .. }), "{err}");
    let err = validate(0, "kind: KubeletConfig\nimage: x\n").unwrap_err();
    assert!(matches!(err, Error::BadHeader { .. }), "{err}");
}

#[test]
fn provider_owned_fields_are_refused() {
    let cases = [
        (
            "cluster:\n  controlPlane:\n    endpoint: https://evil:6443\n",
            "cluster.controlPlane.endpoint",
        ),
        ("machine:\n  ca:\n    crt: AAAA\n", "machine.ca"),
        (
            "machine:\n  token: abcdef.0123456789abcdef\n",
            "machine.token",
        ),
        (
            "cluster:\n  secretboxEncryptionSecret: x\n",
            "cluster.secretboxEncryptionSecret",
        ),
        (
            "cluster:\n  etcd:\n    ca:\n      key: x\n",
            "cluster.etcd.ca",
        ),
        ("machine:\n  type: worker\n", "machine.type"),
        (
            "machine:\n  network:\n    hostname: other\n",
            "machine.network.hostname",
        ),
        ("cluster:\n  $patch: delete\n", "cluster"),
        (
            "apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: other\n",
            "HostnameConfig",
        ),
        (
            "apiVersion: v1alpha1\nkind: KubeClusterConfig\n$patch: delete\n",
            "KubeClusterConfig",
        ),
        (
            "apiVersion: v1alpha1\nkind: KubeAPIServerCAConfig\nacceptedCAs: [x]\n",
            "KubeAPIServerCAConfig",
        ),
    ];
    for (text, path) in cases {
        let err = validate(4, text).unwrap_err();
        match &err {
            Error::ProviderOwned {
                patch: 4,
                path: found,
                ..
            } => assert_eq!(found, path, "{text}"),
            other => panic!("{text}: expected ProviderOwned, got {other}"),
        }
        assert!(err.to_string().starts_with("config patch #4: "), "{err}");
    }
    // Fields next to owned ones are fine.
    validate(0, "cluster:\n  etcd:\n    extraArgs:\n      election-timeout: \"5000\"\nmachine:\n  network:\n    nameservers: [1.1.1.1]\n").unwrap();
    validate(0, "version: v1alpha1\nmachine:\n  sysctls:\n    a: b\n").unwrap();
}

#[test]
fn legacy_sections_are_refused_on_1_14_with_the_replacing_document() {
    let patch = Patch::parse(
        1,
        "machine:\n  kubelet:\n    extraArgs:\n      max-pods: \"150\"\n",
    )
    .unwrap();
    patch.check_contract(VersionContract::V1_13).unwrap();
    let err = patch.check_contract(VersionContract::V1_14).unwrap_err();
    assert_eq!(
        err.to_string(),
        "config patch #1: machine.kubelet is not part of the v1alpha1 document in Talos v1.14; patch the KubeletConfig / KubeNodeConfig document instead"
    );
    let mut config = config(VersionContract::V1_14, MachineRole::Worker);
    assert!(matches!(
        apply(&mut config, &[patch]),
        Err(Error::MovedInContract { .. })
    ));
    // Sections 1.14 keeps in v1alpha1 are fine.
    Patch::parse(
        0,
        "cluster:\n  etcd:\n    extraArgs:\n      election-timeout: \"5000\"\n",
    )
    .unwrap()
    .check_contract(VersionContract::V1_14)
    .unwrap();
}

#[test]
fn deletions_in_absent_documents_are_skipped_like_talos_does() {
    // 1.13 has no KubeletConfig document: nothing to delete, nothing added.
    let before = config(VersionContract::V1_13, MachineRole::Worker);
    let mut after = before.clone();
    let patch = Patch::parse(
        0,
        "apiVersion: v1alpha1\nkind: KubeFlannelCNIConfig\n$patch: delete\n---\napiVersion: v1alpha1\nkind: KubeletConfig\nextraArgs:\n  max-pods:\n    $patch: delete\n",
    )
    .unwrap();
    apply(&mut after, &[patch]).unwrap();
    assert_eq!(after, before);
}

/// The scenario of Talos's `TestApplyMultiDoc` (configpatcher): v1alpha1 interfaces merged by
/// name, a typed document replaced field by field, `configFiles` merged by `mountPath`, lists
/// appended, and a delete of an absent document ignored.
#[test]
fn talos_multidoc_patch_scenario() {
    let base = "version: v1alpha1\nmachine:\n  network:\n    interfaces:\n      - interface: eth0\n        dhcp: true\n---\napiVersion: v1alpha1\nkind: SideroLinkConfig\napiUrl: https://siderolink.api/join?user=alice\n---\napiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: foo\nconfigFiles:\n  - content: hello\n    mountPath: /etc/foo\nenvironment:\n  - FOO=BAR\n";
    let patches = [
        "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        dhcp: false\n",
        "apiVersion: v1alpha1\nkind: SideroLinkConfig\napiUrl: https://siderolink.api/join?user=bob\n---\napiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: foo\nconfigFiles:\n  - content: hello world\n    mountPath: /etc/foo\n  - content: another hello\n    mountPath: /etc/bar\nenvironment:\n  - XXX=YYY\n",
        "apiVersion: v1alpha1\nkind: KubeFlannelCNIConfig\n$patch: delete\n",
    ];
    let expected = "version: v1alpha1\nmachine:\n  network:\n    interfaces:\n      - interface: eth0\n        dhcp: false\n---\napiVersion: v1alpha1\nkind: SideroLinkConfig\napiUrl: https://siderolink.api/join?user=bob\n---\napiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: foo\nconfigFiles:\n  - content: hello world\n    mountPath: /etc/foo\n  - content: another hello\n    mountPath: /etc/bar\nenvironment:\n  - FOO=BAR\n  - XXX=YYY\n";
    let mut config = MachineConfig::from_documents(
        VersionContract::V1_13,
        crate::talos::yaml::parse_documents(base).unwrap(),
    );
    let patches: Vec<Patch> = patches
        .iter()
        .enumerate()
        .map(|(index, text)| Patch::parse(index, text).unwrap())
        .collect();
    apply(&mut config, &patches).unwrap();
    assert_eq!(
        config.documents(),
        crate::talos::yaml::parse_documents(expected).unwrap()
    );
}
