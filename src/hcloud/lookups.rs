//! Live lookups of server types and locations (the static [`super::catalog`] is what plans check;
//! these confirm what the project can use right now, e.g. deprecations).

use serde::Deserialize;

use super::catalog::Architecture;
use super::client::Client;
use super::error::Error;
use super::images::parse_architecture;
use super::list::ListFilter;

/// A server type as the API reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServerTypeInfo {
    /// Id.
    pub id: i64,
    /// Name, e.g. `cax21`.
    pub name: String,
    /// `x86` or `arm`.
    pub architecture: String,
    /// vCPUs.
    pub cores: u32,
    /// Memory in GB.
    pub memory: f64,
    /// Disk in GB.
    pub disk: f64,
    /// Whether it is deprecated.
    #[serde(default)]
    pub deprecated: Option<bool>,
    /// The deprecation of the type everywhere, if announced.
    #[serde(default)]
    pub deprecation: Option<Deprecation>,
    /// Where it can be ordered.
    #[serde(default)]
    pub locations: Vec<ServerTypeLocation>,
}

/// A location a server type is offered in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerTypeLocation {
    /// Location name.
    pub name: String,
    /// Whether it can be ordered there now (absent in older API versions: assumed so).
    #[serde(default)]
    pub available: Option<bool>,
    /// The deprecation of the type in this location, if announced.
    #[serde(default)]
    pub deprecation: Option<Deprecation>,
}

/// A deprecation announcement (`announced`, `unavailable_after`, RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Deprecation {
    /// When it was announced.
    #[serde(default)]
    pub announced: String,
    /// After when the type can no longer be ordered.
    #[serde(default)]
    pub unavailable_after: String,
}

/// Why a server type may not be orderable in a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capacity {
    /// The type is not offered there at all.
    NotOffered,
    /// Offered, but Hetzner has none available now.
    Unavailable,
    /// Deprecated there: orderable until the date.
    Deprecated {
        /// `unavailable_after`.
        unavailable_after: String,
    },
}

impl ServerTypeInfo {
    /// Its architecture, if known.
    pub fn architecture(&self) -> Option<Architecture> {
        parse_architecture(&self.architecture)
    }

    /// What may stop an order of this type in `location` (`None`: nothing known).
    pub fn capacity_in(&self, location: &str) -> Option<Capacity> {
        if self.locations.is_empty() {
            return self.deprecation.as_ref().map(|d| Capacity::Deprecated {
                unavailable_after: d.unavailable_after.clone(),
            });
        }
        let Some(entry) = self.locations.iter().find(|l| l.name == location) else {
            return Some(Capacity::NotOffered);
        };
        if entry.available == Some(false) {
            return Some(Capacity::Unavailable);
        }
        entry
            .deprecation
            .as_ref()
            .or(self.deprecation.as_ref())
            .map(|d| Capacity::Deprecated {
                unavailable_after: d.unavailable_after.clone(),
            })
    }

    /// Whether it can be ordered in `location`; `true` when the API does not list locations.
    pub fn offered_in(&self, location: &str) -> bool {
        self.locations.is_empty() || self.locations.iter().any(|l| l.name == location)
    }
}

/// A location as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LocationInfo {
    /// Id.
    pub id: i64,
    /// Name, e.g. `fsn1`.
    pub name: String,
    /// Network zone, e.g. `eu-central`.
    pub network_zone: String,
}

impl Client {
    /// The server type called `name`, `None` when the API does not know it.
    pub async fn server_type(&self, name: &str) -> Result<Option<ServerTypeInfo>, Error> {
        let mut found: Vec<ServerTypeInfo> = self
            .list_all("/server_types", "server_types", &ListFilter::name(name))
            .await?;
        Ok(found.pop())
    }

    /// Every location.
    pub async fn locations(&self) -> Result<Vec<LocationInfo>, Error> {
        self.list_all("/locations", "locations", &ListFilter::all())
            .await
    }
}
