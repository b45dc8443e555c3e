//! TLS of the node services. apid in maintenance mode serves a self-signed certificate and asks
//! for no client certificate; configured, it serves a certificate issued from the OS CA (Ed25519,
//! IP SANs: the node's addresses and `machine.certSANs`) and requires a client certificate from
//! that CA. Workers hold no CA key: like Talos's trustd, the sim issues their certificate from a
//! control plane of the same cluster whose `machine.token` matches. The Kubernetes API serves a
//! certificate from the cluster's Kubernetes CA whose SANs include the endpoint.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;

use super::TalosSim;
use super::pki::{self, ServingIdentity};
use super::state::{Fleet, Node};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Builds a rustls server config; `client_ca` = require client certificates from this CA
/// (`optional` = let unauthenticated clients through, for the Kubernetes API's 401/403).
fn server_config(
    identity: ServingIdentity,
    client_ca: Option<&str>,
    optional: bool,
    alpn: &[&[u8]],
) -> Option<Arc<rustls::ServerConfig>> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .ok()?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(pki::certificate_der(ca, "CA").ok()?).ok()?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = if optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().ok()?)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(identity.chain, identity.key)
        .ok()?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Some(Arc::new(config))
}

fn node_ips(node: &Node) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = vec![node.ip.into()];
    ips.extend(node.private_ips().map(IpAddr::from));
    ips.push(IpAddr::from([127, 0, 0, 1]));
    ips
}

fn split_sans(sans: &[String]) -> (Vec<IpAddr>, Vec<String>) {
    let mut ips = Vec::new();
    let mut names = Vec::new();
    for s in sans {
        match s.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => names.push(s.clone()),
        }
    }
    (ips, names)
}

/// Gives every up node without TLS its apid TLS.
pub fn refresh(_sim: &TalosSim, fleet: &mut Fleet) {
    let issuers: Vec<(String, String, String, String)> = fleet
        .nodes
        .values()
        .filter_map(|n| {
            let c = n.config.as_ref()?;
            Some((
                n.cluster_key()?,
                c.machine_token.clone(),
                c.os_ca_crt.clone(),
                c.os_ca_key.clone()?,
            ))
        })
        .collect();
    for node in fleet
        .nodes
        .values_mut()
        .filter(|n| n.is_up() && n.tls.is_none())
    {
        let mut ips = node_ips(node);
        let tls = match &node.config {
            None => pki::self_signed(&ips)
                .ok()
                .and_then(|id| server_config(id, None, false, &[b"h2"])),
            Some(cfg) => {
                let key = node.cluster_key();
                let issuer = cfg
                    .os_ca_key
                    .clone()
                    .map(|k| (cfg.os_ca_crt.clone(), k))
                    .or_else(|| {
                        issuers
                            .iter()
                            .find(|(k, token, _, _)| {
                                Some(k) == key.as_ref() && *token == cfg.machine_token
                            })
                            .map(|(_, _, c, k)| (c.clone(), k.clone()))
                    });
                let Some((ca_crt, ca_key)) = issuer else {
                    continue;
                };
                let (san_ips, names) = split_sans(&cfg.cert_sans);
                ips.extend(san_ips);
                pki::issue_serving(&ca_crt, &ca_key, &node.hostname(), &ips, &names)
                    .ok()
                    .and_then(|id| server_config(id, Some(&cfg.os_ca_crt), false, &[b"h2"]))
            }
        };
        node.tls = tls;
    }
}

/// The Kubernetes API TLS of a cluster, issued (again) when the set of SANs changed.
pub fn kube_tls(fleet: &mut Fleet, key: &str) -> Option<Arc<rustls::ServerConfig>> {
    let mut sans = BTreeSet::new();
    let mut ca = None;
    for node in fleet.cluster_nodes(key).filter(|n| n.is_control_plane()) {
        let Some(cfg) = &node.config else { continue };
        if let Ok(host) = super::checks::endpoint_host(&cfg.endpoint) {
            sans.insert(host);
        }
        sans.extend(cfg.api_cert_sans.iter().cloned());
        sans.extend(cfg.cert_sans.iter().cloned());
        sans.extend(node_ips(node).iter().map(IpAddr::to_string));
        if let Some(k) = &cfg.kube_ca_key {
            ca = Some((cfg.kube_ca_crt.clone(), k.clone()));
        }
    }
    for name in [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "localhost",
    ] {
        sans.insert(name.to_string());
    }
    let sans: Vec<String> = sans.into_iter().collect();
    let cluster = fleet.clusters.get_mut(key)?;
    if let Some((issued, config)) = &cluster.kube_tls
        && *issued == sans
    {
        return Some(config.clone());
    }
    let (ca_crt, ca_key) = ca?;
    let (ips, names) = split_sans(&sans);
    let identity = pki::issue_serving(&ca_crt, &ca_key, "kube-apiserver", &ips, &names).ok()?;
    let config = server_config(identity, Some(&ca_crt), true, &[b"h2", b"http/1.1"])?;
    cluster.kube_tls = Some((sans, config.clone()));
    Some(config)
}
