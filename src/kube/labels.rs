//! Kubernetes label and taint syntax, plus the node-label namespaces kubelets may not set.
//!
//! - Label key: optional prefix (a DNS subdomain, at most 253 characters) and `/`, then a name of
//!   at most 63 characters matching `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
//! - Label value: empty, or at most 63 characters with the same syntax as a key name.
//! - Taint: `key=value:Effect` or `key:Effect`, key and value as for labels, effect one of
//!   `NoSchedule`, `PreferNoSchedule`, `NoExecute`.
//!
//! Hetzner Cloud labels follow the same syntax (hcloud-go `ValidateResourceLabels`), so the
//! label checks here serve both.
//!
//! Node labels are applied with the node's own credentials, so the NodeRestriction admission
//! plugin applies: [`check_node_label_key`] refuses `kubernetes.io`/`k8s.io` keys other than the
//! ones it allows, and keys under `hk8s.io/`, which the provider sets itself.

use std::fmt;
use std::str::FromStr;

/// Longest label-key prefix (a DNS subdomain).
pub const MAX_PREFIX_LEN: usize = 253;
/// Longest label-key name and label value.
pub const MAX_NAME_LEN: usize = 63;
/// Label-key prefix the provider reserves for its own labels.
pub const RESERVED_PREFIX: &str = "hk8s.io";

const NAME_RULE: &str = "at most 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit";
const PREFIX_RULE: &str = "a lowercase DNS subdomain of at most 253 characters, e.g. example.com";

/// Why a label key or value, or a taint, is refused. Each message says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The name part of a key (after any `prefix/`) is empty, too long or malformed.
    #[error("label key {key:?}: the name {name:?} is not valid; accepted: {NAME_RULE}")]
    KeyName {
        /// The whole key.
        key: String,
        /// Its name part.
        name: String,
    },
    /// The prefix part of a key is not a DNS subdomain.
    #[error("label key {key:?}: the prefix {prefix:?} is not valid; accepted: {PREFIX_RULE}")]
    KeyPrefix {
        /// The whole key.
        key: String,
        /// Its prefix part.
        prefix: String,
    },
    /// A label (or taint) value that is too long or malformed.
    #[error("label value {value:?} is not valid; accepted: empty, or {NAME_RULE}")]
    Value {
        /// The value.
        value: String,
    },
    /// A node-label key in a namespace nodes may not set.
    #[error(
        "label key {key:?} cannot be set on nodes: the NodeRestriction admission plugin forbids kubernetes.io and k8s.io keys except node.kubernetes.io/… and kubelet.kubernetes.io/…; use your own prefix, e.g. example.com/role"
    )]
    RestrictedNodeLabel {
        /// The key.
        key: String,
    },
    /// A key under the provider's reserved prefix.
    #[error(
        "label key {key:?} is reserved: hk8s manages the {RESERVED_PREFIX}/ labels itself; use another prefix"
    )]
    Reserved {
        /// The key.
        key: String,
    },
    /// A taint not shaped `key=value:Effect` or `key:Effect`.
    #[error(
        "taint {taint:?} is not `key=value:Effect` or `key:Effect` (e.g. \"dedicated=gpu:NoSchedule\")"
    )]
    TaintSyntax {
        /// The taint text.
        taint: String,
    },
    /// A taint whose key or value is invalid.
    #[error("taint {taint:?}: {source}")]
    TaintPart {
        /// The taint text.
        taint: String,
        /// What is wrong with the key or value.
        #[source]
        source: Box<Error>,
    },
    /// A taint with an unknown effect.
    #[error(
        "taint {taint:?} has effect {effect:?}; accepted effects: NoSchedule, PreferNoSchedule, NoExecute"
    )]
    TaintEffect {
        /// The taint text.
        taint: String,
        /// The effect given.
        effect: String,
    },
    /// Two taints with the same key and effect (Kubernetes keeps only one).
    #[error(
        "taint {taint:?} repeats the key {key:?} with effect {effect}; a node has at most one taint per key and effect"
    )]
    DuplicateTaint {
        /// The later taint text.
        taint: String,
        /// Shared key.
        key: String,
        /// Shared effect.
        effect: TaintEffect,
    },
}

fn is_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= MAX_PREFIX_LEN
        && s.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        })
}

/// Splits a key into its optional prefix and its name.
fn split_key(key: &str) -> (Option<&str>, &str) {
    match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    }
}

