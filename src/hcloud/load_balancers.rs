//! Load balancers: the cluster's API load balancer with its TCP services (6443 Kubernetes, 50000
//! Talos) and a label-selector target over private IPs.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::actions::{Action, Pending};
use super::client::{ApiRequest, Client};
use super::ensure::{Family, Labelled};
use super::error::Error;
use super::labels::{Labels, Selector};
use super::list::ListFilter;

const LOAD_BALANCERS: Family = Family {
    kind: "load balancer",
    path: "/load_balancers",
    key: "load_balancers",
    has_actions: true,
};

/// Kubernetes API port served by the API load balancer.
pub const KUBERNETES_API_PORT: u16 = 6443;
/// Talos API (apid) port served by the API load balancer.
pub const TALOS_API_PORT: u16 = 50000;

/// A name reference (`{"name": …}`) inside a reply.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NameRef {
    /// The referenced object's name.
    pub name: String,
}

/// Protocol of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceProtocol {
    /// Plain TCP pass-through.
    Tcp,
    /// HTTP.
    Http,
    /// HTTPS termination.
    Https,
}

/// A service's health check.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HealthCheck {
    /// `tcp` or `http`.
    pub protocol: ServiceProtocol,
    /// Port checked on the targets.
    pub port: u16,
    /// Seconds between checks.
    pub interval: u32,
    /// Seconds before a check fails.
    pub timeout: u32,
    /// Failed checks before a target is unhealthy.
    pub retries: u32,
}

/// A load balancer service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Service {
    /// Protocol.
    pub protocol: ServiceProtocol,
    /// Public port.
    pub listen_port: u16,
    /// Port on the targets.
    pub destination_port: u16,
    /// Whether the PROXY protocol header is sent.
    #[serde(default)]
    pub proxyprotocol: bool,
    /// Health check.
    pub health_check: HealthCheck,
}

impl Service {
    /// A TCP pass-through of `port` to the same port, health-checked by TCP every 5 s.
    pub fn tcp(port: u16) -> Self {
        Service {
            protocol: ServiceProtocol::Tcp,
            listen_port: port,
            destination_port: port,
            proxyprotocol: false,
            health_check: HealthCheck {
                protocol: ServiceProtocol::Tcp,
                port,
                interval: 5,
                timeout: 3,
                retries: 3,
            },
        }
    }
}

/// A load balancer target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// One server.
    Server {
        /// Server id.
        id: i64,
        /// Route to its private IP.
        use_private_ip: bool,
    },
    /// Every server matching a selector (including future ones).
    LabelSelector {
        /// The selector.
        selector: String,
        /// Route to private IPs.
        use_private_ip: bool,
    },
    /// An IP address.
    Ip(String),
}

impl Target {
    /// Every server matching `selector`, reached over the private network.
    pub fn private_selector(selector: &Selector) -> Self {
        Target::LabelSelector {
            selector: selector.to_string(),
            use_private_ip: true,
        }
    }

    fn body(&self) -> serde_json::Value {
        match self {
            Target::Server { id, use_private_ip } => {
                json!({"type": "server", "server": {"id": id}, "use_private_ip": use_private_ip})
            }
            Target::LabelSelector {
                selector,
                use_private_ip,
            } => json!({"type": "label_selector", "label_selector": {"selector": selector},
                "use_private_ip": use_private_ip}),
            Target::Ip(ip) => json!({"type": "ip", "ip": {"ip": ip}}),
        }
    }
}

#[derive(Deserialize)]
struct WireTarget {
    #[serde(rename = "type")]
    kind: String,
    server: Option<WireId>,
    label_selector: Option<WireSelector>,
    ip: Option<WireIp>,
    #[serde(default)]
    use_private_ip: bool,
}

#[derive(Deserialize)]
struct WireId {
    id: i64,
}

#[derive(Deserialize)]
struct WireSelector {
    selector: String,
}

#[derive(Deserialize)]
struct WireIp {
    ip: String,
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireTarget::deserialize(d)?;
        match (w.kind.as_str(), w.server, w.label_selector, w.ip) {
            ("server", Some(s), _, _) => Ok(Target::Server {
                id: s.id,
                use_private_ip: w.use_private_ip,
            }),
            ("label_selector", _, Some(s), _) => Ok(Target::LabelSelector {
                selector: s.selector,
                use_private_ip: w.use_private_ip,
            }),
            ("ip", _, _, Some(ip)) => Ok(Target::Ip(ip.ip)),
            (kind, ..) => Err(serde::de::Error::custom(format!(
                "unsupported load balancer target type {kind:?}"
            ))),
        }
    }
}

/// Public addresses of a load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PublicNet {
    /// Whether the public interface is on.
    #[serde(default)]
    pub enabled: bool,
    /// IPv4 address.
    pub ipv4: Option<IpRef>,
}

/// An address inside a reply.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IpRef {
    /// The address.
    pub ip: Option<String>,
}

/// A network attachment of a load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PrivateNet {
    /// Network id.
    pub network: i64,
    /// Private address.
    pub ip: String,
}

