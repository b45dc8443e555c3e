//! The semantic checks Talos runs on a configuration beyond its schema, as far as the sim models
//! them: the machine type, token formats, the endpoint URL, CA keys only on control planes, and
//! certificate/key pairs that belong together. Returns the facts of [`NodeConfig`] on success.

use serde_json::Value;

use super::config::{NodeConfig, Role, map_at, str_at, strings_at};
use super::pki;

/// Checks the v1alpha1 document `v1` (and the typed documents found by `typed`).
pub(crate) fn check<'a>(
    v1: &'a Value,
    typed: &dyn Fn(&str) -> Option<&'a Value>,
    version: &str,
) -> Result<NodeConfig, String> {
    let mut problems = Vec::new();
    let role = match str_at(v1, &["machine", "type"]) {
        Some("controlplane") | Some("init") => Role::Controlplane,
        Some("worker") => Role::Worker,
        other => {
            return Err(format!(
                "machine.type must be controlplane or worker, got {other:?}"
            ));
        }
    };
    let control_plane = role == Role::Controlplane;
    let machine_token = str_at(v1, &["machine", "token"])
        .unwrap_or_default()
        .to_string();
    if !is_token(&machine_token) {
        problems.push("machine.token must match [0-9a-z]{6}.[0-9a-z]{16}".to_string());
    }
    let cluster_token = str_at(v1, &["cluster", "token"]).unwrap_or_default();
    if !is_token(cluster_token) {
        problems.push("cluster.token must match [0-9a-z]{6}.[0-9a-z]{16}".to_string());
    }

    let os_ca = ca_pair(
        v1,
        &["machine", "ca"],
        "machine.ca",
        control_plane,
        &mut problems,
    );
    let kube_ca = match typed("KubeAPIServerCAConfig") {
        Some(doc) => raw_ca_pair(
            doc,
            &["issuingCA"],
            "KubeAPIServerCAConfig.issuingCA",
            control_plane,
            &mut problems,
        ),
        None => ca_pair(
            v1,
            &["cluster", "ca"],
            "cluster.ca",
            control_plane,
            &mut problems,
        ),
    };
    if v1.pointer("/cluster/etcd/ca").is_some() {
        ca_pair(
            v1,
            &["cluster", "etcd", "ca"],
            "cluster.etcd.ca",
            control_plane,
            &mut problems,
        );
    }
    if !control_plane
        && str_at(v1, &["cluster", "secretboxEncryptionSecret"]).is_some_and(|s| !s.is_empty())
    {
        problems.push("cluster.secretboxEncryptionSecret must not be set on workers".to_string());
    }

    let cluster_doc = typed("KubeClusterConfig");
    let endpoint = cluster_doc
        .and_then(|d| str_at(d, &["endpoint"]))
        .or_else(|| str_at(v1, &["cluster", "controlPlane", "endpoint"]))
        .unwrap_or_default()
        .to_string();
    if let Err(e) = endpoint_host(&endpoint) {
        problems.push(format!("cluster endpoint {endpoint:?}: {e}"));
    }
    let cluster_name = cluster_doc
        .and_then(|d| str_at(d, &["clusterName"]))
        .or_else(|| str_at(v1, &["cluster", "clusterName"]))
        .unwrap_or_default()
        .to_string();
    if cluster_name.is_empty() {
        problems.push("cluster name must be set".to_string());
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let (os_ca_crt, os_ca_key) = os_ca.unwrap_or_default();
    let (kube_ca_crt, kube_ca_key) = kube_ca.unwrap_or_default();

    let kubelet_image = typed("KubeletConfig")
        .and_then(|d| str_at(d, &["image"]))
        .or_else(|| str_at(v1, &["machine", "kubelet", "image"]))
        .map(str::to_string);
    let kubelet_version = kubelet_image
        .and_then(|i| i.rsplit_once(':').map(|(_, tag)| tag.to_string()))
        .unwrap_or_else(|| default_kubernetes(version).to_string());
    let node_doc = typed("KubeNodeConfig");
    let mut labels = node_doc
        .map(|d| map_at(d, &["labels"]))
        .unwrap_or_else(|| map_at(v1, &["machine", "nodeLabels"]));
    let mut taints = node_doc
        .map(|d| map_at(d, &["taints"]))
        .unwrap_or_else(|| map_at(v1, &["machine", "nodeTaints"]));
    if control_plane && node_doc.is_none() {
        // Talos labels and taints control planes itself in the v1alpha1 shape.
        labels
            .entry("node-role.kubernetes.io/control-plane".into())
            .or_default();
        if v1.pointer("/cluster/allowSchedulingOnControlPlanes") != Some(&Value::Bool(true)) {
            taints
                .entry("node-role.kubernetes.io/control-plane".into())
                .or_insert_with(|| "NoSchedule".into());
        }
    }
    let flannel = if typed("KubeClusterConfig").is_some() || typed("KubeNetworkConfig").is_some() {
        typed("KubeFlannelCNIConfig").is_some()
    } else {
        str_at(v1, &["cluster", "network", "cni", "name"]).is_none_or(|n| n == "flannel")
    };
    let network_doc = typed("KubeNetworkConfig");
    let pod_subnets = network_doc
        .map(|d| strings_at(d, &["podSubnets"]))
        .unwrap_or_else(|| strings_at(v1, &["cluster", "network", "podSubnets"]));
    let node_cidr_mask_ipv4 = network_doc
        .and_then(|d| d.get("nodeCIDRMaskSizeIPv4"))
        .and_then(Value::as_u64)
        .and_then(|m| u8::try_from(m).ok())
        .or_else(|| {
            let args = map_at(v1, &["cluster", "controllerManager", "extraArgs"]);
            ["node-cidr-mask-size-ipv4", "node-cidr-mask-size"]
                .iter()
                .find_map(|k| args.get(*k).and_then(|v| v.parse().ok()))
        });
    let mut api_cert_sans = strings_at(v1, &["cluster", "apiServer", "certSANs"]);
    if let Some(doc) = typed("KubeAPIServerConfig") {
        api_cert_sans.extend(strings_at(doc, &["certSANs"]));
    }
    Ok(NodeConfig {
        yaml: String::new(),
        hash: String::new(),
        role,
        machine_token,
        cluster_token: cluster_token.to_string(),
        os_ca_crt,
        os_ca_key,
        cert_sans: strings_at(v1, &["machine", "certSANs"]),
        cluster_name,
        endpoint,
        kube_ca_crt,
        kube_ca_key,
        api_cert_sans,
        kubelet_version,
        hostname: typed("HostnameConfig")
            .and_then(|d| str_at(d, &["hostname"]))
            .or_else(|| str_at(v1, &["machine", "network", "hostname"]))
            .map(str::to_string),
        labels,
        taints,
        flannel,
        pod_subnets,
        node_cidr_mask_ipv4,
        external_cloud_provider: v1.pointer("/cluster/externalCloudProvider/enabled")
            == Some(&Value::Bool(true)),
        kubelet_serving_certificates: kubelet_serving_certificates(v1, typed("KubeletConfig")),
        volumes: Default::default(),
    })
}

/// Whether the kubelet requests a CA-signed serving certificate: the `rotate-server-certificates`
/// argument (v1alpha1 `machine.kubelet.extraArgs` or the 1.14 `KubeletConfig` document) or
/// `serverTLSBootstrap` in its configuration (`extraConfig` / `config`).
fn kubelet_serving_certificates(v1: &Value, typed: Option<&Value>) -> bool {
    let (args, config) = match typed {
        Some(doc) => (map_at(doc, &["extraArgs"]), doc.get("config")),
        None => (
            map_at(v1, &["machine", "kubelet", "extraArgs"]),
            v1.pointer("/machine/kubelet/extraConfig"),
        ),
    };
    args.get("rotate-server-certificates")
        .is_some_and(|v| v == "true")
        || config.and_then(|c| c.get("serverTLSBootstrap")) == Some(&Value::Bool(true))
}

/// Kubernetes version Talos defaults to when the kubelet image is not given.
fn default_kubernetes(version: &str) -> &'static str {
    if super::config::minor_of(version) == "v1.14" {
        "v1.36.0"
    } else {
        "v1.35.0"
    }
}

