//! The `connection` object: what `hk8s_cluster` hands to the resources built on it
//! (`cluster = hk8s_cluster.main.connection`). One sensitive object, so dependents need no other
//! wiring and a change of versions in it plans a rolling upgrade of every pool.

use crate::tfplugin::diag::AttributePath;
use crate::tfplugin::value::{Type, Value};

/// Attributes of the connection object, with their types and what they hold.
pub const FIELDS: &[(&str, ConnectionField, &str)] = &[
    (
        "cluster_id",
        ConnectionField::String,
        "cluster id (the cluster name)",
    ),
    ("name", ConnectionField::String, "cluster name"),
    ("location", ConnectionField::String, "default location"),
    (
        "network_zone",
        ConnectionField::String,
        "network zone of the private network",
    ),
    (
        "endpoint",
        ConnectionField::String,
        "Kubernetes API URL (https://<load balancer>:6443)",
    ),
    (
        "talos_endpoint",
        ConnectionField::String,
        "Talos API address (<load balancer>:50000)",
    ),
    ("network_id", ConnectionField::Number, "Hetzner network id"),
    (
        "firewall_id",
        ConnectionField::Number,
        "Hetzner firewall id",
    ),
    (
        "talos_version",
        ConnectionField::String,
        "Talos version of the cluster",
    ),
    (
        "kubernetes_version",
        ConnectionField::String,
        "Kubernetes version of the cluster",
    ),
    (
        "network_cidr",
        ConnectionField::String,
        "private network range",
    ),
    ("node_subnet", ConnectionField::String, "node subnet"),
    ("pod_cidr", ConnectionField::String, "pod range"),
    ("service_cidr", ConnectionField::String, "service range"),
    ("cni", ConnectionField::String, "CNI of the cluster"),
    (
        "secrets",
        ConnectionField::String,
        "Talos secrets bundle (secrets.yaml)",
    ),
];

/// The cty type of one connection attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionField {
    /// A string.
    String,
    /// A number.
    Number,
}

/// The object type of `connection` (and of every dependent's `cluster` attribute).
pub fn connection_type() -> Type {
    Type::object(FIELDS.iter().map(|(name, field, _)| {
        let ty = match field {
            ConnectionField::String => Type::String,
            ConnectionField::Number => Type::Number,
        };
        (*name, ty)
    }))
}

/// Path of a connection attribute under the dependent's `cluster` attribute.
pub fn field_path(name: &str) -> AttributePath {
    AttributePath::root("cluster").attr(name)
}

/// The connection attributes that, when they change, roll every node of a pool (new versions).
pub const ROLLING_FIELDS: &[&str] = &["talos_version", "kubernetes_version"];

/// Which attribute of the connection identifies the cluster (a change moves the pool: replace).
pub const IDENTITY_FIELD: &str = "cluster_id";

/// Reads a string attribute of a known connection value.
pub fn string<'a>(connection: &'a Value, name: &str) -> Option<&'a str> {
    connection.get(name).and_then(Value::as_str)
}