/// A load balancer as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LoadBalancer {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// Type (`lb11`, …).
    pub load_balancer_type: NameRef,
    /// Location.
    pub location: NameRef,
    /// Public addresses.
    pub public_net: PublicNet,
    /// Network attachments.
    #[serde(default)]
    pub private_net: Vec<PrivateNet>,
    /// Services.
    #[serde(default)]
    pub services: Vec<Service>,
    /// Targets.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Delete protection.
    #[serde(default)]
    pub protection: super::protection::Protection,
}

impl Labelled for LoadBalancer {
    fn id(&self) -> i64 {
        self.id
    }
    fn labels(&self) -> &Labels {
        &self.labels
    }
}

impl LoadBalancer {
    /// Its public IPv4 address, if it has one.
    pub fn public_ipv4(&self) -> Option<&str> {
        self.public_net.ipv4.as_ref().and_then(|i| i.ip.as_deref())
    }

    /// Its address in `network`, if attached.
    pub fn private_ip(&self, network: i64) -> Option<&str> {
        self.private_net
            .iter()
            .find(|p| p.network == network)
            .map(|p| p.ip.as_str())
    }
}

/// A load balancer to ensure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerSpec {
    /// Name.
    pub name: String,
    /// Labels (an existing one must carry all of them).
    pub labels: Labels,
    /// Type name (`lb11`).
    pub load_balancer_type: String,
    /// Location name.
    pub location: String,
    /// Network to attach to (an adopted load balancer is attached when it is not yet).
    pub network: Option<i64>,
    /// Services (missing ones are added to an adopted load balancer).
    pub services: Vec<Service>,
    /// Targets (missing ones are added to an adopted load balancer).
    pub targets: Vec<Target>,
}

#[derive(Deserialize)]
struct LbReply {
    load_balancer: LoadBalancer,
}

#[derive(Deserialize)]
struct CreateReply {
    load_balancer: LoadBalancer,
    action: Option<Action>,
}

#[derive(Deserialize)]
struct ActionReply {
    action: Action,
}

