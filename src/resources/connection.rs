//! The `connection` object: what `hk8s_cluster` hands to the resources built on it
//! (`cluster = hk8s_cluster.main.connection`). One sensitive object carrying everything a pool
//! needs to build nodes, so dependents need no other wiring, and a change that must reach their
//! nodes (versions, cluster-wide patches, image) shows up in their plans.

use crate::tfplugin::diag::AttributePath;
use crate::tfplugin::value::{Type, Value};

/// The connection attribute that identifies the cluster (a change moves a dependent: replace).
pub const IDENTITY_FIELD: &str = "cluster_id";

/// The object type of `connection` (and of every dependent's `cluster` attribute).
pub fn connection_type() -> Type {
    Type::object([
        ("cluster_id", Type::String),
        ("name", Type::String),
        ("location", Type::String),
        ("network_zone", Type::String),
        ("endpoint", Type::String),
        ("talos_endpoint", Type::String),
        ("network_id", Type::Number),
        ("firewall_id", Type::Number),
        ("talos_version", Type::String),
        ("kubernetes_version", Type::String),
        ("network_cidr", Type::String),
        ("node_subnet", Type::String),
        ("pod_cidr", Type::String),
        ("service_cidr", Type::String),
        ("cni", Type::String),
        ("disk_encryption", Type::Bool),
        ("config_patches", Type::list(Type::String)),
        ("image_snapshot_ids", Type::map(Type::Number)),
        ("image_selector", Type::String),
        ("image_schematic", Type::String),
        ("secrets", Type::String),
    ])
}

/// What the connection holds, for the cluster's `connection` description.
pub const DESCRIPTION: &str = "cluster_id and name, location and network_zone, endpoint (Kubernetes \
    API URL) and talos_endpoint, network_id and firewall_id, talos_version and kubernetes_version, \
    network_cidr, node_subnet, pod_cidr and service_cidr, cni, disk_encryption, the cluster-wide config_patches, \
    image_snapshot_ids, image_selector and image_schematic, and the Talos secrets bundle";

/// Connection fields that mirror cluster attributes changed in place, with those attributes'
/// paths: when one changes, the planned connection carries the new value (and dependents roll
/// or reconfigure their nodes) while its identity stays.
pub fn in_place_fields() -> [(&'static str, AttributePath); 7] {
    [
        ("disk_encryption", AttributePath::root("disk_encryption")),
        ("talos_version", AttributePath::root("talos_version")),
        (
            "kubernetes_version",
            AttributePath::root("kubernetes_version"),
        ),
        ("config_patches", AttributePath::root("config_patches")),
        (
            "image_snapshot_ids",
            AttributePath::root("image").attr("snapshot_ids"),
        ),
        (
            "image_selector",
            AttributePath::root("image").attr("selector"),
        ),
        (
            "image_schematic",
            AttributePath::root("image").attr("schematic"),
        ),
    ]
}

/// Path of a connection attribute under a dependent's `cluster` attribute.
pub fn field_path(name: &str) -> AttributePath {
    AttributePath::root("cluster").attr(name)
}

/// Reads a string attribute of a known connection value.
pub fn string<'a>(connection: &'a Value, name: &str) -> Option<&'a str> {
    connection.get(name).and_then(Value::as_str)
}
