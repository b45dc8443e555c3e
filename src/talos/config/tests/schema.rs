//! Every generated document validates against Talos's published JSON schema for its contract
//! (vendored under `tests/data/talos/schemas`), for every contract, role and CNI, with and
//! without user patches.

use super::{CNIS, ROLES, cluster, fixture_secrets, node, vendored};
use crate::talos::config::{MachineConfig, generate};
use crate::talos::patch;
use crate::talos::version::VersionContract;

fn validator(contract: VersionContract) -> jsonschema::Validator {
    let path = vendored(&format!("schemas/{contract}/config.schema.json"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, config: &MachineConfig, context: &str) {
    for document in config.documents() {
        let instance = serde_json::to_value(document).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        let kind = document
            .get_path(&["kind"])
            .and_then(|k| k.as_str())
            .unwrap_or("v1alpha1");
        assert!(
            errors.is_empty(),
            "{context}: {kind} fails the schema: {errors:#?}"
        );
    }
}

/// A patch a user might write for each contract: more kubelet flags, a sysctl, an extra
/// document (a static host entry), using the document shapes the contract supports.
fn user_patch(contract: VersionContract) -> &'static str {
    if contract.kubernetes_config_documents() {
        "apiVersion: v1alpha1\nkind: KubeletConfig\nextraArgs:\n    max-pods: \"150\"\n---\napiVersion: v1alpha1\nkind: StaticHostConfig\nname: 10.0.1.100\nhostnames:\n    - registry.internal\n"
    } else {
        "machine:\n    kubelet:\n        extraArgs:\n            max-pods: \"150\"\n    sysctls:\n        net.core.somaxconn: \"65535\"\ncluster:\n    network:\n        dnsDomain: cluster.local\n---\napiVersion: v1alpha1\nkind: StaticHostConfig\nname: 10.0.1.100\nhostnames:\n    - registry.internal\n"
    }
}

#[test]
fn every_combination_validates_against_the_published_schema() {
    let secrets = fixture_secrets();
    for contract in VersionContract::ALL {
        let validator = validator(contract);
        for role in ROLES {
            for cni in CNIS {
                let context = format!("{contract} {role:?} {cni:?}");
                let mut config = generate(&secrets, &cluster(contract, cni), &node(role)).unwrap();
                assert_eq!(config.contract(), contract);
                assert_valid(&validator, &config, &context);

                let patches = [patch::Patch::parse(0, user_patch(contract)).unwrap()];
                patch::apply(&mut config, &patches).unwrap();
                assert_valid(&validator, &config, &format!("{context} patched"));
            }
        }
    }
}

#[test]
fn the_schema_catches_a_misplaced_field() {
    // The schema check is not vacuous: a 1.14 config with a pre-1.14 field fails it.
    let secrets = fixture_secrets();
    let contract = VersionContract::V1_14;
    let mut config = generate(
        &secrets,
        &cluster(contract, super::Cni::Flannel),
        &node(super::MachineRole::Worker),
    )
    .unwrap();
    let patches = [patch::Patch::parse(0, "machine:\n    kubelet:\n        image: x\n").unwrap()];
    patch::apply(&mut config, &patches).unwrap();
    let validator = validator(contract);
    let first = serde_json::to_value(&config.documents()[0]).unwrap();
    assert!(!validator.is_valid(&first));
}