impl Client {
    /// Ensures the load balancer exists, attached to the network, with at least the spec's
    /// services and targets (see [`LoadBalancerSpec`]); the type is not changed on an adopted one.
    pub async fn ensure_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
    ) -> Result<Pending<LoadBalancer>, Error> {
        let selector = Selector::from(&spec.labels);
        let mut pending = self
            .ensure(LOAD_BALANCERS, &spec.name, &selector, || async {
                let mut body = json!({
                    "name": spec.name,
                    "labels": spec.labels,
                    "load_balancer_type": spec.load_balancer_type,
                    "location": spec.location,
                    "services": spec.services,
                    "targets": spec.targets.iter().map(Target::body).collect::<Vec<_>>(),
                    "public_interface": true,
                });
                if let Some(network) = spec.network {
                    body["network"] = json!(network);
                }
                let reply: CreateReply =
                    self.call(ApiRequest::post("/load_balancers", body)).await?;
                Ok(Pending {
                    value: reply.load_balancer,
                    actions: reply.action.into_iter().collect(),
                })
            })
            .await?;
        let id = pending.value.id;
        if let Some(network) = spec.network
            && pending.value.private_ip(network).is_none()
        {
            let action = self.attach_load_balancer_to_network(id, network).await?;
            pending.actions.push(action);
        }
        for service in &spec.services {
            if !pending
                .value
                .services
                .iter()
                .any(|s| s.listen_port == service.listen_port)
            {
                pending.actions.push(self.add_service(id, service).await?);
            }
        }
        for target in &spec.targets {
            if !pending.value.targets.contains(target) {
                pending.actions.push(self.add_target(id, target).await?);
            }
        }
        Ok(pending)
    }

    /// The load balancer with this id, `None` when it does not exist.
    pub async fn get_load_balancer(&self, id: i64) -> Result<Option<LoadBalancer>, Error> {
        match self
            .call::<LbReply>(ApiRequest::get(format!("/load_balancers/{id}")))
            .await
        {
            Ok(reply) => Ok(Some(reply.load_balancer)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The servers load balancer `id` routes new connections to: its server targets and the
    /// servers its label-selector targets match now (Hetzner resolves selectors itself, a few
    /// seconds after a label changes). `None` when the load balancer does not exist.
    pub async fn load_balancer_server_targets(&self, id: i64) -> Result<Option<Vec<i64>>, Error> {
        #[derive(Deserialize)]
        struct Reply {
            load_balancer: Resolved,
        }
        #[derive(Deserialize)]
        struct Resolved {
            #[serde(default)]
            targets: Vec<ResolvedTarget>,
        }
        #[derive(Deserialize)]
        struct ResolvedTarget {
            server: Option<WireId>,
            #[serde(default)]
            targets: Vec<ResolvedTarget>,
        }
        fn servers(targets: &[ResolvedTarget], out: &mut Vec<i64>) {
            for target in targets {
                out.extend(target.server.as_ref().map(|s| s.id));
                servers(&target.targets, out);
            }
        }
        match self
            .call::<Reply>(ApiRequest::get(format!("/load_balancers/{id}")))
            .await
        {
            Ok(reply) => {
                let mut ids = Vec::new();
                servers(&reply.load_balancer.targets, &mut ids);
                ids.sort_unstable();
                ids.dedup();
                Ok(Some(ids))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits until load balancer `id` no longer routes new connections to `server` (a label the
    /// target selector excludes was set on it), polling every `poll_interval` and logging at
    /// INFO while it still does. A load balancer that no longer exists routes to nothing.
    ///
    /// # Errors
    /// [`Error::Timeout`] at the client's deadline, [`Error::Cancelled`], API errors.
    pub async fn wait_load_balancer_stops_routing(
        &self,
        id: i64,
        server: i64,
        server_name: &str,
    ) -> Result<(), Error> {
        let what = format!("load balancer {id} to stop routing to {server_name}");
        let started = tokio::time::Instant::now();
        let mut logged = started;
        loop {
            match self.load_balancer_server_targets(id).await? {
                Some(targets) if targets.contains(&server) => {}
                _ => return Ok(()),
            }
            if self.deadline().is_expired() {
                return Err(Error::Timeout {
                    what,
                    pending: vec![format!("{server_name} is still a target")],
                    elapsed: started.elapsed(),
                    last_error: None,
                });
            }
            if logged.elapsed() >= std::time::Duration::from_secs(10) {
                tracing::info!(
                    what = %what,
                    elapsed_s = started.elapsed().as_secs(),
                    remaining_s = self.deadline().time_left().as_secs(),
                    "waiting: the target selector still matches"
                );
                logged = tokio::time::Instant::now();
            }
            if !self.deadline().sleep(self.poll_interval()).await {
                return Err(Error::Cancelled { what });
            }
        }
    }

    /// Every load balancer matching the selector.
    pub async fn list_load_balancers(
        &self,
        selector: &Selector,
    ) -> Result<Vec<LoadBalancer>, Error> {
        self.list_all(
            LOAD_BALANCERS.path,
            LOAD_BALANCERS.key,
            &ListFilter::selector(selector),
        )
        .await
    }

    /// Every load balancer matching a label selector in Hetzner's full syntax (e.g. the
    /// existence selector `hcloud-ccm/service-uid`).
    pub async fn list_load_balancers_matching(
        &self,
        label_selector: &str,
    ) -> Result<Vec<LoadBalancer>, Error> {
        self.list_all(
            LOAD_BALANCERS.path,
            LOAD_BALANCERS.key,
            &ListFilter::all().param("label_selector", label_selector),
        )
        .await
    }

    async fn lb_action(
        &self,
        id: i64,
        action: &str,
        body: serde_json::Value,
    ) -> Result<Action, Error> {
        let request = ApiRequest::post(format!("/load_balancers/{id}/actions/{action}"), body);
        Ok(self.call::<ActionReply>(request).await?.action)
    }

    /// Starts attaching the load balancer to a network (address chosen by Hetzner).
    pub async fn attach_load_balancer_to_network(
        &self,
        id: i64,
        network: i64,
    ) -> Result<Action, Error> {
        self.lb_action(id, "attach_to_network", json!({ "network": network }))
            .await
    }

    /// Starts adding a service.
    pub async fn add_service(&self, id: i64, service: &Service) -> Result<Action, Error> {
        self.lb_action(id, "add_service", json!(service)).await
    }

    /// Starts replacing the service listening on `service.listen_port`.
    pub async fn update_service(&self, id: i64, service: &Service) -> Result<Action, Error> {
        self.lb_action(id, "update_service", json!(service)).await
    }

    /// Starts deleting the service listening on `listen_port`.
    pub async fn delete_service(&self, id: i64, listen_port: u16) -> Result<Action, Error> {
        self.lb_action(id, "delete_service", json!({ "listen_port": listen_port }))
            .await
    }

    /// Starts adding a target.
    pub async fn add_target(&self, id: i64, target: &Target) -> Result<Action, Error> {
        self.lb_action(id, "add_target", target.body()).await
    }

    /// Starts removing a target.
    pub async fn remove_target(&self, id: i64, target: &Target) -> Result<Action, Error> {
        self.lb_action(id, "remove_target", target.body()).await
    }

    /// Starts changing the type (e.g. `lb11` → `lb21`).
    pub async fn change_load_balancer_type(
        &self,
        id: i64,
        load_balancer_type: &str,
    ) -> Result<Action, Error> {
        self.lb_action(
            id,
            "change_type",
            json!({ "load_balancer_type": load_balancer_type }),
        )
        .await
    }

    /// Deletes the load balancer (which detaches it from its networks) and waits for that;
    /// already gone counts as success.
    pub async fn delete_load_balancer(&self, id: i64) -> Result<(), Error> {
        self.delete_confirmed(LOAD_BALANCERS, &[id]).await
    }
}
