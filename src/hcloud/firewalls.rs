//! Firewalls: create, replace rules, apply to / remove from servers and label selectors, delete.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::actions::{Action, Pending};
use super::client::{ApiRequest, Client};
use super::ensure::{Family, Labelled};
use super::error::Error;
use super::labels::{Labels, Selector};
use super::list::ListFilter;
use super::retry::StepRetry;

const FIREWALLS: Family = Family {
    kind: "firewall",
    path: "/firewalls",
    key: "firewalls",
    has_actions: true,
};

/// Traffic direction of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Inbound (filtered by `source_ips`).
    In,
    /// Outbound (filtered by `destination_ips`).
    Out,
}

/// Protocol of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (needs a port).
    Tcp,
    /// UDP (needs a port).
    Udp,
    /// ICMP.
    Icmp,
    /// ESP.
    Esp,
    /// GRE.
    Gre,
}

/// One firewall rule, in the API's shape (used both to send and to compare with what is live).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FirewallRule {
    /// Direction.
    pub direction: Direction,
    /// Protocol.
    pub protocol: Protocol,
    /// Port or range (`6443`, `30000-32767`, `any`), for TCP/UDP only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Allowed sources (inbound).
    #[serde(default)]
    pub source_ips: Vec<String>,
    /// Allowed destinations (outbound).
    #[serde(default)]
    pub destination_ips: Vec<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What a firewall applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FirewallTarget {
    /// One server.
    Server(i64),
    /// Every server matching a label selector (including future ones).
    LabelSelector(String),
}

impl FirewallTarget {
    /// Every server matching `selector`.
    pub fn selector(selector: &Selector) -> Self {
        FirewallTarget::LabelSelector(selector.to_string())
    }

    fn body(&self) -> serde_json::Value {
        match self {
            FirewallTarget::Server(id) => json!({"type": "server", "server": {"id": id}}),
            FirewallTarget::LabelSelector(s) => {
                json!({"type": "label_selector", "label_selector": {"selector": s}})
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct IdRef {
    id: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct SelectorRef {
    selector: String,
}

#[derive(Debug, Clone, Deserialize)]
struct WireTarget {
    #[serde(rename = "type")]
    kind: String,
    server: Option<IdRef>,
    label_selector: Option<SelectorRef>,
}

impl<'de> Deserialize<'de> for FirewallTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = WireTarget::deserialize(d)?;
        match (wire.kind.as_str(), wire.server, wire.label_selector) {
            ("server", Some(s), _) => Ok(FirewallTarget::Server(s.id)),
            ("label_selector", _, Some(s)) => Ok(FirewallTarget::LabelSelector(s.selector)),
            (kind, _, _) => Err(serde::de::Error::custom(format!(
                "unsupported firewall target type {kind:?}"
            ))),
        }
    }
}

/// A firewall as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Firewall {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// Rules.
    #[serde(default)]
    pub rules: Vec<FirewallRule>,
    /// Targets.
    #[serde(default)]
    pub applied_to: Vec<FirewallTarget>,
}

impl Labelled for Firewall {
    fn id(&self) -> i64 {
        self.id
    }
    fn labels(&self) -> &Labels {
        &self.labels
    }
}

/// A firewall to ensure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallSpec {
    /// Name.
    pub name: String,
    /// Labels (an existing firewall must carry all of them).
    pub labels: Labels,
    /// Rules at creation (an adopted firewall keeps its rules: compare and [`Client::set_firewall_rules`]).
    pub rules: Vec<FirewallRule>,
    /// Targets at creation (an adopted firewall gets the missing ones applied).
    pub apply_to: Vec<FirewallTarget>,
}

#[derive(Deserialize)]
struct FirewallReply {
    firewall: Firewall,
}

#[derive(Deserialize)]
struct CreateReply {
    firewall: Firewall,
    #[serde(default)]
    actions: Vec<Action>,
}

#[derive(Deserialize)]
struct ActionsReply {
    #[serde(default)]
    actions: Vec<Action>,
}

impl Client {
    /// Ensures the firewall exists and applies to the spec's targets (see [`FirewallSpec`]).
    pub async fn ensure_firewall(&self, spec: &FirewallSpec) -> Result<Pending<Firewall>, Error> {
        let selector = Selector::from(&spec.labels);
        let mut pending = self
            .ensure(FIREWALLS, &spec.name, &selector, || async {
                let body = json!({
                    "name": spec.name,
                    "labels": spec.labels,
                    "rules": spec.rules,
                    "apply_to": spec.apply_to.iter().map(FirewallTarget::body).collect::<Vec<_>>(),
                });
                let reply: CreateReply = self.call(ApiRequest::post("/firewalls", body)).await?;
                Ok(Pending {
                    value: reply.firewall,
                    actions: reply.actions,
                })
            })
            .await?;
        let missing: Vec<FirewallTarget> = spec
            .apply_to
            .iter()
            .filter(|t| !pending.value.applied_to.contains(t))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let actions =
                self.post_targets(pending.value.id, "apply_to_resources", "apply_to", &missing);
            pending.actions.extend(actions.await?);
            pending.value.applied_to.extend(missing);
        }
        Ok(pending)
    }

