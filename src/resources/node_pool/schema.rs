//! The schema of `hk8s_node_pool` (DESIGN.md §1).
//!
//! Replacement: `name`, and `cluster` when it names another cluster. Rolling, one node (or
//! `update_strategy.max_unavailable` nodes) at a time: `server_type`, `locations`, and the
//! versions carried by `cluster`. In place: `node_count` (scale), `autoscaling`, `labels`, `taints`,
//! `config_patches`, `update_strategy`, `delete_protection`.

use std::time::Duration;

use crate::kube::labels::AppliedWith;
use crate::resources::cluster_ref::cluster_attribute;
use crate::resources::cost;
use crate::resources::nodes::{leaving_nodes_attribute, nodes_attribute};
use crate::resources::validators as v;
use crate::tfplugin::schema::{Attribute, Schema, requires_replace, use_state_for_unknown};
use crate::tfplugin::value::Type;

/// Largest pool (server names carry at most three index digits).
pub const MAX_POOL_SIZE: i64 = 999;
/// Default nodes replaced at once during a rolling update.
pub const DEFAULT_MAX_UNAVAILABLE: i64 = 1;
/// Default time a node may take to drain.
pub const DEFAULT_DRAIN_TIMEOUT: &str = "5m";

/// The full schema.
pub fn schema() -> Schema {
    Schema::new()
        .version(0)
        .description(
            "A pool of worker nodes of one server type, fixed-size (`node_count`) or autoscaled \
             (`autoscaling`). Placement groups are made automatically, at most 10 servers each.",
        )
        .attribute(cluster_attribute("the pool"))
        .attribute(
            Attribute::string("name")
                .required()
                .description(
                    "Pool name: a lowercase DNS label of at most 20 characters starting with a letter, \
                     not \"cp\"; servers are named <cluster>-<name>-<n>. A change replaces the pool.",
                )
                .validate(v::pool_name())
                .plan(requires_replace()),
        )
        .attribute(
            Attribute::string("server_type")
                .required()
                .description(
                    "Hetzner server type, e.g. \"cx33\"; the architecture follows from it. A change \
                     replaces the nodes a few at a time (see `update_strategy`).",
                )
                .validate(v::server_type()),
        )
        .attribute(
            Attribute::number("node_count")
                .optional()
                .computed()
                .description(format!(
                    "Number of nodes, 0 to {MAX_POOL_SIZE} (default 1). Named `node_count` because \
                     `count` is a Terraform meta-argument (it would create several pools). Conflicts with `autoscaling`, \
                     where it is computed. Scale-down cordons, drains, resets and deletes the \
                     highest-numbered nodes."
                ))
                .validate(v::whole_number("Invalid node count", 0, MAX_POOL_SIZE)),
        )
        .attribute(
            Attribute::single_nested(
                "autoscaling",
                [
                    Attribute::number("min")
                        .required()
                        .description("Fewest nodes the autoscaler keeps (0 or more).")
                        .validate(v::whole_number("Invalid autoscaling minimum", 0, MAX_POOL_SIZE)),
                    Attribute::number("max")
                        .required()
                        .description("Most nodes the autoscaler creates (1 or more, at least `min`).")
                        .validate(v::whole_number("Invalid autoscaling maximum", 1, MAX_POOL_SIZE)),
                ],
            )
            .optional()
            .description(
                "Let the Kubernetes cluster-autoscaler (Hetzner provider, configured by this pool; \
                 install the `cluster-autoscaler` addon to run it) size the pool between `min` and \
                 `max`. `node_count` and `nodes` then report what refresh finds, so plans stay \
                 empty while the autoscaler works. An autoscaled pool has one location. Changing \
                 `min`/`max` updates the autoscaler's configuration in place. Conflicts with \
                 `node_count`.",
            ),
        )
        .attribute(
            Attribute::list("locations", Type::String)
                .optional()
                .computed()
                .description(
                    "Locations to spread the nodes over, in the cluster's network zone (default: the \
                     cluster's location). A change moves nodes a few at a time.",
                )
                .validate(v::locations()),
        )
        .attribute(
            Attribute::map("labels", Type::String)
                .optional()
                .description("Kubernetes labels of the pool's nodes (applied in place). Worker nodes label themselves, \
                     so the NodeRestriction admission plugin refuses kubernetes.io and k8s.io keys \
                     other than node.kubernetes.io/… (and a few well-known ones).")
                .validate(v::node_labels(AppliedWith::NodeCredentials)),
        )
        .attribute(
            Attribute::list("taints", Type::String)
                .optional()
                .description(
                    "Taints of the pool's nodes as \"key=value:Effect\" or \"key:Effect\" strings \
                     (effects NoSchedule, PreferNoSchedule, NoExecute; applied in place).",
                )
                .validate(v::taints()),
        )
        .attribute(
            Attribute::list("config_patches", Type::String)
                .optional()
                .description(
                    "Talos strategic-merge patches (YAML mappings) for the pool's nodes, after the \
                     cluster's; applied in place (Talos reboots a node only when the change needs it).",
                )
                .validate(v::config_patches()),
        )
        .attribute(
            Attribute::single_nested(
                "update_strategy",
                [
                    Attribute::number("max_unavailable")
                        .default_value(DEFAULT_MAX_UNAVAILABLE)
                        .description("Nodes replaced or upgraded at once (default 1).")
                        .validate(v::whole_number("Invalid max_unavailable", 1, MAX_POOL_SIZE)),
                    Attribute::string("drain_timeout")
                        .default_value(DEFAULT_DRAIN_TIMEOUT)
                        .description(
                            "How long draining a node may take before the update fails, e.g. \"10m\" \
                             (default \"5m\", from 10s to 24h).",
                        )
                        .validate(v::duration_between(Duration::from_secs(10), Duration::from_secs(24 * 3600))),
                ],
            )
            .optional()
            .computed()
            .description("How rolling updates proceed (defaults: one node at a time, 5m drain timeout)."),
        )
        .attribute(
            Attribute::bool("delete_protection")
                .default_value(false)
                .description("Protect the pool's servers from deletion (default false)."),
        )
        .attribute(crate::resources::timeouts::attribute(
            super::spec::DEFAULT_TIMEOUTS,
            "an update (scaling, rolling replacements and upgrades, drains included)",
        ))
        .attribute(
            Attribute::string("id")
                .computed()
                .description("Pool id, \"<cluster>/<pool>\".")
                .plan(use_state_for_unknown()),
        )
        .attribute(nodes_attribute("pool's"))
        .attribute(leaving_nodes_attribute("the pool's"))
        .attribute(cost::attribute("the pool's servers and their primary IPv4s"))
}
