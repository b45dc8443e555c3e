//! The schema of `hk8s_cluster` (DESIGN.md §1): every attribute with its description, defaults,
//! validators, sensitivity and what a change does (replace, roll, or in place).
//!
//! Replacement (a new cluster): `name`, `location` (the load balancer and the private network's
//! zone are tied to it), `network.*` (the address plan is baked into certificates, etcd and every
//! node), `cni`, `api_load_balancer.location` (the API endpoint address would change), and
//! `secrets` once known (a new PKI is a new cluster). Rolling, one node at a time:
//! `talos_version`, `kubernetes_version`, `control_plane.server_type`,
//! `control_plane.locations`, `disk_encryption` (replacement of each node). Everything else
//! applies in place.

use crate::hcloud::cidr::{self, Role};
use crate::kube::labels::AppliedWith;
use crate::resources::connection::{DESCRIPTION as CONNECTION_DESCRIPTION, connection_type};
use crate::resources::cost;
use crate::resources::nodes::{leaving_nodes_attribute, nodes_attribute};
use crate::resources::validators as v;
use crate::tfplugin::schema::{
    Attribute, AttributePlan, Schema, Validator, custom, one_of, requires_replace,
    requires_replace_if, use_state_for_unknown,
};
use crate::tfplugin::value::Type;

/// Accepted CNIs.
pub const CNIS: [&str; 3] = ["flannel", "cilium", "none"];
/// Default control-plane size.
pub const DEFAULT_CONTROL_PLANE_COUNT: i64 = 3;

fn count_is_odd_quorum() -> impl Validator {
    custom("must be 1, 3 or 5", |path, value| {
        let Some(n) = value.as_number() else {
            return Default::default();
        };
        match n.to_i64() {
            Some(1 | 3 | 5) if n.is_integer() => Default::default(),
            _ => v::error_at(
                path,
                "Invalid control plane count",
                format!(
                    "{n} control-plane nodes is not accepted; use 1 (no high availability), 3 or 5: etcd needs an odd number of members to keep a quorum"
                ),
            ),
        }
    })
}

fn control_plane() -> Attribute {
    Attribute::single_nested(
        "control_plane",
        [
            Attribute::string("server_type")
                .required()
                .description(
                    "Hetzner server type of the control-plane nodes, e.g. \"cax21\"; the architecture \
                     (and so the Talos image) follows from it. A change replaces the nodes one at a time.",
                )
                .validate(v::server_type()),
            Attribute::number("count")
                .default_value(DEFAULT_CONTROL_PLANE_COUNT)
                .description(
                    "Number of control-plane nodes: 1, 3 or 5 (default 3). A change scales etcd one \
                     member at a time, keeping quorum.",
                )
                .validate(count_is_odd_quorum()),
            Attribute::list("locations", Type::String)
                .optional()
                .computed()
                .description(
                    "Locations to spread the control plane over, all in the network zone of `location` \
                     (default: [`location`]). A change moves nodes one at a time. A new node whose \
                     location has no capacity (Hetzner's resource_unavailable) goes to the next \
                     location in the list, with a warning.",
                )
                .validate(v::locations()),
            Attribute::map("labels", Type::String)
                .optional()
                .description("Kubernetes labels of the control-plane nodes (applied in place; Talos sets them with admin \
                     credentials, so node-role.kubernetes.io/… keys are accepted here).")
                .validate(v::node_labels(AppliedWith::AdminCredentials)),
            Attribute::list("taints", Type::String)
                .optional()
                .description(
                    "Extra taints of the control-plane nodes as \"key=value:Effect\" or \"key:Effect\" \
                     strings (applied in place).",
                )
                .validate(v::taints()),
            Attribute::list("config_patches", Type::String)
                .optional()
                .description(
                    "Talos strategic-merge patches (YAML) for control-plane nodes only, applied after \
                     the cluster-wide `config_patches`; changes apply in place (Talos reboots a node \
                     only when the change needs it).",
                )
                .validate(v::config_patches()),
            Attribute::bool("allow_workloads")
                .default_value(false)
                .description(
                    "Let ordinary workloads schedule on control-plane nodes (removes the control-plane \
                     taint; default false).",
                ),
        ],
    )
    .required()
    .description("The control plane: server type, size, placement, labels, taints and patches.")
}

