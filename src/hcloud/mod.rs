//! Hetzner Cloud: the static catalog, address-plan and naming rules that plans check before any
//! API call, and the API client the resources drive (knows nothing of Terraform).
//!
//! Client layout: [`client`] sends every request (auth, timeouts, error envelope, retries from
//! [`retry`], accounting); [`list`] pages; [`actions`] is the one batched action waiter; [`labels`]
//! builds the labels and selectors that find a cluster's objects; one module per API family holds
//! wire types and idempotent `ensure_*`/`delete_*` operations; [`provision`] creates servers and
//! sees them running through failed actions and locations without capacity; [`pricing`] reads
//! the price list and prices servers, load balancers and IPs per location. Errors are [`Error`].

pub mod actions;
pub mod budget;
pub mod catalog;
pub mod cidr;
pub mod client;
mod ensure;
pub mod error;
pub mod firewalls;
pub mod images;
pub mod labels;
pub mod list;
pub mod load_balancers;
pub mod lookups;
pub mod names;
pub mod networks;
pub mod placement_groups;
pub mod pricing;
pub mod protection;
pub mod provision;
pub mod rescue;
pub mod retry;
pub mod servers;
pub mod volumes;

pub use actions::{Action, Pending, Settled};
pub use client::{Client, ClientConfig, Token};
pub use ensure::Labelled;
pub use error::Error;
pub use retry::{Deadline, RetryPolicy, StepRetry};