    /// The firewall with this id, `None` when it does not exist.
    pub async fn get_firewall(&self, id: i64) -> Result<Option<Firewall>, Error> {
        match self
            .call::<FirewallReply>(ApiRequest::get(format!("/firewalls/{id}")))
            .await
        {
            Ok(reply) => Ok(Some(reply.firewall)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every firewall matching the selector.
    pub async fn list_firewalls(&self, selector: &Selector) -> Result<Vec<Firewall>, Error> {
        self.list_all(
            FIREWALLS.path,
            FIREWALLS.key,
            &ListFilter::selector(selector),
        )
        .await
    }

    /// Replaces all rules; returns the actions (rule update plus re-application to servers).
    pub async fn set_firewall_rules(
        &self,
        id: i64,
        rules: &[FirewallRule],
    ) -> Result<Vec<Action>, Error> {
        let request = ApiRequest::post(
            format!("/firewalls/{id}/actions/set_rules"),
            json!({ "rules": rules }),
        );
        Ok(self.call::<ActionsReply>(request).await?.actions)
    }

    /// Applies the firewall to the targets it does not already apply to (idempotent).
    pub async fn apply_firewall(
        &self,
        id: i64,
        targets: &[FirewallTarget],
    ) -> Result<Vec<Action>, Error> {
        let current = self.require_firewall(id).await?;
        let missing: Vec<FirewallTarget> = targets
            .iter()
            .filter(|t| !current.applied_to.contains(t))
            .cloned()
            .collect();
        self.post_targets(id, "apply_to_resources", "apply_to", &missing)
            .await
    }

    /// Removes the firewall from those of the targets it applies to (idempotent).
    pub async fn remove_firewall(
        &self,
        id: i64,
        targets: &[FirewallTarget],
    ) -> Result<Vec<Action>, Error> {
        let current = self.require_firewall(id).await?;
        let present: Vec<FirewallTarget> = targets
            .iter()
            .filter(|t| current.applied_to.contains(t))
            .cloned()
            .collect();
        self.post_targets(id, "remove_from_resources", "remove_from", &present)
            .await
    }

    /// Removes the firewall from everything, waits for that, and deletes it; already gone counts
    /// as success.
    pub async fn delete_firewall(&self, id: i64) -> Result<(), Error> {
        let retry = StepRetry::for_poll_interval(self.poll_interval());
        let what = format!("remove firewall {id} from its targets");
        let mut attempt = 0;
        // A removal whose action failed is checked, not trusted: what is still applied is removed
        // again (a firewall still in use cannot be deleted).
        loop {
            let Some(firewall) = self.get_firewall(id).await? else {
                return Ok(());
            };
            if firewall.applied_to.is_empty() {
                break;
            }
            attempt += 1;
            let actions = self
                .post_targets(
                    id,
                    "remove_from_resources",
                    "remove_from",
                    &firewall.applied_to,
                )
                .await?;
            let settled = self.settle_actions(&what, actions).await?;
            if settled.failed.is_empty() {
                break;
            }
            let last = Error::ActionsFailed {
                what: what.clone(),
                failures: settled.failed,
            };
            retry.again(self.deadline(), &what, attempt, last).await?;
        }
        self.delete_confirmed(FIREWALLS, &[id]).await
    }

    async fn require_firewall(&self, id: i64) -> Result<Firewall, Error> {
        Ok(self
            .call::<FirewallReply>(ApiRequest::get(format!("/firewalls/{id}")))
            .await?
            .firewall)
    }

    async fn post_targets(
        &self,
        id: i64,
        action: &str,
        field: &str,
        targets: &[FirewallTarget],
    ) -> Result<Vec<Action>, Error> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({ field: targets.iter().map(FirewallTarget::body).collect::<Vec<_>>() });
        let request = ApiRequest::post(format!("/firewalls/{id}/actions/{action}"), body);
        Ok(self.call::<ActionsReply>(request).await?.actions)
    }
}
