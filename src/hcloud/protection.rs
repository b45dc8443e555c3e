//! Hetzner's own delete protection (`change_protection` actions) of servers, load balancers and
//! networks: a protected object is refused a `DELETE` with the `protected` error, whoever sends it.

use serde::Deserialize;
use serde_json::json;

use super::actions::Action;
use super::client::{ApiRequest, Client};
use super::error::Error;

/// The `protection` object of an API reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Protection {
    /// Delete protection.
    #[serde(default)]
    pub delete: bool,
}

/// An object whose delete protection can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protectable {
    /// A server (its rebuild protection follows: the API takes both flags together).
    Server(i64),
    /// A load balancer.
    LoadBalancer(i64),
    /// A network.
    Network(i64),
}

impl std::fmt::Display for Protectable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Server(id) => write!(f, "server {id}"),
            Self::LoadBalancer(id) => write!(f, "load balancer {id}"),
            Self::Network(id) => write!(f, "network {id}"),
        }
    }
}

#[derive(Deserialize)]
struct ActionReply {
    action: Action,
}

impl Client {
    /// Starts turning delete protection of `object` on or off.
    pub async fn change_delete_protection(
        &self,
        object: Protectable,
        delete: bool,
    ) -> Result<Action, Error> {
        let (path, body) = match object {
            // Hetzner refuses different values for the two flags of a server.
            Protectable::Server(id) => (
                format!("/servers/{id}/actions/change_protection"),
                json!({ "delete": delete, "rebuild": delete }),
            ),
            Protectable::LoadBalancer(id) => (
                format!("/load_balancers/{id}/actions/change_protection"),
                json!({ "delete": delete }),
            ),
            Protectable::Network(id) => (
                format!("/networks/{id}/actions/change_protection"),
                json!({ "delete": delete }),
            ),
        };
        Ok(self
            .call::<ActionReply>(ApiRequest::post(path, body))
            .await?
            .action)
    }
}
