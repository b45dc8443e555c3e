//! Private networks and their subnets.

use ipnet::Ipv4Net;
use serde::Deserialize;
use serde_json::json;

use super::actions::{Action, Pending};
use super::catalog::NetworkZone;
use super::client::{ApiRequest, Client};
use super::ensure::{Family, Labelled};
use super::error::Error;
use super::labels::{Labels, Selector};
use super::list::ListFilter;

const NETWORKS: Family = Family {
    kind: "network",
    path: "/networks",
    key: "networks",
    has_actions: true,
};

/// A private network as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Network {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Whole range, e.g. `10.0.0.0/16`.
    pub ip_range: String,
    /// Subnets.
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    /// Attached server ids.
    #[serde(default)]
    pub servers: Vec<i64>,
    /// Attached load balancer ids.
    #[serde(default)]
    pub load_balancers: Vec<i64>,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// Delete protection.
    #[serde(default)]
    pub protection: super::protection::Protection,
}

impl Labelled for Network {
    fn id(&self) -> i64 {
        self.id
    }
    fn labels(&self) -> &Labels {
        &self.labels
    }
}

/// A subnet of a network.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Subnet {
    /// `cloud`, `server` or `vswitch`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Range, e.g. `10.0.1.0/24`.
    pub ip_range: String,
    /// Network zone, e.g. `eu-central`.
    pub network_zone: String,
    /// Gateway address.
    #[serde(default)]
    pub gateway: Option<String>,
}

/// A cloud subnet to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetSpec {
    /// Range inside the network.
    pub ip_range: Ipv4Net,
    /// Zone the subnet serves.
    pub network_zone: NetworkZone,
}

impl SubnetSpec {
    fn body(&self) -> serde_json::Value {
        json!({"type": "cloud", "ip_range": self.ip_range.to_string(), "network_zone": self.network_zone.as_str()})
    }

    fn present_in(&self, network: &Network) -> bool {
        let range = self.ip_range.to_string();
        network.subnets.iter().any(|s| s.ip_range == range)
    }
}

/// A network to ensure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    /// Name (unique per project).
    pub name: String,
    /// Whole range.
    pub ip_range: Ipv4Net,
    /// Cloud subnets it must have.
    pub subnets: Vec<SubnetSpec>,
    /// Labels (must include the cluster label; an existing network must carry all of them).
    pub labels: Labels,
}

#[derive(Deserialize)]
struct NetworkReply {
    network: Network,
}

#[derive(Deserialize)]
struct ActionReply {
    action: Action,
}

impl Client {
    /// Ensures the network exists with its subnets: an existing network of that name with the
    /// spec's labels is adopted and missing subnets are added (their actions returned); one
    /// without the labels is refused with [`Error::NameTaken`].
    pub async fn ensure_network(&self, spec: &NetworkSpec) -> Result<Pending<Network>, Error> {
        let selector = Selector::from(&spec.labels);
        let mut pending = self
            .ensure(NETWORKS, &spec.name, &selector, || async {
                let body = json!({
                    "name": spec.name,
                    "ip_range": spec.ip_range.to_string(),
                    "subnets": spec.subnets.iter().map(SubnetSpec::body).collect::<Vec<_>>(),
                    "labels": spec.labels,
                });
                let reply: NetworkReply = self.call(ApiRequest::post("/networks", body)).await?;
                Ok(Pending::ready(reply.network))
            })
            .await?;
        for subnet in &spec.subnets {
            if !subnet.present_in(&pending.value) {
                pending
                    .actions
                    .push(self.add_subnet(pending.value.id, subnet).await?);
            }
        }
        Ok(pending)
    }

    /// The network with this id, `None` when it does not exist.
    pub async fn get_network(&self, id: i64) -> Result<Option<Network>, Error> {
        match self
            .call::<NetworkReply>(ApiRequest::get(format!("/networks/{id}")))
            .await
        {
            Ok(reply) => Ok(Some(reply.network)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every network matching the selector (all pages).
    pub async fn list_networks(&self, selector: &Selector) -> Result<Vec<Network>, Error> {
        self.list_all(NETWORKS.path, NETWORKS.key, &ListFilter::selector(selector))
            .await
    }

    /// Starts adding a cloud subnet.
    pub async fn add_subnet(&self, network: i64, subnet: &SubnetSpec) -> Result<Action, Error> {
        let request = ApiRequest::post(
            format!("/networks/{network}/actions/add_subnet"),
            subnet.body(),
        );
        Ok(self.call::<ActionReply>(request).await?.action)
    }

    /// Starts deleting the subnet with this range (servers in it must be detached first).
    pub async fn delete_subnet(&self, network: i64, ip_range: Ipv4Net) -> Result<Action, Error> {
        let request = ApiRequest::post(
            format!("/networks/{network}/actions/delete_subnet"),
            json!({"ip_range": ip_range.to_string()}),
        );
        Ok(self.call::<ActionReply>(request).await?.action)
    }

    /// Deletes the network; already gone counts as success. Servers and load balancers must have
    /// been deleted or detached (and their actions settled) before.
    pub async fn delete_network(&self, id: i64) -> Result<(), Error> {
        self.delete_confirmed(NETWORKS, &[id]).await
    }
}
