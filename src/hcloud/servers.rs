//! Servers: create (user data, labels, networks, firewalls, placement group, image), look up by
//! id or label selector, power actions, snapshots, and deletion that waits for the detach.

use serde::Deserialize;
use serde_json::json;

use super::actions::{Action, Pending};
use super::catalog::Architecture;
use super::client::{ApiRequest, Client};
use super::ensure::{Family, Labelled};
use super::error::Error;
use super::images::{Image, parse_architecture};
use super::labels::{Labels, Selector};
use super::list::ListFilter;

const SERVERS: Family = Family {
    kind: "server",
    path: "/servers",
    key: "servers",
    has_actions: true,
};

/// Hetzner's cap on `user_data` (bytes of the string sent).
pub const MAX_USER_DATA_BYTES: usize = 32 * 1024;

/// Lifecycle state of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerStatus {
    /// Being created.
    Initializing,
    /// Booting.
    Starting,
    /// Running.
    Running,
    /// Shutting down.
    Stopping,
    /// Powered off.
    Off,
    /// Being deleted.
    Deleting,
    /// Being migrated.
    Migrating,
    /// Being rebuilt.
    Rebuilding,
    /// A state this client does not know.
    #[serde(other)]
    Unknown,
}

/// An id reference inside a reply.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdRef {
    /// The referenced object's id.
    pub id: i64,
}

/// An address inside a reply.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Address {
    /// The address (IPv4) or network (IPv6).
    pub ip: String,
}

/// Public networking of a server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerPublicNet {
    /// Public IPv4, if enabled.
    pub ipv4: Option<Address>,
    /// Public IPv6 network, if enabled.
    pub ipv6: Option<Address>,
    /// Firewalls applied (directly or by selector).
    #[serde(default)]
    pub firewalls: Vec<IdRef>,
}

/// A network attachment of a server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerPrivateNet {
    /// Network id.
    pub network: i64,
    /// Private address.
    pub ip: String,
}

/// The server type part of a server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerTypeRef {
    /// Name, e.g. `cax21`.
    pub name: String,
    /// `x86` or `arm`.
    pub architecture: String,
}

/// The location part of a server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LocationRef {
    /// Name, e.g. `fsn1`.
    pub name: String,
}

/// A server as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Server {
    /// Id.
    pub id: i64,
    /// Name (also its hostname).
    pub name: String,
    /// State.
    pub status: ServerStatus,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// Public networking.
    pub public_net: ServerPublicNet,
    /// Private networks.
    #[serde(default)]
    pub private_net: Vec<ServerPrivateNet>,
    /// Type.
    pub server_type: ServerTypeRef,
    /// Location.
    pub location: LocationRef,
    /// Image it was created from (`None` once the image is deleted).
    #[serde(default)]
    pub image: Option<IdRef>,
    /// Placement group.
    #[serde(default)]
    pub placement_group: Option<IdRef>,
    /// Delete (and rebuild) protection.
    #[serde(default)]
    pub protection: super::protection::Protection,
}

impl Labelled for Server {
    fn id(&self) -> i64 {
        self.id
    }
    fn labels(&self) -> &Labels {
        &self.labels
    }
}

impl Server {
    /// Public IPv4 address.
    pub fn public_ipv4(&self) -> Option<&str> {
        self.public_net.ipv4.as_ref().map(|a| a.ip.as_str())
    }

    /// Address in `network`, if attached.
    pub fn private_ip(&self, network: i64) -> Option<&str> {
        self.private_net
            .iter()
            .find(|n| n.network == network)
            .map(|n| n.ip.as_str())
    }

    /// Architecture of its server type.
    pub fn architecture(&self) -> Option<Architecture> {
        parse_architecture(&self.server_type.architecture)
    }
}

/// A server to ensure. `Debug` leaves out the user data: it is a machine configuration, which
/// holds the cluster's keys.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// Name (unique per project; the node name).
    pub name: String,
    /// Server type name.
    pub server_type: String,
    /// Image id or name.
    pub image: String,
    /// Location name.
    pub location: String,
    /// Labels (an existing server must carry all of them).
    pub labels: Labels,
    /// Cloud-init / Talos machine configuration (at most [`MAX_USER_DATA_BYTES`]).
    pub user_data: Option<String>,
    /// Networks to attach at creation.
    pub networks: Vec<i64>,
    /// Firewalls to apply at creation.
    pub firewalls: Vec<i64>,
    /// Spread placement group.
    pub placement_group: Option<i64>,
    /// Whether the server gets a public IPv4 address.
    pub enable_ipv4: bool,
    /// Whether the server gets a public IPv6 network.
    pub enable_ipv6: bool,
}

impl std::fmt::Debug for ServerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSpec")
            .field("name", &self.name)
            .field("server_type", &self.server_type)
            .field("image", &self.image)
            .field("location", &self.location)
            .field("labels", &self.labels)
            .field(
                "user_data",
                &self
                    .user_data
                    .as_ref()
                    .map(|u| format!("<{} bytes>", u.len())),
            )
            .field("networks", &self.networks)
            .field("firewalls", &self.firewalls)
            .field("placement_group", &self.placement_group)
            .field("enable_ipv4", &self.enable_ipv4)
            .field("enable_ipv6", &self.enable_ipv6)
            .finish()
    }
}

