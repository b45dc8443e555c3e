//! Volumes: only what a cluster's destroy needs, since the CSI driver makes them (labelled with
//! the cluster through the hcloud-csi addon's `volumeExtraLabels`): list by label, detach,
//! delete.

use serde::Deserialize;
use serde_json::json;

use super::actions::Action;
use super::client::{ApiRequest, Client};
use super::ensure::Family;
use super::error::Error;
use super::labels::{Labels, Selector};
use super::list::ListFilter;

const VOLUMES: Family = Family {
    kind: "volume",
    path: "/volumes",
    key: "volumes",
    has_actions: true,
};

/// A volume as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Volume {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// The server it is attached to.
    #[serde(default)]
    pub server: Option<i64>,
}

#[derive(Deserialize)]
struct ActionReply {
    action: Action,
}

impl Client {
    /// Every volume matching the selector.
    pub async fn list_volumes(&self, selector: &Selector) -> Result<Vec<Volume>, Error> {
        self.list_all(VOLUMES.path, VOLUMES.key, &ListFilter::selector(selector))
            .await
    }

    /// Detaches the volumes that are attached and waits for it, then deletes them all (already
    /// gone counts as deleted).
    pub async fn delete_volumes(&self, volumes: &[Volume]) -> Result<(), Error> {
        let mut detaching = Vec::new();
        for volume in volumes.iter().filter(|v| v.server.is_some()) {
            let path = format!("/volumes/{}/actions/detach", volume.id);
            match self
                .call::<ActionReply>(ApiRequest::post(path, json!({})))
                .await
            {
                Ok(reply) => detaching.push(reply.action),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        if !detaching.is_empty() {
            let settled = self.settle_actions("detach volumes", detaching).await?;
            if !settled.failed.is_empty() {
                return Err(Error::ActionsFailed {
                    what: "detach volumes".into(),
                    failures: settled.failed,
                });
            }
        }
        let ids: Vec<i64> = volumes.iter().map(|v| v.id).collect();
        if ids.is_empty() {
            return Ok(());
        }
        self.delete_confirmed(VOLUMES, &ids).await
    }
}
