//! The Talos and Kubernetes clients of one operation, both through the cluster's load balancer
//! and authenticated with short-lived admin credentials minted from the cluster's secrets.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use time::OffsetDateTime;

use crate::hcloud::load_balancers::TALOS_API_PORT;
use crate::kube::{KubeClient, KubeCredentials, KubeOptions, KubeRetry};
use crate::talos::apid::{ApidClient, ClientOptions, Credentials, RetryPolicy};
use crate::talos::kubeconfig::{self, KubeconfigRequest};
use crate::talos::ops::{KubeletVersions, ProbeError};
use crate::talos::secrets::SecretsBundle;
use crate::talos::talosconfig;
use crate::tfplugin::diag::Diagnostics;

use super::operation::{failed, failure};

/// Validity of the credentials the provider mints for itself during one operation.
const OPERATION_CREDENTIALS_TTL: Duration = Duration::from_secs(6 * 3600);

/// The clients the health gates and node operations use, bound to the load balancer.
pub struct Clients {
    /// Talos API through the load balancer, routed to each node with `node` metadata. It
    /// reconnects by itself when the balancer's connection lands on a node that left.
    pub talos: ApidClient,
    /// Kubernetes API through the load balancer.
    pub kube: KubeClient,
}

impl Clients {
    /// Short-lived admin credentials minted from the secrets, for this operation only. Talos
    /// calls retry a node that is not ready yet from half `poll_interval` up to twice it, the
    /// pace of the waits around them (a booting node's services come up within seconds; the
    /// client's default backoff up to 10 s would wait well past that).
    ///
    /// # Errors
    /// When credentials cannot be minted or the clients built.
    pub async fn connect(
        secrets: &SecretsBundle,
        lb_ip: &str,
        cluster: &str,
        poll_interval: Duration,
    ) -> Result<Self, Diagnostics> {
        // Valid from a little before now: the nodes' clocks may be behind ours.
        let now = OffsetDateTime::now_utc() - time::Duration::minutes(5);
        let ttl =
            time::Duration::try_from(OPERATION_CREDENTIALS_TTL).unwrap_or(time::Duration::hours(6));
        let server = format!("https://{lb_ip}:6443");
        // Mint before any await: the thread-local RNG must not live across one.
        let (talos_creds, minted) = {
            let mut rng = rand::rng();
            let talos_creds = talosconfig::issue_admin(secrets, now, ttl, &mut rng)
                .map_err(|e| failed("Cannot mint Talos credentials", &e))?;
            let minted = kubeconfig::mint(
                secrets,
                &KubeconfigRequest::admin(cluster, &server, ttl),
                now,
                &mut rng,
            )
            .map_err(|e| failed("Cannot mint Kubernetes credentials", &e))?;
            (talos_creds, minted)
        };
        let key = talos_creds
            .rustls_key_pem()
            .map_err(|e| failed("Cannot mint Talos credentials", &e))?;
        let ip: IpAddr = lb_ip
            .parse()
            .map_err(|e| failure("The load balancer has no usable IPv4", e))?;
        let talos_credentials = Credentials::Admin {
            ca: talos_creds.ca_pem.into_bytes(),
            crt: talos_creds.cert_pem.into_bytes(),
            key: key.into_bytes(),
        };
        let talos = ApidClient::connect(
            SocketAddr::new(ip, TALOS_API_PORT),
            &talos_credentials,
            ClientOptions::default().retry(RetryPolicy {
                initial_backoff: poll_interval / 2,
                max_backoff: poll_interval * 2,
            }),
        )
        .await
        .map_err(|e| failed("Cannot set up the Talos API client", &e))?;
        let kube = KubeClient::new(
            &KubeCredentials {
                server,
                ca_pem: minted.credentials.ca_pem,
                client_cert_pem: minted.credentials.cert_pem,
                client_key_pem: minted.credentials.key_pem,
            },
            KubeOptions {
                // A refused request is repeated at the pace of the waits, like Talos calls.
                retry: KubeRetry {
                    initial_backoff: poll_interval / 2,
                    max_backoff: poll_interval * 2,
                    ..KubeRetry::default()
                },
                ..KubeOptions::default()
            },
        )
        .map_err(|e| failed("Cannot set up the Kubernetes API client", &e))?;
        Ok(Clients { talos, kube })
    }
}

/// Kubelet versions read from the Kubernetes API, for the Kubernetes upgrade of a node.
pub struct Kubelets<'a>(pub &'a KubeClient);

impl KubeletVersions for Kubelets<'_> {
    async fn kubelet_version(&self, node_name: &str) -> Result<Option<String>, ProbeError> {
        match self.0.get_node(node_name).await {
            Ok(node) => Ok(node.map(|n| n.kubelet_version)),
            Err(e) => Err(Box::new(e) as ProbeError),
        }
    }
}