impl ServerSpec {
    fn body(&self) -> serde_json::Value {
        let mut body = json!({
            "name": self.name,
            "server_type": self.server_type,
            "image": self.image,
            "location": self.location,
            "labels": self.labels,
            "networks": self.networks,
            "firewalls": self.firewalls.iter().map(|id| json!({"firewall": id})).collect::<Vec<_>>(),
            "start_after_create": true,
            "public_net": {"enable_ipv4": self.enable_ipv4, "enable_ipv6": self.enable_ipv6},
        });
        if let Some(user_data) = &self.user_data {
            body["user_data"] = json!(user_data);
        }
        if let Some(pg) = self.placement_group {
            body["placement_group"] = json!(pg);
        }
        body
    }
}

#[derive(Deserialize)]
struct ServerReply {
    server: Server,
}

/// `POST /servers`'s reply.
#[derive(Deserialize)]
pub(super) struct CreateReply {
    pub(super) server: Server,
    pub(super) action: Action,
    #[serde(default)]
    pub(super) next_actions: Vec<Action>,
}

#[derive(Deserialize)]
struct ActionReply {
    action: Action,
}

#[derive(Deserialize)]
struct ImageReply {
    image: Image,
    action: Action,
}

impl Client {
    /// Ensures the server exists: created and started, or, when the name is taken, adopted (with
    /// its running actions) if that server carries the spec's labels and refused with
    /// [`Error::NameTaken`] if not. Created first, without a lookup: callers create the servers
    /// their label-selector list did not find. The returned actions cover creation, start and
    /// network attachment.
    pub async fn ensure_server(&self, spec: &ServerSpec) -> Result<Pending<Server>, Error> {
        let selector = Selector::from(&spec.labels);
        self.create_or_adopt(SERVERS, &spec.name, &selector, || async {
            let reply: CreateReply = self.call(ApiRequest::post("/servers", spec.body())).await?;
            let mut actions = vec![reply.action];
            actions.extend(reply.next_actions);
            Ok(Pending {
                value: reply.server,
                actions,
            })
        })
        .await
    }

    /// The server with this id, `None` when it does not exist.
    pub async fn get_server(&self, id: i64) -> Result<Option<Server>, Error> {
        match self
            .call::<ServerReply>(ApiRequest::get(format!("/servers/{id}")))
            .await
        {
            Ok(reply) => Ok(Some(reply.server)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every server matching the selector (all pages, one request per 50 servers).
    pub async fn list_servers(&self, selector: &Selector) -> Result<Vec<Server>, Error> {
        self.list_all(SERVERS.path, SERVERS.key, &ListFilter::selector(selector))
            .await
    }

    /// Every server of the project (all pages).
    pub async fn list_every_server(&self) -> Result<Vec<Server>, Error> {
        self.list_all(SERVERS.path, SERVERS.key, &ListFilter::all())
            .await
    }

    async fn server_action(
        &self,
        id: i64,
        action: &str,
        body: serde_json::Value,
    ) -> Result<Action, Error> {
        let request = ApiRequest::post(format!("/servers/{id}/actions/{action}"), body);
        Ok(self.call::<ActionReply>(request).await?.action)
    }

    /// Replaces the server's labels.
    pub async fn set_server_labels(&self, id: i64, labels: &Labels) -> Result<Server, Error> {
        let request = ApiRequest::new(http::Method::PUT, format!("/servers/{id}"))
            .body(json!({ "labels": labels }));
        Ok(self.call::<ServerReply>(request).await?.server)
    }

    /// Sets label `key` of `server` to `value` (`None` removes it), keeping its other labels;
    /// returns the server as updated, or as it is when the label already is so (no request).
    pub async fn set_server_label(
        &self,
        server: &Server,
        key: &str,
        value: Option<&str>,
    ) -> Result<Server, Error> {
        if server.labels.get(key).map(String::as_str) == value {
            return Ok(server.clone());
        }
        let mut labels = server.labels.clone();
        match value {
            Some(value) => labels.insert(key.to_owned(), value.to_owned()),
            None => labels.remove(key),
        };
        self.set_server_labels(server.id, &labels).await
    }

    /// Starts powering the server on.
    pub async fn poweron_server(&self, id: i64) -> Result<Action, Error> {
        self.server_action(id, "poweron", json!({})).await
    }

    /// Starts a graceful (ACPI) shutdown.
    pub async fn shutdown_server(&self, id: i64) -> Result<Action, Error> {
        self.server_action(id, "shutdown", json!({})).await
    }

    /// Starts a hard power-off.
    pub async fn poweroff_server(&self, id: i64) -> Result<Action, Error> {
        self.server_action(id, "poweroff", json!({})).await
    }

    /// Starts a snapshot of the server's disk with `labels`; the image is ready when the action
    /// has settled.
    pub async fn create_snapshot(
        &self,
        id: i64,
        description: &str,
        labels: &Labels,
    ) -> Result<Pending<Image>, Error> {
        let body = json!({"type": "snapshot", "description": description, "labels": labels});
        let request = ApiRequest::post(format!("/servers/{id}/actions/create_image"), body);
        let reply: ImageReply = self.call(request).await?;
        Ok(Pending {
            value: reply.image,
            actions: vec![reply.action],
        })
    }

    /// Deletes servers and waits (one batched wait) until every deletion, and with it every
    /// network and firewall detachment, has finished; servers already gone count as deleted, and a
    /// deletion whose action failed is checked and repeated while the server is still there.
    pub async fn delete_servers(&self, ids: &[i64]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        self.delete_confirmed(SERVERS, ids).await
    }
}
