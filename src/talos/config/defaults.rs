//! Fixed Kubernetes settings Talos's generator writes into every control plane: the PodSecurity
//! admission defaults, the audit policy, anonymous access to health endpoints, and the
//! authorizers. Values and key order (Go sorts free-form maps) are those of Talos's generator.

use super::Error;
use crate::talos::yaml::{self, Node};

/// A free-form YAML value embedded in a typed document.
pub type Unstructured = Node;

const POD_SECURITY: &str = "\
apiVersion: pod-security.admission.config.k8s.io/v1alpha1
defaults:
    audit: restricted
    audit-version: latest
    enforce: baseline
    enforce-version: latest
    warn: restricted
    warn-version: latest
exemptions:
    namespaces:
        - kube-system
    runtimeClasses: []
    usernames: []
kind: PodSecurityConfiguration
";

const AUDIT_POLICY: &str = "\
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
    - level: Metadata
";

const AUTHENTICATION: &str = "\
anonymous:
    conditions:
        - path: /livez
        - path: /readyz
        - path: /healthz
    enabled: true
jwt: []
";

fn parse(what: &'static str, text: &str) -> Result<Unstructured, Error> {
    yaml::from_str(text).map_err(|source| Error::Internal { what, source })
}

/// The `PodSecurityConfiguration` of the `PodSecurity` admission plugin.
pub fn pod_security() -> Result<Unstructured, Error> {
    parse("PodSecurity admission defaults", POD_SECURITY)
}

/// The API server audit policy (everything at `Metadata` level).
pub fn audit_policy() -> Result<Unstructured, Error> {
    parse("audit policy", AUDIT_POLICY)
}

/// The structured authentication configuration (1.14): anonymous access to health endpoints.
pub fn authentication() -> Result<Unstructured, Error> {
    parse("authentication configuration", AUTHENTICATION)
}

/// The secrets encryption configuration (1.14) for a secretbox or AES-CBC key: Talos writes
/// the key as a `secretbox` provider named `key2` (secretbox) or `key1` (AES-CBC bundles).
pub fn etcd_encryption(key_name: &str, secret: &str) -> Unstructured {
    use crate::talos::yaml::Mapping;
    let mut key = Mapping::new();
    key.insert("name".into(), Node::String(key_name.into()));
    key.insert("secret".into(), Node::String(secret.into()));
    let mut keys = Mapping::new();
    keys.insert("keys".into(), Node::Seq(vec![Node::Map(key)]));
    let mut provider = Mapping::new();
    provider.insert("secretbox".into(), Node::Map(keys));
    let mut resource = Mapping::new();
    resource.insert("providers".into(), Node::Seq(vec![Node::Map(provider)]));
    resource.insert(
        "resources".into(),
        Node::Seq(vec![Node::String("secrets".into())]),
    );
    let mut root = Mapping::new();
    root.insert("resources".into(), Node::Seq(vec![Node::Map(resource)]));
    Node::Map(root)
}