/// `[0-9a-z]{6}.[0-9a-z]{16}`.
pub fn is_token(s: &str) -> bool {
    let ok = |p: &str, n: usize| {
        p.len() == n
            && p.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    s.split_once('.')
        .is_some_and(|(a, b)| ok(a, 6) && ok(b, 16))
}

/// The host of an `https://host[:port]` endpoint.
pub fn endpoint_host(endpoint: &str) -> Result<String, String> {
    let rest = endpoint
        .strip_prefix("https://")
        .ok_or("must be an https:// URL")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (authority, None),
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(format!("port {p:?} is not a port number"));
    }
    Ok(host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string())
}

/// A v1alpha1 `{crt, key}` pair (base64 of PEM): the certificate must parse; control planes need
/// the matching key, workers must not carry one.
fn ca_pair(
    v1: &Value,
    path: &[&str],
    what: &str,
    control_plane: bool,
    problems: &mut Vec<String>,
) -> Option<(String, Option<String>)> {
    let mut crt_path = path.to_vec();
    crt_path.push("crt");
    let mut key_path = path.to_vec();
    key_path.push("key");
    let crt_field = str_at(v1, &crt_path).unwrap_or_default();
    let key_field = str_at(v1, &key_path).unwrap_or_default();
    let crt = match pki::unwrap_base64_pem(crt_field, &format!("{what}.crt")) {
        Ok(c) => c,
        Err(e) => {
            problems.push(e.to_string());
            return None;
        }
    };
    let key = if key_field.is_empty() {
        None
    } else {
        match pki::unwrap_base64_pem(key_field, &format!("{what}.key")) {
            Ok(k) => Some(k),
            Err(e) => {
                problems.push(e.to_string());
                return None;
            }
        }
    };
    pair_rules(crt, key, what, control_plane, problems)
}

