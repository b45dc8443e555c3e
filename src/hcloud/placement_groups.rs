//! Spread placement groups (at most [`MAX_SERVERS_PER_GROUP`] servers each).

use serde::Deserialize;
use serde_json::json;

use super::actions::{Action, Pending};
use super::client::{ApiRequest, Client};
use super::ensure::{Family, Labelled};
use super::error::Error;
use super::labels::{Labels, Selector};
use super::list::ListFilter;

/// Hetzner's limit of servers in one spread placement group.
pub const MAX_SERVERS_PER_GROUP: usize = 10;

const PLACEMENT_GROUPS: Family = Family {
    kind: "placement group",
    path: "/placement_groups",
    key: "placement_groups",
    has_actions: false,
};

/// A placement group as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlacementGroup {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// Member server ids.
    #[serde(default)]
    pub servers: Vec<i64>,
}

impl Labelled for PlacementGroup {
    fn id(&self) -> i64 {
        self.id
    }
    fn labels(&self) -> &Labels {
        &self.labels
    }
}

#[derive(Deserialize)]
struct GroupReply {
    placement_group: PlacementGroup,
    #[serde(default)]
    action: Option<Action>,
}

impl Client {
    /// Ensures a spread placement group named `name` with `labels` exists (adopted when it carries
    /// them, refused with [`Error::NameTaken`] when not).
    pub async fn ensure_placement_group(
        &self,
        name: &str,
        labels: &Labels,
    ) -> Result<Pending<PlacementGroup>, Error> {
        self.ensure(PLACEMENT_GROUPS, name, &Selector::from(labels), || {
            self.post_placement_group(name, labels)
        })
        .await
    }

    /// Like [`ensure_placement_group`](Self::ensure_placement_group) for a group the caller's
    /// label-selector list did not find: created first, looked up only when the name is taken.
    pub async fn create_placement_group(
        &self,
        name: &str,
        labels: &Labels,
    ) -> Result<Pending<PlacementGroup>, Error> {
        self.create_or_adopt(PLACEMENT_GROUPS, name, &Selector::from(labels), || {
            self.post_placement_group(name, labels)
        })
        .await
    }

    async fn post_placement_group(
        &self,
        name: &str,
        labels: &Labels,
    ) -> Result<Pending<PlacementGroup>, Error> {
        let body = json!({"name": name, "type": "spread", "labels": labels});
        let reply: GroupReply = self
            .call(ApiRequest::post("/placement_groups", body))
            .await?;
        Ok(Pending {
            value: reply.placement_group,
            actions: reply.action.into_iter().collect(),
        })
    }

    /// Every placement group matching the selector.
    pub async fn list_placement_groups(
        &self,
        selector: &Selector,
    ) -> Result<Vec<PlacementGroup>, Error> {
        self.list_all(
            PLACEMENT_GROUPS.path,
            PLACEMENT_GROUPS.key,
            &ListFilter::selector(selector),
        )
        .await
    }

    /// Deletes the group (its servers must be gone); already gone counts as success.
    pub async fn delete_placement_group(&self, id: i64) -> Result<(), Error> {
        self.delete_confirmed(PLACEMENT_GROUPS, &[id]).await
    }
}
