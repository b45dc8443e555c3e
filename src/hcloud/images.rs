//! Images: Talos snapshots found by label selector and architecture, and their deletion.

use serde::Deserialize;

use super::catalog::Architecture;
use super::client::{ApiRequest, Client};
use super::error::Error;
use super::labels::{Labels, Selector};
use super::list::ListFilter;

/// An image as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Image {
    /// Id.
    pub id: i64,
    /// `system`, `snapshot`, `backup` or `app`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `available` or `creating` (`unavailable` for broken ones).
    pub status: String,
    /// Name (system images only).
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// `x86` or `arm`.
    pub architecture: String,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
}

impl Image {
    /// Whether servers can be created from it now.
    pub fn is_available(&self) -> bool {
        self.status == "available"
    }

    /// Its architecture, if known.
    pub fn architecture(&self) -> Option<Architecture> {
        parse_architecture(&self.architecture)
    }
}

/// Hetzner's architecture name (`x86`, `arm`) as the catalog's [`Architecture`].
pub fn parse_architecture(name: &str) -> Option<Architecture> {
    match name {
        "x86" => Some(Architecture::X86),
        "arm" => Some(Architecture::Arm),
        _ => None,
    }
}

#[derive(Deserialize)]
struct ImageReply {
    image: Image,
}

impl Client {
    /// Every snapshot with `architecture` matching the selector, newest first, in any status
    /// (callers decide whether a snapshot still `creating` is worth waiting for).
    pub async fn list_snapshots(
        &self,
        selector: &Selector,
        architecture: Architecture,
    ) -> Result<Vec<Image>, Error> {
        self.list_snapshots_matching(&selector.to_string(), architecture)
            .await
    }

    /// Like [`Client::list_snapshots`] with a label selector in Hetzner's full syntax
    /// (`k=v,k2!=v,k3 in (a,b)`), as users write it.
    pub async fn list_snapshots_matching(
        &self,
        label_selector: &str,
        architecture: Architecture,
    ) -> Result<Vec<Image>, Error> {
        let filter = ListFilter::all()
            .param("label_selector", label_selector)
            .param("type", "snapshot")
            .param("architecture", architecture.hcloud_name())
            .param("sort", "created:desc");
        self.list_all("/images", "images", &filter).await
    }

    /// The image with this id, `None` when it does not exist.
    pub async fn get_image(&self, id: i64) -> Result<Option<Image>, Error> {
        match self
            .call::<ImageReply>(ApiRequest::get(format!("/images/{id}")))
            .await
        {
            Ok(reply) => Ok(Some(reply.image)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes a snapshot; already gone counts as success.
    pub async fn delete_image(&self, id: i64) -> Result<(), Error> {
        let action = self.delete_tolerant(format!("/images/{id}")).await?;
        self.wait_for_actions(&format!("delete image {id}"), action.into_iter().collect())
            .await
    }
}
