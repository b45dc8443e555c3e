//! The table of invalid configurations: each case is one resource block, the diagnostic the
//! user must see (summary, a detail substring) and the source text Terraform must underline.

use std::fmt::Write as _;

/// One invalid configuration and what the user must see.
pub(crate) struct Case {
    /// The resource block (its address identifies the case).
    pub(crate) hcl: String,
    /// `<type>.<name>` (or `data.<type>.<name>`).
    pub(crate) address: String,
    /// Expected summary.
    pub(crate) summary: &'static str,
    /// Substring of the expected detail.
    pub(crate) detail: &'static str,
    /// The source text Terraform underlines.
    pub(crate) highlight: &'static str,
}

/// Renders `resource "<kind>" "<name>"` with `defaults`, each replaced by `overrides` of the same
/// attribute name, plus overrides naming other attributes. Values are HCL expressions.
fn block(
    header: &str,
    address: String,
    defaults: &[(&str, &str)],
    overrides: &[(&str, &str)],
) -> (String, String) {
    let mut hcl = format!("{header} {{\n");
    for (name, value) in defaults {
        let value = overrides
            .iter()
            .find(|(n, _)| n == name)
            .map_or(*value, |(_, v)| v);
        let _ = writeln!(hcl, "  {name} = {value}");
    }
    for (name, value) in overrides
        .iter()
        .filter(|(n, _)| !defaults.iter().any(|(d, _)| d == n))
    {
        let _ = writeln!(hcl, "  {name} = {value}");
    }
    hcl.push_str("}\n");
    (hcl, address)
}