fn network() -> Attribute {
    Attribute::single_nested(
        "network",
        [
            Attribute::string("cidr")
                .optional()
                .computed()
                .description(format!(
                    "Private network range, RFC 1918, /8 to /24 (default \"{}\"). Conflicts with \
                     `existing_network_id`.",
                    cidr::DEFAULT_NETWORK
                ))
                .validate(v::cidr(Role::Network)),
            Attribute::string("node_subnet")
                .optional()
                .computed()
                .description(format!(
                    "Subnet for nodes and the API load balancer, inside `cidr`, /28 or wider (default \
                     \"{}\", or the second /24 of a custom `cidr`).",
                    cidr::DEFAULT_NODE_SUBNET
                ))
                .validate(v::cidr(Role::NodeSubnet)),
            Attribute::string("pod_cidr")
                .optional()
                .computed()
                .description(format!(
                    "Pod range, /24 or wider, not overlapping the network or services (default \"{}\").",
                    cidr::DEFAULT_POD_CIDR
                ))
                .validate(v::cidr(Role::Pods)),
            Attribute::string("service_cidr")
                .optional()
                .computed()
                .description(format!(
                    "Service range, /12 to /24, not overlapping the network or pods (default \"{}\").",
                    cidr::DEFAULT_SERVICE_CIDR
                ))
                .validate(v::cidr(Role::Services)),
            Attribute::number("existing_network_id")
                .optional()
                .description("Use this existing Hetzner network instead of creating one (its subnet is added).")
                .validate(v::whole_number("Invalid network id", 1, i64::MAX)),
        ],
    )
    .optional()
    .computed()
    .description(
        "Address plan; every range is IPv4 and they must not overlap. Any change replaces the cluster.",
    )
    .plan(requires_replace())
}

fn api_load_balancer() -> Attribute {
    Attribute::single_nested(
        "api_load_balancer",
        [
            Attribute::string("type")
                .default_value("lb11")
                .description("Load balancer type: lb11, lb21 or lb31 (default \"lb11\"; changed in place).")
                .validate(v::load_balancer_type()),
            Attribute::string("location")
                .optional()
                .computed()
                .description(
                    "Location of the load balancer, in the cluster's network zone (default: `location`). \
                     A change replaces the cluster (the API address changes).",
                )
                .validate(v::location())
                .plan(requires_replace()),
        ],
    )
    .optional()
    .computed()
    .description(
        "The load balancer in front of the control plane: it serves 6443 (Kubernetes) and 50000 \
         (Talos API) to the nodes over private IPs.",
    )
}

fn firewall() -> Attribute {
    Attribute::single_nested(
        "firewall",
        [
            Attribute::list("talos_api_sources", Type::String)
                .optional()
                .description("CIDRs allowed to reach the Talos API (50000) of every node directly.")
                .validate(v::source_ranges()),
            Attribute::list("kube_api_sources", Type::String)
                .optional()
                .description("CIDRs allowed to reach the Kubernetes API (6443) of control-plane nodes directly.")
                .validate(v::source_ranges()),
        ],
    )
    .optional()
    .description(
        "Direct access to nodes. By default nodes accept no public inbound traffic: the provider \
         reaches them through the load balancer. Changes apply in place.",
    )
}

