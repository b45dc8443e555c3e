//! Terraform resources of hk8s: schemas, validation at validate/plan time, plan-time diffing, and
//! CRUD. This is the one boundary where domain errors (`hcloud`, `kube`, `talos`) become
//! diagnostics at attribute paths; the rules themselves live in the domain modules. Go-style
//! durations ([`duration`]) are the framework's one parser, re-exported here.

pub mod addon;
pub mod cluster;
pub mod cluster_ref;
pub mod config_view;
pub mod connection;
pub mod cost;
pub mod fleet;
pub mod helm_values;
pub use crate::tfplugin::schema::duration;
pub mod import_id;
pub mod kubeconfig;
pub mod node_pool;
pub mod nodes;
pub mod protection;
#[cfg(test)]
mod test_support;
pub mod timeouts;
pub mod validators;

#[cfg(test)]
mod schema_tests {
    use crate::tfplugin::framework::{DataSource, EphemeralResource, Resource};
    use crate::tfplugin::schema::Schema;

    /// Every hk8s schema passes Terraform's own schema rules (configschema `InternalValidate`),
    /// and none uses a name Terraform reserves in resource blocks.
    #[test]
    fn schemas_follow_terraforms_rules() {
        let schemas: [(&str, Schema); 5] = [
            (
                "hk8s_cluster",
                Resource::<crate::provider::ProviderData>::schema(&super::cluster::Cluster),
            ),
            (
                "hk8s_node_pool",
                Resource::<crate::provider::ProviderData>::schema(&super::node_pool::NodePool),
            ),
            (
                "hk8s_addon",
                Resource::<crate::provider::ProviderData>::schema(&super::addon::Addon),
            ),
            (
                "data hk8s_kubeconfig",
                DataSource::<()>::schema(&super::kubeconfig::KubeconfigData),
            ),
            (
                "ephemeral hk8s_kubeconfig",
                EphemeralResource::<()>::schema(&super::kubeconfig::KubeconfigEphemeral),
            ),
        ];
        for (name, schema) in schemas {
            if let Err(problems) = schema.check() {
                panic!("{name}: {problems:?}");
            }
            for reserved in [
                "count",
                "for_each",
                "depends_on",
                "lifecycle",
                "provider",
                "provisioner",
            ] {
                assert!(
                    schema.root_block().find_attribute(reserved).is_none(),
                    "{name} uses the meta-argument name {reserved:?}"
                );
            }
        }
    }
}