const CLUSTER: &[(&str, &str)] = &[
    ("name", r#""prod""#),
    ("location", r#""fsn1""#),
    ("talos_version", r#""v1.13.9""#),
    ("kubernetes_version", r#""1.35.0""#),
    ("control_plane", r#"{ server_type = "cax21", count = 3 }"#),
];
const POOL: &[(&str, &str)] = &[
    ("cluster", "local.cluster"),
    ("name", r#""general""#),
    ("server_type", r#""cx33""#),
    ("node_count", "3"),
];
const ADDON: &[(&str, &str)] = &[("cluster", "local.cluster"), ("name", r#""hcloud-csi""#)];

pub(crate) fn cluster(name: &str, overrides: &[(&str, &str)]) -> (String, String) {
    block(
        &format!("resource \"hk8s_cluster\" \"{name}\""),
        format!("hk8s_cluster.{name}"),
        CLUSTER,
        overrides,
    )
}

pub(crate) fn pool(name: &str, overrides: &[(&str, &str)]) -> (String, String) {
    block(
        &format!("resource \"hk8s_node_pool\" \"{name}\""),
        format!("hk8s_node_pool.{name}"),
        POOL,
        overrides,
    )
}

pub(crate) fn addon(name: &str, overrides: &[(&str, &str)]) -> (String, String) {
    block(
        &format!("resource \"hk8s_addon\" \"{name}\""),
        format!("hk8s_addon.{name}"),
        ADDON,
        overrides,
    )
}

pub(crate) fn kubeconfig(name: &str, overrides: &[(&str, &str)]) -> (String, String) {
    block(
        &format!("data \"hk8s_kubeconfig\" \"{name}\""),
        format!("data.hk8s_kubeconfig.{name}"),
        &[("cluster", "local.cluster")],
        overrides,
    )
}

pub(crate) fn case(
    (hcl, address): (String, String),
    summary: &'static str,
    detail: &'static str,
    highlight: &'static str,
) -> Case {
    Case {
        hcl,
        address,
        summary,
        detail,
        highlight,
    }
}

/// Configurations `terraform validate` must refuse.
pub(crate) fn validate_cases() -> Vec<Case> {
    vec![
        case(
            cluster("name_uppercase", &[("name", r#""Prod""#)]),
            "Invalid cluster name",
            "uppercase 'P' at position 1",
            r#""Prod""#,
        ),
        case(
            cluster(
                "name_too_long",
                &[("name", r#""a-very-long-cluster-name""#)],
            ),
            "Invalid cluster name",
            "the limit is 20",
            r#""a-very-long-cluster-name""#,
        ),
        case(
            cluster("location_unknown", &[("location", r#""fra1""#)]),
            "Invalid location",
            "accepted locations: fsn1",
            r#""fra1""#,
        ),
        case(
            cluster(
                "server_type_retired",
                &[("control_plane", r#"{ server_type = "cx22" }"#)],
            ),
            "Invalid server type",
            "the cx family (shared vCPU, Intel/AMD x86) has cx23, cx33, cx43, cx53",
            r#""cx22""#,
        ),
        case(
            cluster(
                "server_type_foreign",
                &[("control_plane", r#"{ server_type = "t3.micro" }"#)],
            ),
            "Invalid server type",
            "known families: cx",
            r#""t3.micro""#,
        ),
        case(
            cluster(
                "control_plane_even",
                &[("control_plane", r#"{ server_type = "cax21", count = 2 }"#)],
            ),
            "Invalid control plane count",
            "use 1 (no high availability), 3 or 5",
            "2",
        ),
        case(
            cluster(
                "control_plane_zones",
                &[(
                    "control_plane",
                    r#"{ server_type = "cax21", locations = ["fsn1", "ash"] }"#,
                )],
            ),
            "Location in another network zone",
            "\"ash\" is in network zone us-east",
            r#""ash""#,
        ),
        case(
            cluster(
                "label_reserved",
                &[(
                    "control_plane",
                    r#"{ server_type = "cax21", labels = { "hk8s.io/role" = "cp" } }"#,
                )],
            ),
            "Invalid label key",
            "hk8s manages the hk8s.io/ labels itself",
            r#""cp""#,
        ),
        case(
            pool(
                "pool_label_restricted",
                &[("labels", r#"{ "node-role.kubernetes.io/worker" = "" }"#)],
            ),
            "Invalid label key",
            "NodeRestriction",
            r#""""#,
        ),
        case(
            cluster(
                "label_value",
                &[(
                    "control_plane",
                    r#"{ server_type = "cax21", labels = { team = "platform team" } }"#,
                )],
            ),
            "Invalid label value",
            "\"platform team\"",
            r#""platform team""#,
        ),
        case(
            cluster(
                "taint_effect",
                &[(
                    "control_plane",
                    r#"{ server_type = "cax21", taints = ["ok:NoSchedule", "dedicated=gpu:NoSchedulee"] }"#,
                )],
            ),
            "Invalid taint",
            "accepted effects: NoSchedule, PreferNoSchedule, NoExecute",
            r#""dedicated=gpu:NoSchedulee""#,
        ),
        case(
            cluster(
                "taint_shape",
                &[(
                    "control_plane",
                    r#"{ server_type = "cax21", taints = ["dedicated"] }"#,
                )],
            ),
            "Invalid taint",
            "is not `key=value:Effect` or `key:Effect`",
            r#""dedicated""#,
        ),
        case(
            cluster(
                "patch_json6902",
                &[(
                    "config_patches",
                    r#"[yamlencode([{ op = "add", path = "/machine/x", value = 1 }])]"#,
                )],
            ),
            "Invalid config patch",
            "write a strategic-merge patch instead",
            r#"yamlencode([{ op = "add", path = "/machine/x", value = 1 }])"#,
        ),
        case(
            cluster(
                "patch_scalar",
                &[("config_patches", r#"["machine: {}", "hello"]"#)],
            ),
            "Invalid config patch",
            "config patch #1, document #0: expected a YAML mapping, found a string",
            r#""hello""#,
        ),
        case(
            cluster(
                "patch_owned",
                &[(
                    "config_patches",
                    r#"[yamlencode({ cluster = { clusterName = "other" } })]"#,
                )],
            ),
            "Invalid config patch",
            "is managed by the provider",
            r#"yamlencode({ cluster = { clusterName = "other" } })"#,
        ),
        case(
            cluster(
                "patch_contract",
                &[
                    ("talos_version", r#""v1.14.0-rc.1""#),
                    (
                        "config_patches",
                        r#"[yamlencode({ machine = { sysctls = { "vm.max_map_count" = "262144" } } })]"#,
                    ),
                ],
            ),
            "Config patch does not fit the Talos version",
            "patch the SysctlConfig document instead",
            r#"yamlencode({ machine = { sysctls = { "vm.max_map_count" = "262144" } } })"#,
        ),
        case(
            cluster("talos_unsupported", &[("talos_version", r#""v1.11.5""#)]),
            "Invalid Talos version",
            "v1.12.x, v1.13.x, v1.14.x",
            r#""v1.11.5""#,
        ),
        case(
            cluster("talos_without_v", &[("talos_version", r#""1.13.9""#)]),
            "Invalid Talos version",
            "\"v1.13.9\"",
            r#""1.13.9""#,
        ),
        case(
            cluster(
                "kubernetes_syntax",
                &[("kubernetes_version", r#""latest""#)],
            ),
            "Invalid Kubernetes version",
            "such as \"1.35.0\"",
            r#""latest""#,
        ),
        case(
            cluster(
                "kubernetes_too_new",
                &[
                    ("talos_version", r#""v1.12.6""#),
                    ("kubernetes_version", r#""1.36.0""#),
                ],
            ),
            "Unsupported Kubernetes version",
            "too new for Talos v1.12.6",
            r#""1.36.0""#,
        ),
        case(
            cluster(
                "network_public",
                &[("network", r#"{ cidr = "8.8.0.0/16" }"#)],
            ),
            "Invalid CIDR",
            "not private address space",
            r#""8.8.0.0/16""#,
        ),
        case(
            cluster(
                "network_host_bits",
                &[("network", r#"{ cidr = "10.0.0.1/16" }"#)],
            ),
            "Invalid CIDR",
            "write it as \"10.0.0.0/16\"",
            r#""10.0.0.1/16""#,
        ),
        case(
            cluster(
                "pods_overlap",
                &[("network", r#"{ pod_cidr = "10.0.128.0/17" }"#)],
            ),
            "Invalid address plan",
            "overlaps the network range 10.0.0.0/16",
            r#""10.0.128.0/17""#,
        ),
        case(
            cluster(
                "subnet_outside",
                &[(
                    "network",
                    r#"{ cidr = "10.0.0.0/16", node_subnet = "10.1.0.0/24" }"#,
                )],
            ),
            "Invalid address plan",
            "not inside the network range 10.0.0.0/16",
            r#""10.1.0.0/24""#,
        ),
        case(
            cluster(
                "services_ipv6",
                &[("network", r#"{ service_cidr = "fd00::/108" }"#)],
            ),
            "Invalid CIDR",
            "IPv6 is not supported",
            r#""fd00::/108""#,
        ),
        case(
            cluster(
                "network_conflict",
                &[(
                    "network",
                    r#"{ existing_network_id = 42, cidr = "10.0.0.0/16" }"#,
                )],
            ),
            "Conflicting network settings",
            "exclude each other",
            r#""10.0.0.0/16""#,
        ),
        case(
            cluster("lb_type", &[("api_load_balancer", r#"{ type = "lb41" }"#)]),
            "Invalid load balancer type",
            "lb11, lb21, lb31",
            r#""lb41""#,
        ),
        case(
            cluster(
                "lb_zone",
                &[("api_load_balancer", r#"{ location = "hil" }"#)],
            ),
            "Location in another network zone",
            "is in network zone us-west",
            r#""hil""#,
        ),
        case(
            cluster(
                "firewall_source",
                &[("firewall", r#"{ kube_api_sources = ["203.0.113.7"] }"#)],
            ),
            "Invalid source range",
            "is not a CIDR",
            r#""203.0.113.7""#,
        ),
        case(
            cluster("cni_unknown", &[("cni", r#""calico""#)]),
            "Invalid attribute value",
            "\"flannel\", \"cilium\", \"none\"",
            r#""calico""#,
        ),
        case(
            cluster("timeout_days", &[("timeouts", r#"{ create = "1d" }"#)]),
            "Invalid duration",
            "\"48h\"",
            r#""1d""#,
        ),
        case(
            cluster(
                "snapshot_arch",
                &[("image", r#"{ snapshot_ids = { x86 = 1 } }"#)],
            ),
            "Invalid architecture",
            "use \"amd64\" or \"arm64\"",
            "1",
        ),
        case(
            cluster(
                "schematic_not_yaml",
                &[("image", r#"{ schematic = "customization: [" }"#)],
            ),
            "Invalid schematic",
            "not valid YAML",
            r#""customization: [""#,
        ),
        case(
            cluster(
                "schematic_unknown_key",
                &[("image", r#"{ schematic = "customisation: {}" }"#)],
            ),
            "Invalid schematic",
            "the Image Factory accepts customization and overlay",
            r#""customisation: {}""#,
        ),
        case(
            cluster(
                "schematic_with_selector",
                &[(
                    "image",
                    r#"{ selector = "os=talos", schematic = "customization: {}" }"#,
                )],
            ),
            "Conflicting image settings",
            "Give one or the other",
            r#""customization: {}""#,
        ),
        case(
            cluster("secrets_garbage", &[("secrets", r#""cluster: {}""#)]),
            "Invalid secrets bundle",
            "not a talosctl secrets.yaml",
            r#""cluster: {}""#,
        ),
        case(
            pool("pool_reserved", &[("name", r#""cp""#)]),
            "Invalid node pool name",
            "reserved",
            r#""cp""#,
        ),
        case(
            pool(
                "pool_both_sizes",
                &[("autoscaling", "{ min = 1, max = 3 }")],
            ),
            "Conflicting pool size",
            "exclude each other",
            "{ min = 1, max = 3 }",
        ),
        case(
            pool(
                "pool_range",
                &[
                    ("node_count", "null"),
                    ("autoscaling", "{ min = 5, max = 2 }"),
                ],
            ),
            "Invalid autoscaling range",
            "min (5) is greater than max (2)",
            "5",
        ),
        case(
            pool("pool_negative", &[("node_count", "-1")]),
            "Invalid node count",
            "from 0 to 999",
            "-1",
        ),
        case(
            pool(
                "pool_drain",
                &[("update_strategy", r#"{ drain_timeout = "soon" }"#)],
            ),
            "Invalid duration",
            "not a duration",
            r#""soon""#,
        ),
        case(
            pool(
                "pool_duplicate_taint",
                &[("taints", r#"["a=1:NoSchedule", "a=2:NoSchedule"]"#)],
            ),
            "Duplicate taint",
            "at most one taint per key and effect",
            r#""a=2:NoSchedule""#,
        ),
        case(
            addon("addon_unknown", &[("name", r#""nginx""#)]),
            "Unknown addon",
            "not in the catalog (hcloud-ccm",
            r#""nginx""#,
        ),
        case(
            addon(
                "addon_unpinned",
                &[
                    ("name", r#""ingress""#),
                    (
                        "chart",
                        r#"{ repository = "https://kubernetes.github.io/ingress-nginx", name = "ingress-nginx" }"#,
                    ),
                ],
            ),
            "Missing chart version",
            "need a pinned `version`",
            "{",
        ),
        case(
            addon(
                "addon_chart_for_catalog",
                &[(
                    "chart",
                    r#"{ repository = "https://charts.hetzner.cloud", name = "hcloud-csi" }"#,
                )],
            ),
            "Chart given for a catalog addon",
            "remove `chart`",
            r#"{ repository = "https://charts.hetzner.cloud", name = "hcloud-csi" }"#,
        ),
        case(
            addon("addon_owned_by_cluster", &[("name", r#""cilium""#)]),
            "Addon installed by the cluster",
            "the cluster's `cilium` attribute",
            r#""cilium""#,
        ),
        case(
            addon("addon_needs_extensions", &[("name", r#""longhorn""#)]),
            "Addon needs Talos system extensions",
            "siderolabs/iscsi-tools and siderolabs/util-linux-tools",
            r#""longhorn""#,
        ),
        case(
            cluster(
                "cilium_without_cilium",
                &[("cilium", r#"{ values = "hubble:\n  enabled: true\n" }"#)],
            ),
            "Cilium settings without Cilium",
            "remove `cilium` or set `cni = \"cilium\"`",
            r#"{ values = "hubble:\n  enabled: true\n" }"#,
        ),
        case(
            addon("addon_values_list", &[("values", r#"yamlencode(["a"])"#)]),
            "Invalid values",
            "not a list",
            r#"yamlencode(["a"])"#,
        ),
        case(
            kubeconfig("kubeconfig_ttl", &[("ttl", r#""1m""#)]),
            "Invalid duration",
            "outside the accepted range 5m to 8760h",
            r#""1m""#,
        ),
    ]
}

/// Configurations that pass `validate` but that `plan` refuses once the cluster is known.
pub(crate) fn plan_cases() -> Vec<Case> {
    vec![
        case(
            pool("pool_zone", &[("locations", r#"["nbg1", "ash"]"#)]),
            "Location in another network zone",
            "cluster's network is in eu-central",
            r#""ash""#,
        ),
        case(
            pool("pool_too_big", &[("node_count", "400")]),
            "Pool does not fit the cluster's address plan",
            "room for 252 nodes",
            "400",
        ),
    ]
}