/// Checks label-key syntax.
pub fn check_label_key(key: &str) -> Result<(), Error> {
    let (prefix, name) = split_key(key);
    if let Some(prefix) = prefix
        && !is_dns_subdomain(prefix)
    {
        return Err(Error::KeyPrefix {
            key: key.to_owned(),
            prefix: prefix.to_owned(),
        });
    }
    if !is_name(name) {
        return Err(Error::KeyName {
            key: key.to_owned(),
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Checks label-value syntax (empty is accepted).
pub fn check_label_value(value: &str) -> Result<(), Error> {
    if value.is_empty() || is_name(value) {
        Ok(())
    } else {
        Err(Error::Value {
            value: value.to_owned(),
        })
    }
}

/// Checks a key for a node label set by hk8s on the user's behalf: syntax, not reserved, and
/// allowed by NodeRestriction.
pub fn check_node_label_key(key: &str) -> Result<(), Error> {
    check_label_key(key)?;
    let (prefix, _) = split_key(key);
    let Some(prefix) = prefix else { return Ok(()) };
    let in_namespace = |ns: &str| prefix == ns || prefix.ends_with(&format!(".{ns}"));
    if in_namespace(RESERVED_PREFIX) {
        return Err(Error::Reserved {
            key: key.to_owned(),
        });
    }
    if !(in_namespace("kubernetes.io") || in_namespace("k8s.io")) {
        return Ok(());
    }
    // What NodeRestriction lets a kubelet set (k8s.io/kubernetes plugin/pkg/admission/noderestriction).
    const ALLOWED_KEYS: &[&str] = &[
        "kubernetes.io/hostname",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
    ];
    let allowed_namespace = ["kubelet.kubernetes.io", "node.kubernetes.io"]
        .iter()
        .any(|ns| prefix == *ns || prefix.ends_with(&format!(".{ns}")));
    if allowed_namespace || ALLOWED_KEYS.contains(&key) {
        Ok(())
    } else {
        Err(Error::RestrictedNodeLabel {
            key: key.to_owned(),
        })
    }
}

/// What a taint does to pods that do not tolerate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaintEffect {
    /// New pods are not scheduled.
    NoSchedule,
    /// The scheduler avoids the node.
    PreferNoSchedule,
    /// Running pods are evicted too.
    NoExecute,
}

impl TaintEffect {
    /// The effect as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSchedule => "NoSchedule",
            Self::PreferNoSchedule => "PreferNoSchedule",
            Self::NoExecute => "NoExecute",
        }
    }
}

impl fmt::Display for TaintEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed node taint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    /// Label-syntax key.
    pub key: String,
    /// Label-syntax value; empty when the taint has none.
    pub value: String,
    /// The effect.
    pub effect: TaintEffect,
}

impl FromStr for Taint {
    type Err = Error;

    /// Parses `key=value:Effect` or `key:Effect`.
    fn from_str(text: &str) -> Result<Self, Error> {
        let syntax = || Error::TaintSyntax {
            taint: text.to_owned(),
        };
        let (key_value, effect) = text.rsplit_once(':').ok_or_else(syntax)?;
        let (key, value) = key_value.split_once('=').unwrap_or((key_value, ""));
        if key.is_empty() {
            return Err(syntax());
        }
        let part = |source: Error| Error::TaintPart {
            taint: text.to_owned(),
            source: Box::new(source),
        };
        check_label_key(key).map_err(part)?;
        check_label_value(value).map_err(part)?;
        let effect = match effect {
            "NoSchedule" => TaintEffect::NoSchedule,
            "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
            "NoExecute" => TaintEffect::NoExecute,
            other => {
                return Err(Error::TaintEffect {
                    taint: text.to_owned(),
                    effect: other.to_owned(),
                });
            }
        };
        Ok(Self {
            key: key.to_owned(),
            value: value.to_owned(),
            effect,
        })
    }
}

impl fmt::Display for Taint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:{}", self.key, self.effect)
        } else {
            write!(f, "{}={}:{}", self.key, self.value, self.effect)
        }
    }
}

