//! System volumes as Talos configures them: the `VolumeConfig` documents (checked as Talos's
//! `VolumeConfigV1Alpha1.Validate` and `EncryptionSpec.Validate` do, beyond the JSON schema) and
//! the encryption of the STATE and EPHEMERAL partitions a node formats from them.
//!
//! Talos formats STATE and EPHEMERAL once (first boot with a configuration, or after a reset
//! wiped them) with the encryption its configuration asks for then; it cannot re-encrypt an
//! existing partition (a LUKS2 volume without encryption settings, or a plain one with them, fails
//! to open: "block dev type mismatch"). The sim records what was formatted per node
//! ([`SystemVolumes`]) and refuses an apply that asks for other encryption, since it does not
//! model the broken boot that follows on a real node.

use serde::Serialize;
use serde_json::Value;

/// Volumes a `VolumeConfig` may name, per Talos minor (`VolumeConfigV1Alpha1.Validate`).
fn allowed_volumes(minor: &str) -> &'static [&'static str] {
    match minor {
        // 1.14 adds the system volumes that can move to their own partition.
        "v1.14" => &[
            "STATE",
            "EPHEMERAL",
            "IMAGECACHE",
            "ETCD",
            "CRI",
            "KUBELET",
            "LOG",
        ],
        _ => &["STATE", "EPHEMERAL", "IMAGECACHE"],
    }
}

/// One key slot of a volume's encryption: its slot and key type (never the key material).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeySlot {
    /// LUKS2 key slot.
    pub slot: i64,
    /// `nodeID`, `static`, `kms` or `tpm`.
    #[serde(rename = "type")]
    pub key_type: String,
}

/// How a partition is encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Encryption {
    /// `luks2`.
    pub provider: String,
    /// Key slots, in configuration order.
    pub keys: Vec<KeySlot>,
}

/// The encryption of STATE and EPHEMERAL (`None` = plain), as configured or as formatted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemVolumes {
    /// STATE (the machine configuration).
    pub state: Option<Encryption>,
    /// EPHEMERAL (containers, etcd, kubelet).
    pub ephemeral: Option<Encryption>,
}

impl SystemVolumes {
    /// `/_sim/state` form: `{"STATE": {"encrypted": …, "encryption": …}, "EPHEMERAL": …}`.
    pub fn to_json(&self) -> Value {
        let one = |e: &Option<Encryption>| {
            serde_json::json!({
                "encrypted": e.is_some(),
                "encryption": e,
            })
        };
        serde_json::json!({
            "STATE": one(&self.state),
            "EPHEMERAL": one(&self.ephemeral),
        })
    }