fn image() -> Attribute {
    Attribute::single_nested(
        "image",
        [
            Attribute::map("snapshot_ids", Type::Number)
                .optional()
                .description("Snapshot id per architecture: keys \"amd64\" and/or \"arm64\".")
                .validate(snapshot_keys()),
            Attribute::string("selector").optional().description(
                "Hetzner label selector choosing the snapshot, e.g. \"os=talos,version=v1.13.9\".",
            ),
            Attribute::list("architectures", Type::String)
                .optional()
                .description(
                    "Architectures (\"amd64\", \"arm64\") whose snapshots the cluster makes sure of, \
                     besides its control plane's: list your node pools' so that their snapshots are \
                     built alongside the control plane's instead of at each pool's first apply. \
                     Ignored with `snapshot_ids` or `selector`.",
                )
                .validate(architecture_names()),
            Attribute::bool("keep_snapshots")
                .optional()
                .description(
                    "Whether destroying the cluster keeps the Talos snapshots hk8s built for its \
                     version and schematic (default true: they are shared by every cluster of the \
                     project, and the next cluster starts without building). false deletes them, \
                     except those another server still boots from.",
                ),
            Attribute::string("schematic")
                .optional()
                .description(
                    "Image Factory schematic (YAML: `customization` with `systemExtensions.officialExtensions`, \
                     `extraKernelArgs`, …). The provider posts it to the factory, builds snapshots of that \
                     schematic and upgrades nodes with its installer. A change replaces every node, pools \
                     included, one at a time with a server booted from the new schematic's snapshot \
                     (as a disk_encryption change does).",
                )
                .validate(v::string_check(
                    "Invalid schematic",
                    "value must be an Image Factory schematic: a YAML mapping with a `customization` key",
                    crate::talos::factory::check_schematic,
                )),
        ],
    )
    .optional()
    .description(
        "Talos image to boot new servers from. Default: the snapshot labelled \
         hk8s.io/talos-version=<talos_version>, hk8s.io/schematic=<the schematic id's first 63 characters> and \
         hk8s.io/arch=<amd64|arm64>, built by the provider when it does not exist yet (a \
         temporary server writes the Image Factory's hcloud image to its disk in rescue mode; \
         the snapshot is kept and shared by every cluster of the project). With `snapshot_ids` \
         or `selector` the snapshots are yours and hk8s builds nothing. Changing ids or selector \
         affects servers created later.",
    )
}

fn helm_values(what: &'static str) -> impl Validator {
    v::string_check(
        "Invalid values",
        format!("{what} must be a YAML mapping"),
        crate::resources::helm_values::check,
    )
}

/// A chart version `x.y.z` no older than `minimum`.
fn chart_version_at_least(minimum: &'static str) -> impl Validator {
    v::string_check(
        "Unsupported chart version",
        format!("must be a chart version x.y.z, at least {minimum}"),
        move |version: &str| -> Result<(), String> {
            let parse = |s: &str| -> Option<(u64, u64, u64)> {
                let mut parts = s.trim_start_matches('v').splitn(3, '.');
                let major = parts.next()?.parse().ok()?;
                let minor = parts.next()?.parse().ok()?;
                let patch = parts.next()?.split(['-', '+']).next()?.parse().ok()?;
                Some((major, minor, patch))
            };
            match (parse(version), parse(minimum)) {
                (Some(v), Some(min)) if v >= min => Ok(()),
                (Some(_), _) => Err(format!(
                    "{version:?} is older than {minimum}, which the provider needs (older hcloud cloud controllers break on Hetzner's API changes of 2026)"
                )),
                (None, _) => Err(format!(
                    "{version:?} is not a chart version such as \"{minimum}\""
                )),
            }
        },
    )
}

fn cloud_controller() -> Attribute {
    use crate::kube::components::ccm;
    Attribute::single_nested(
        "cloud_controller",
        [
            Attribute::bool("enabled").optional().description(
                "Install the hcloud cloud controller manager (default true). Set false only when you \
                 bring your own: without one, nodes keep the `node.cloudprovider.kubernetes.io/uninitialized` \
                 taint and ordinary pods never schedule. Turning it off uninstalls the provider's release.",
            ),
            Attribute::string("version")
                .optional()
                .description(format!(
                    "Chart version of hcloud-cloud-controller-manager (default \"{}\", at least \"{}\").",
                    ccm::DEFAULT_VERSION,
                    ccm::MINIMUM_VERSION
                ))
                .validate(chart_version_at_least(ccm::MINIMUM_VERSION)),
            Attribute::string("values")
                .optional()
                .description(
                    "Helm values (YAML, e.g. `yamlencode({...})`) merged over the provider's: \
                     `networking.enabled = true` with the pod CIDR, load balancers in the cluster's location \
                     reaching nodes over the private network. Your values win; lists replace.",
                )
                .validate(helm_values("cloud_controller.values")),
            Attribute::string("hcloud_token")
                .optional()
                .sensitive()
                .description(
                    "Hetzner token the cloud controller uses (default: the provider's). It is stored in \
                     the Secret kube-system/hcloud, which the CSI driver reads too.",
                ),
        ],
    )
    .optional()
    .description(
        "The hcloud cloud controller manager the cluster installs on its first apply (initialises \
         nodes, routes pod traffic over the private network, serves Services of type LoadBalancer). \
         Changes apply in place as a Helm upgrade.",
    )
}

