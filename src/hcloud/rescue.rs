//! What writing an image onto a server's disk needs of the API: SSH keys, a server created
//! powered off, and its rescue system.

use serde::Deserialize;
use serde_json::json;

use super::actions::{Action, Pending};
use super::client::{ApiRequest, Client};
use super::error::Error;
use super::labels::{Labels, Selector};
use super::list::ListFilter;
use super::servers::{CreateReply, Server};

/// An SSH key as the API reports it (the public half only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SshKey {
    /// Id.
    pub id: i64,
    /// Name (unique per project).
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// When it was made (RFC 3339).
    pub created: String,
}

/// A server to create powered off, reachable later only through its rescue system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RescueServerSpec {
    /// Name (unique per project).
    pub name: String,
    /// Server type name.
    pub server_type: String,
    /// Image to create it from (a system image; its disk is overwritten later).
    pub image: String,
    /// Location name.
    pub location: String,
    /// Labels.
    pub labels: Labels,
    /// SSH key installed at creation (so that Hetzner mails no root password).
    pub ssh_key: i64,
}

#[derive(Deserialize)]
struct SshKeyReply {
    ssh_key: SshKey,
}

#[derive(Deserialize)]
struct RescueReply {
    action: Action,
}

impl Client {
    /// Uploads a public key (OpenSSH format) under `name`.
    pub async fn create_ssh_key(
        &self,
        name: &str,
        public_key: &str,
        labels: &Labels,
    ) -> Result<SshKey, Error> {
        let body = json!({"name": name, "public_key": public_key, "labels": labels});
        let reply: SshKeyReply = self.call(ApiRequest::post("/ssh_keys", body)).await?;
        Ok(reply.ssh_key)
    }

    /// Every SSH key matching the selector.
    pub async fn list_ssh_keys(&self, selector: &Selector) -> Result<Vec<SshKey>, Error> {
        self.list_all("/ssh_keys", "ssh_keys", &ListFilter::selector(selector))
            .await
    }

    /// Deletes an SSH key; already gone counts as success.
    pub async fn delete_ssh_key(&self, id: i64) -> Result<(), Error> {
        self.delete_tolerant(format!("/ssh_keys/{id}"))
            .await
            .map(drop)
    }

    /// Creates a server that stays off (`start_after_create: false`) with a public IPv4 and
    /// the key. A taken name is Hetzner's `uniqueness_error`, returned as is: callers use the
    /// name as a lock.
    pub async fn create_rescue_server(
        &self,
        spec: &RescueServerSpec,
    ) -> Result<Pending<Server>, Error> {
        let body = json!({
            "name": spec.name,
            "server_type": spec.server_type,
            "image": spec.image,
            "location": spec.location,
            "labels": spec.labels,
            "ssh_keys": [spec.ssh_key],
            "start_after_create": false,
            "public_net": {"enable_ipv4": true, "enable_ipv6": false},
        });
        let reply: CreateReply = self.call(ApiRequest::post("/servers", body)).await?;
        let mut actions = vec![reply.action];
        actions.extend(reply.next_actions);
        Ok(Pending {
            value: reply.server,
            actions,
        })
    }

    /// Boots the server into the `linux64` rescue system at its next start, with `ssh_key`
    /// authorised for root. The root password the API returns is not kept.
    pub async fn enable_rescue(&self, server: i64, ssh_key: i64) -> Result<Action, Error> {
        let body = json!({"type": "linux64", "ssh_keys": [ssh_key]});
        let request = ApiRequest::post(format!("/servers/{server}/actions/enable_rescue"), body);
        Ok(self.call::<RescueReply>(request).await?.action)
    }
}