    /// What differs from `formatted`, for the refusal of a re-encryption.
    pub fn changes_from(&self, formatted: &SystemVolumes) -> Vec<String> {
        let describe = |e: &Option<Encryption>| match e {
            None => "not encrypted".to_string(),
            Some(e) => format!(
                "{} with {} key(s)",
                e.provider,
                e.keys
                    .iter()
                    .map(|k| format!("{}@{}", k.key_type, k.slot))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        [
            ("STATE", &formatted.state, &self.state),
            ("EPHEMERAL", &formatted.ephemeral, &self.ephemeral),
        ]
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .map(|(name, old, new)| {
            format!(
                "{name} is {}, the configuration asks for {}",
                describe(old),
                describe(new)
            )
        })
        .collect()
    }
}

/// Talos's `duplicate document: <kind>/<name>` check (`container.New`), then every
/// `VolumeConfig`'s semantic checks; returns the STATE and EPHEMERAL encryption asked for.
/// Problems are appended in Talos's wording.
pub fn check(documents: &[Value], minor: &str, problems: &mut Vec<String>) -> SystemVolumes {
    let mut seen = std::collections::BTreeSet::new();
    for doc in documents {
        let Some(kind) = doc.get("kind").and_then(Value::as_str) else {
            continue; // v1alpha1 (its duplicates are refused elsewhere)
        };
        let name = doc.get("name").and_then(Value::as_str).unwrap_or_default();
        let id = format!("{kind}/{name}");
        if !seen.insert(id.clone()) {
            problems.push(format!("duplicate document: {id}"));
        }
    }
    let mut volumes = SystemVolumes::default();
    for doc in documents
        .iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some("VolumeConfig"))
    {
        let name = doc.get("name").and_then(Value::as_str).unwrap_or_default();
        let allowed = allowed_volumes(minor);
        if !allowed.contains(&name) {
            // Go's %q of a []string: ["STATE" "EPHEMERAL" …].
            let list: Vec<String> = allowed.iter().map(|v| format!("{v:?}")).collect();
            problems.push(format!(
                "VolumeConfig {name:?}: only [{}] volumes are supported",
                list.join(" ")
            ));
            continue;
        }
        let encryption = doc.get("encryption");
        if name == "STATE" {
            if doc.get("provisioning").is_some_and(|p| !is_zero(p)) {
                problems.push(format!(
                    "VolumeConfig {name:?}: provisioning config is not allowed for the {name:?} volume"
                ));
            }
            let keys = encryption
                .and_then(|e| e.get("keys"))
                .and_then(Value::as_array);
            if keys.is_some_and(|keys| {
                keys.iter()
                    .any(|k| k.get("lockToState") == Some(&Value::Bool(true)))
            }) {
                problems.push(format!(
                    "VolumeConfig {name:?}: state-locked key is not allowed for the {name:?} volume"
                ));
            }
            if minor == "v1.14" && doc.get("mount").is_some_and(|m| !is_zero(m)) {
                problems.push(format!(
                    "VolumeConfig {name:?}: mount config is not allowed for the {name:?} volume"
                ));
            }
        }
        let parsed = encryption.and_then(|e| check_encryption(name, e, problems));
        match name {
            "STATE" => volumes.state = parsed,
            "EPHEMERAL" => volumes.ephemeral = parsed,
            _ => {}
        }
    }
    volumes
}

/// An absent, null or empty section (Go's zero value).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().all(is_zero),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// `EncryptionSpec.Validate`: the zero spec means no encryption; otherwise provider `luks2`, at
/// least one key, unique slots, and a key type in every slot.
fn check_encryption(volume: &str, spec: &Value, problems: &mut Vec<String>) -> Option<Encryption> {
    if is_zero(spec) {
        return None;
    }
    let before = problems.len();
    let provider = spec
        .get("provider")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if provider != "luks2" {
        problems.push(format!(
            "VolumeConfig {volume:?}: unsupported encryption provider: {provider}"
        ));
    }
    let keys = spec
        .get("keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if keys.is_empty() {
        problems.push(format!(
            "VolumeConfig {volume:?}: encryption keys are required"
        ));
    }
    let mut slots = std::collections::BTreeSet::new();
    let mut parsed = Vec::new();
    for key in &keys {
        let slot = key.get("slot").and_then(Value::as_i64).unwrap_or(0);
        if !slots.insert(slot) {
            problems.push(format!(
                "VolumeConfig {volume:?}: duplicate key slot {slot}"
            ));
        }
        let key_type = ["static", "nodeID", "kms", "tpm"]
            .into_iter()
            .find(|t| key.get(*t).is_some_and(|v| !v.is_null()));
        match key_type {
            Some(t) => parsed.push(KeySlot {
                slot,
                key_type: t.to_string(),
            }),
            None => problems.push(format!(
                "VolumeConfig {volume:?}: at least one encryption key type must be specified for slot {slot}"
            )),
        }
    }
    (problems.len() == before).then(|| Encryption {
        provider: provider.to_string(),
        keys: parsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn volume(name: &str, encryption: Value) -> Value {
        json!({"apiVersion": "v1alpha1", "kind": "VolumeConfig", "name": name, "encryption": encryption})
    }

    fn node_id() -> Value {
        json!({"provider": "luks2", "keys": [{"slot": 0, "nodeID": {}}]})
    }

    #[test]
    fn node_id_encryption_of_state_and_ephemeral_is_read() {
        let mut problems = Vec::new();
        let docs = [volume("STATE", node_id()), volume("EPHEMERAL", node_id())];
        let volumes = check(&docs, "v1.12", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let expected = Encryption {
            provider: "luks2".into(),
            keys: vec![KeySlot {
                slot: 0,
                key_type: "nodeID".into(),
            }],
        };
        assert_eq!(volumes.state, Some(expected.clone()));
        assert_eq!(volumes.ephemeral, Some(expected));
    }

    #[test]
    fn refuses_what_talos_refuses() {
        let cases = [
            (
                vec![volume("DATA", node_id())],
                "v1.13",
                "only [\"STATE\" \"EPHEMERAL\" \"IMAGECACHE\"] volumes are supported",
            ),
            (
                vec![volume("STATE", node_id()), volume("STATE", node_id())],
                "v1.12",
                "duplicate document: VolumeConfig/STATE",
            ),
            (
                vec![volume("STATE", json!({"provider": "luks2", "keys": []}))],
                "v1.12",
                "encryption keys are required",
            ),
            (
                vec![volume(
                    "EPHEMERAL",
                    json!({"provider": "luks2", "keys": [{"slot": 0}]}),
                )],
                "v1.14",
                "at least one encryption key type must be specified for slot 0",
            ),
            (
                vec![volume(
                    "EPHEMERAL",
                    json!({"provider": "luks2", "keys": [{"slot": 1, "nodeID": {}}, {"slot": 1, "static": {"passphrase": "x"}}]}),
                )],
                "v1.13",
                "duplicate key slot 1",
            ),
            (
                vec![volume(
                    "EPHEMERAL",
                    json!({"keys": [{"slot": 0, "nodeID": {}}]}),
                )],
                "v1.13",
                "unsupported encryption provider: ",
            ),
            (
                vec![volume(
                    "STATE",
                    json!({"provider": "luks2", "keys": [{"slot": 0, "nodeID": {}, "lockToState": true}]}),
                )],
                "v1.12",
                "state-locked key is not allowed for the \"STATE\" volume",
            ),
        ];
        for (docs, minor, expected) in cases {
            let mut problems = Vec::new();
            check(&docs, minor, &mut problems);
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{minor}: expected {expected:?}, got {problems:?}"
            );
        }
    }

    #[test]
    fn provider_configurations_of_every_minor_are_read_as_encrypted() {
        let goldens = [
            (
                "v1.12.11",
                include_str!("../../../src/talos/testdata/golden/v1.12-controlplane-flannel.yaml"),
            ),
            (
                "v1.13.9",
                include_str!("../../../src/talos/testdata/golden/v1.13-worker-cilium.yaml"),
            ),
            (
                "v1.14.0",
                include_str!("../../../src/talos/testdata/golden/v1.14-controlplane-flannel.yaml"),
            ),
        ];
        for (version, yaml) in goldens {
            let config = crate::talos::config::parse(yaml, version)
                .unwrap_or_else(|e| panic!("{version}: {e}"));
            assert!(config.volumes.state.is_some(), "{version}");
            assert!(config.volumes.ephemeral.is_some(), "{version}");
        }
    }

    #[test]
    fn version_1_14_accepts_its_new_system_volumes() {
        let mut problems = Vec::new();
        check(&[volume("ETCD", Value::Null)], "v1.14", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        check(&[volume("ETCD", Value::Null)], "v1.13", &mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn changes_name_the_volume_and_both_settings() {
        let encrypted = SystemVolumes {
            state: Some(Encryption {
                provider: "luks2".into(),
                keys: vec![KeySlot {
                    slot: 0,
                    key_type: "nodeID".into(),
                }],
            }),
            ephemeral: None,
        };
        let changes = SystemVolumes::default().changes_from(&encrypted);
        assert_eq!(
            changes,
            ["STATE is luks2 with nodeID@0 key(s), the configuration asks for not encrypted"]
        );
    }
}