/// Parses a list of taints, refusing a repeated key+effect pair. Errors come with the index of
/// the offending entry.
pub fn parse_taints<'a>(
    texts: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Taint>, (usize, Error)> {
    let mut taints: Vec<Taint> = Vec::new();
    for (index, text) in texts.into_iter().enumerate() {
        let taint: Taint = text.parse().map_err(|e| (index, e))?;
        if taints
            .iter()
            .any(|t| t.key == taint.key && t.effect == taint.effect)
        {
            return Err((
                index,
                Error::DuplicateTaint {
                    taint: text.to_owned(),
                    key: taint.key,
                    effect: taint.effect,
                },
            ));
        }
        taints.push(taint);
    }
    Ok(taints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys() {
        for ok in [
            "app",
            "example.com/role",
            "a.b-c/x_y.z",
            "A9",
            &"k".repeat(63),
        ] {
            check_label_key(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert!(matches!(check_label_key(""), Err(Error::KeyName { .. })));
        assert!(matches!(
            check_label_key("-app"),
            Err(Error::KeyName { .. })
        ));
        assert!(matches!(
            check_label_key(&"k".repeat(64)),
            Err(Error::KeyName { .. })
        ));
        assert!(matches!(
            check_label_key("Example.com/x"),
            Err(Error::KeyPrefix { .. })
        ));
        assert!(matches!(
            check_label_key("/x"),
            Err(Error::KeyPrefix { .. })
        ));
        assert!(matches!(
            check_label_key("a/b/c"),
            Err(Error::KeyName { .. })
        ));
        let long_prefix = format!("{}.com/x", "a.".repeat(126));
        assert!(matches!(
            check_label_key(&long_prefix),
            Err(Error::KeyPrefix { .. })
        ));
        let msg = check_label_key("app!").unwrap_err().to_string();
        assert!(
            msg.contains("\"app!\"") && msg.contains("at most 63 characters"),
            "{msg}"
        );
    }

    #[test]
    fn label_values() {
        for ok in ["", "v1", "a.b_c-d", &"v".repeat(63)] {
            check_label_value(ok).unwrap();
        }
        for bad in ["has space", "-x", "x-", &"v".repeat(64), "ü"] {
            assert!(check_label_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_label_namespaces() {
        for ok in [
            "node.kubernetes.io/role",
            "foo.node.kubernetes.io/x",
            "topology.kubernetes.io/zone",
            "team",
        ] {
            check_node_label_key(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let msg = check_node_label_key("node-role.kubernetes.io/worker")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("NodeRestriction"), "{msg}");
        assert!(matches!(
            check_node_label_key("k8s.io/x"),
            Err(Error::RestrictedNodeLabel { .. })
        ));
        assert!(matches!(
            check_node_label_key("hk8s.io/pool"),
            Err(Error::Reserved { .. })
        ));
    }

    #[test]
    fn taints_parse_and_print() {
        let t: Taint = "dedicated=gpu:NoSchedule".parse().unwrap();
        assert_eq!(
            (t.key.as_str(), t.value.as_str(), t.effect),
            ("dedicated", "gpu", TaintEffect::NoSchedule)
        );
        assert_eq!(t.to_string(), "dedicated=gpu:NoSchedule");
        let t: Taint = "example.com/spot:PreferNoSchedule".parse().unwrap();
        assert_eq!(t.value, "");
        assert_eq!(t.to_string(), "example.com/spot:PreferNoSchedule");
        assert!("k=:NoExecute".parse::<Taint>().is_ok());
    }

    #[test]
    fn bad_taints_say_why() {
        let err = |s: &str| s.parse::<Taint>().unwrap_err();
        assert!(matches!(err("dedicated=gpu"), Error::TaintSyntax { .. }));
        assert!(matches!(err("=gpu:NoSchedule"), Error::TaintSyntax { .. }));
        let msg = err("dedicated=gpu:Noschedule").to_string();
        assert!(
            msg.contains("\"Noschedule\"")
                && msg.contains("NoSchedule, PreferNoSchedule, NoExecute"),
            "{msg}"
        );
        let msg = err("bad key=x:NoSchedule").to_string();
        assert!(msg.contains("\"bad key\""), "{msg}");
        assert!(matches!(
            err("k=bad value:NoSchedule"),
            Error::TaintPart { .. }
        ));
    }

    #[test]
    fn duplicate_taints_are_refused_with_their_index() {
        let (index, e) =
            parse_taints(["a=1:NoSchedule", "b:NoExecute", "a=2:NoSchedule"]).unwrap_err();
        assert_eq!(index, 2);
        assert!(matches!(e, Error::DuplicateTaint { .. }));
        assert_eq!(
            parse_taints(["a=1:NoSchedule", "a=1:NoExecute"])
                .unwrap()
                .len(),
            2
        );
    }
}
