//! Hetzner's own delete protection (`change_protection` actions) of servers, load balancers and
//! networks: a protected object is refused a `DELETE` with the `protected` error, whoever sends it.

use serde::Deserialize;
use serde_json::json;

use super::actions::Action;
use super::client::{ApiRequest, Client};
use super::error::Error;
use super::servers::Server;

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

impl Client {
    /// Turns delete protection of every object in `objects` (each with its current setting) to
    /// `want`, changing only those that differ, in one batched wait.
    ///
    /// # Errors
    /// The first Hetzner error.
    pub async fn set_delete_protection(
        &self,
        objects: &[(Protectable, bool)],
        want: bool,
    ) -> Result<(), Error> {
        let changing: Vec<Protectable> = objects
            .iter()
            .filter(|(_, now)| *now != want)
            .map(|(object, _)| *object)
            .collect();
        if changing.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = changing.iter().map(ToString::to_string).collect();
        tracing::info!(objects = %names.join(", "), protect = want, "changing Hetzner delete protection");
        let actions: Vec<Action> = futures::future::try_join_all(
            changing
                .iter()
                .map(|object| self.change_delete_protection(*object, want)),
        )
        .await?;
        let what = if want {
            "turn on delete protection"
        } else {
            "lift delete protection"
        };
        self.wait_for_actions(&format!("{what} of {}", names.join(", ")), actions)
            .await
    }

    /// Deletes servers the caller decided to remove, lifting their delete protection first.
    ///
    /// # Errors
    /// The Hetzner error of the protection change or the deletion.
    pub async fn delete_protected_servers(&self, servers: &[&Server]) -> Result<(), Error> {
        let objects: Vec<(Protectable, bool)> = servers
            .iter()
            .map(|s| (Protectable::Server(s.id), s.protection.delete))
            .collect();
        self.set_delete_protection(&objects, false).await?;
        let ids: Vec<i64> = servers.iter().map(|s| s.id).collect();
        match self.delete_servers(&ids).await {
            // Protected since they were listed (e.g. by hand): lift it and delete once more.
            Err(e) if e.code() == Some("protected") => {
                let all: Vec<(Protectable, bool)> = servers
                    .iter()
                    .map(|s| (Protectable::Server(s.id), true))
                    .collect();
                self.set_delete_protection(&all, false).await?;
                self.delete_servers(&ids).await
            }
            other => other,
        }
    }
}