fn cilium() -> Attribute {
    use crate::kube::components::cilium;
    Attribute::single_nested(
        "cilium",
        [
            Attribute::string("version").optional().description(format!(
                "Cilium chart version (default \"{}\").",
                cilium::DEFAULT_VERSION
            )),
            Attribute::string("values")
                .optional()
                .description(
                    "Helm values (YAML) merged over the Talos-ready ones (kube-proxy replacement, \
                     KubePrism endpoint, Talos cgroups and capabilities). Your values win; lists replace.",
                )
                .validate(helm_values("cilium.values")),
        ],
    )
    .optional()
    .description(
        "Tuning of the Cilium the cluster installs when `cni = \"cilium\"` (refused with other CNIs). \
         Changes apply in place as a Helm upgrade.",
    )
}

fn snapshot_keys() -> impl Validator {
    custom("keys must be amd64 or arm64", |path, value| {
        let mut diags = crate::tfplugin::diag::Diagnostics::new();
        if let crate::tfplugin::value::Value::Map(entries) = value {
            for key in entries
                .keys()
                .filter(|k| !matches!(k.as_str(), "amd64" | "arm64"))
            {
                diags.extend(v::error_at(
                    &path.key(key.clone()),
                    "Invalid architecture",
                    format!("{key:?} is not an architecture; use \"amd64\" or \"arm64\""),
                ));
            }
        }
        diags
    })
}

fn architecture_names() -> impl Validator {
    custom("values must be amd64 or arm64", |path, value| {
        let mut diags = crate::tfplugin::diag::Diagnostics::new();
        if let crate::tfplugin::value::Value::List(items) = value {
            for (i, item) in items.iter().enumerate() {
                if let Some(name) = item.as_str()
                    && !matches!(name, "amd64" | "arm64")
                {
                    diags.extend(v::error_at(
                        &path.index(i),
                        "Invalid architecture",
                        format!("{name:?} is not an architecture; use \"amd64\" or \"arm64\""),
                    ));
                }
            }
        }
        diags
    })
}

fn secrets_changed_after_known(plan: &AttributePlan<'_>) -> bool {
    plan.prior
        .is_some_and(|prior| !prior.is_null() && prior.is_known())
}

fn computed_string(name: &str, description: &str) -> Attribute {
    Attribute::string(name)
        .computed()
        .description(description)
        .plan(use_state_for_unknown())
}