/// A typed-document `{cert, key}` pair (raw PEM).
fn raw_ca_pair(
    doc: &Value,
    path: &[&str],
    what: &str,
    control_plane: bool,
    problems: &mut Vec<String>,
) -> Option<(String, Option<String>)> {
    let base = path.iter().try_fold(doc, |v, k| v.get(*k))?;
    let crt = base
        .get("cert")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let key = base
        .get("key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    pair_rules(crt, key, what, control_plane, problems)
}

fn pair_rules(
    crt: String,
    key: Option<String>,
    what: &str,
    control_plane: bool,
    problems: &mut Vec<String>,
) -> Option<(String, Option<String>)> {
    if let Err(e) = pki::certificate_der(&crt, &format!("{what} certificate")) {
        problems.push(e.to_string());
        return None;
    }
    match (&key, control_plane) {
        (None, true) => problems.push(format!("{what}: control planes need the CA key")),
        (Some(_), false) => problems.push(format!(
            "{what}: the CA key must only be on control planes, not on workers"
        )),
        (Some(k), true) => {
            if let Err(e) = pki::check_pair(&crt, k, what) {
                problems.push(e.to_string());
            }
        }
        (None, false) => {}
    }
    Some((crt, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_format() {
        assert!(is_token("abcdef.0123456789abcdef"));
        assert!(!is_token("ABCDEF.0123456789abcdef"));
        assert!(!is_token("abcdef0123456789abcdef"));
    }

    #[test]
    fn endpoint_urls() {
        assert_eq!(
            endpoint_host("https://10.0.1.254:6443").unwrap(),
            "10.0.1.254"
        );
        assert_eq!(
            endpoint_host("https://api.example.com").unwrap(),
            "api.example.com"
        );
        assert!(endpoint_host("http://10.0.0.1:6443").is_err());
        assert!(endpoint_host("https://10.0.0.1:notaport").is_err());
    }

    #[test]
    fn kubelet_serving_certificates_from_every_config_shape() {
        for (version, yaml) in [
            (
                "v1.13.9",
                include_str!("../../../src/talos/testdata/golden/v1.13-worker-cilium.yaml"),
            ),
            (
                "v1.14.0",
                include_str!("../../../src/talos/testdata/golden/v1.14-worker-cilium.yaml"),
            ),
        ] {
            let config = crate::talos::config::parse(yaml, version).unwrap();
            assert!(config.kubelet_serving_certificates, "{version}");
            let off = yaml.replace(
                "rotate-server-certificates: \"true\"",
                "rotate-server-certificates: \"false\"",
            );
            let config = crate::talos::config::parse(&off, version).unwrap();
            assert!(!config.kubelet_serving_certificates, "{version}");
        }
        let bootstrap = serde_json::json!({"machine": {"kubelet": {"extraConfig": {"serverTLSBootstrap": true}}}});
        assert!(kubelet_serving_certificates(&bootstrap, None));
    }
}