/// The full schema.
pub fn schema() -> Schema {
    Schema::new()
        .version(0)
        .description(
            "A Kubernetes cluster on Hetzner Cloud running Talos Linux: private network, firewall, \
             control-plane placement, the API load balancer, control-plane servers, Talos PKI and \
             machine configs, etcd bootstrap and health waits.",
        )
        .attribute(
            Attribute::string("name")
                .required()
                .description(
                    "Cluster name: a lowercase DNS label of at most 20 characters starting with a \
                     letter. Every Hetzner object gets the label hk8s.io/cluster=<name>; servers are \
                     named <name>-cp-<n>. A change replaces the cluster.",
                )
                .validate(v::cluster_name())
                .plan(requires_replace()),
        )
        .attribute(
            Attribute::string("location")
                .required()
                .description(
                    "Default location (fsn1, nbg1, hel1 → eu-central; ash → us-east; hil → us-west; \
                     sin → ap-southeast). The network zone follows from it. A change replaces the cluster.",
                )
                .validate(v::location())
                .plan(requires_replace()),
        )
        .attribute(
            Attribute::string("talos_version")
                .required()
                .description(
                    "Talos release, e.g. \"v1.13.9\" (1.12, 1.13 and 1.14 are supported). A change \
                     upgrades the nodes one at a time, gated on health. Talos moves one minor release \
                     at a time: a change that skips a minor (v1.12 to v1.14) or goes back to an older \
                     minor is refused at plan time; patch releases of one minor may go either way.",
                )
                .validate(v::talos_version()),
        )
        .attribute(
            Attribute::string("kubernetes_version")
                .required()
                .description(
                    "Kubernetes version, e.g. \"1.35.0\", within the range the Talos version supports. \
                     A change upgrades the nodes one at a time, gated on health.",
                )
                .validate(v::kubernetes_version()),
        )
        .attribute(control_plane())
        .attribute(network())
        .attribute(api_load_balancer())
        .attribute(firewall())
        .attribute(
            Attribute::string("cni")
                .default_value("flannel")
                .description(
                    "CNI: \"flannel\" (default, built into Talos), \"cilium\" (installed by the provider \
                     on the first apply, tuned with `cilium`) or \"none\" (you install a CNI yourself; \
                     the apply stops waiting at registered nodes). A change replaces the cluster.",
                )
                .validate(one_of(CNIS))
                .plan(requires_replace()),
        )
        .attribute(cloud_controller())
        .attribute(cilium())
        .attribute(
            Attribute::list("config_patches", Type::String)
                .optional()
                .description(
                    "Talos strategic-merge patches (YAML mappings) for every node of the cluster, \
                     pools included; changes apply in place.",
                )
                .validate(v::config_patches()),
        )
        .attribute(
            Attribute::string("secrets")
                .optional()
                .computed()
                .sensitive()
                .description(
                    "Talos secrets bundle (`talosctl gen secrets` format) to adopt; generated when \
                     absent. Giving it after an import adopts the PKI without change; changing a known \
                     bundle replaces the cluster.",
                )
                .validate(v::secrets_bundle())
                .plan(use_state_for_unknown())
                .plan(requires_replace_if("changing a known secrets bundle replaces the cluster", secrets_changed_after_known)),
        )
        .attribute(image())
        .attribute(
            Attribute::bool("disk_encryption")
                .default_value(true)
                .description(
                    "Encrypt every node's STATE (machine configuration) and EPHEMERAL (containers, \
                     etcd, pod data) partitions with LUKS2, keyed by the node's ID (default true). \
                     Talos cannot re-encrypt a partition in place, so a change replaces the nodes \
                     one at a time (a new server joins, the old one leaves).",
                ),
        )
        .attribute(
            Attribute::bool("delete_protection")
                .default_value(false)
                .description("Refuse to destroy or replace the cluster while true: plans and applies that would delete it stop with an error (default false). \
                              It also turns on Hetzner's own delete protection of the control-plane servers, the API load balancer and the cluster's network, \
                              so deleting them outside Terraform is refused too; setting it to false lifts that protection."),
        )
        .attribute(crate::resources::timeouts::attribute(
            super::spec::DEFAULT_TIMEOUTS,
            "an update (including rolling upgrades)",
        ))
        .attribute(computed_string("id", "Cluster id (the cluster name)."))
        .attribute(computed_string("endpoint", "Kubernetes API URL, https://<load balancer IPv4>:6443."))
        .attribute(computed_string("host", "Kubernetes API URL, for the kubernetes and helm providers."))
        .attribute(computed_string("ca_certificate", "Kubernetes CA certificate (PEM)."))
        .attribute(computed_string("client_certificate", "Admin client certificate (PEM)."))
        .attribute(computed_string("client_key", "Admin client key (PEM).").sensitive())
        .attribute(computed_string("kubeconfig", "Admin kubeconfig.").sensitive())
        .attribute(computed_string("talosconfig", "talosctl configuration for the cluster.").sensitive())
        .attribute(Attribute::number("network_id").computed().description("Hetzner network id.").plan(use_state_for_unknown()))
        .attribute(Attribute::number("firewall_id").computed().description("Hetzner firewall id.").plan(use_state_for_unknown()))
        .attribute(
            Attribute::number("load_balancer_id")
                .computed()
                .description("Hetzner id of the API load balancer.")
                .plan(use_state_for_unknown()),
        )
        .attribute(nodes_attribute("control-plane"))
        .attribute(leaving_nodes_attribute("the control-plane"))
        .attribute(cost::attribute(
            "the cluster's control-plane servers (with their primary IPv4s) and its API load balancer",
        ))
        .attribute(
            Attribute::typed("connection", connection_type())
                .computed()
                .sensitive()
                .description(format!(
                    "Everything dependents need, as one object: pass it as `cluster = \
                     hk8s_cluster.<name>.connection` to hk8s_node_pool, hk8s_addon and \
                     hk8s_kubeconfig. Holds {CONNECTION_DESCRIPTION}."
                )),
        )
}
