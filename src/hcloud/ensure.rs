//! The "ensure" pattern shared by every object family: look the object up by name; adopt it when
//! it carries the cluster's labels (together with its still-running actions), refuse it when it
//! does not; otherwise create it, and if the create races with an earlier attempt
//! (`uniqueness_error`, e.g. after a retried 5xx), adopt what that attempt made.
//!
//! Objects made by the dozen (servers, a pool's placement groups) are created first instead
//! ([`Client::create_or_adopt`]): their caller has just listed what exists by label, so the name
//! is almost always free, and Hetzner's `uniqueness_error` leads to the same adopt-or-refuse
//! answer when it is not. That saves one lookup per object, which would otherwise be most of a
//! large pool's requests.

use std::future::Future;

use super::actions::{Action, Pending};
use super::client::{ApiRequest, Client};
use super::error::Error;
use super::labels::{Labels, Selector};
use super::list::ListFilter;
use super::retry::StepRetry;

/// An object with an id, a name and labels.
pub trait Labelled {
    /// Object id.
    fn id(&self) -> i64;
    /// Object labels.
    fn labels(&self) -> &Labels;
}

/// Where a family lives in the API.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Family {
    /// Kind for errors (`server`).
    pub(crate) kind: &'static str,
    /// Collection path (`/servers`).
    pub(crate) path: &'static str,
    /// Array key in list replies (`servers`).
    pub(crate) key: &'static str,
    /// Whether the family has `/{path}/{id}/actions`.
    pub(crate) has_actions: bool,
}

#[derive(serde::Deserialize)]
struct ActionList {
    actions: Vec<Action>,
}

impl Client {
    /// The object of `family` named `name`, if any.
    pub(crate) async fn find_by_name<T>(
        &self,
        family: Family,
        name: &str,
    ) -> Result<Option<T>, Error>
    where
        T: serde::de::DeserializeOwned,
    {
        let mut found: Vec<T> = self
            .list_all(family.path, family.key, &ListFilter::name(name))
            .await?;
        Ok(found.pop())
    }

    /// Ensures an object named `name` labelled with `selector` exists: see the module docs.
    pub(crate) async fn ensure<T, F, Fut>(
        &self,
        family: Family,
        name: &str,
        selector: &Selector,
        create: F,
    ) -> Result<Pending<T>, Error>
    where
        T: Labelled + serde::de::DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Pending<T>, Error>>,
    {
        if let Some(existing) = self.find_by_name::<T>(family, name).await? {
            return self.adopt(family, name, selector, existing).await;
        }
        self.create_or_adopt(family, name, selector, create).await
    }

    /// Creates an object named `name` labelled with `selector`, for callers that have just listed
    /// the objects of that selector and not found it; a name that is taken after all (an earlier
    /// attempt whose reply was lost, or someone else's object) is adopted or refused as
    /// [`ensure`](Self::ensure) would.
    pub(crate) async fn create_or_adopt<T, F, Fut>(
        &self,
        family: Family,
        name: &str,
        selector: &Selector,
        create: F,
    ) -> Result<Pending<T>, Error>
    where
        T: Labelled + serde::de::DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Pending<T>, Error>>,
    {
        match create().await {
            Err(e) if e.is_uniqueness() => match self.find_by_name::<T>(family, name).await? {
                Some(existing) => self.adopt(family, name, selector, existing).await,
                None => Err(e),
            },
            other => other,
        }
    }

    async fn adopt<T: Labelled>(
        &self,
        family: Family,
        name: &str,
        selector: &Selector,
        existing: T,
    ) -> Result<Pending<T>, Error> {
        if !selector.matches(existing.labels()) {
            return Err(Error::NameTaken {
                kind: family.kind,
                name: name.to_string(),
                id: existing.id(),
                expected: selector.to_string(),
            });
        }
        let actions = if family.has_actions {
            let request = ApiRequest::get(format!("{}/{}/actions", family.path, existing.id()))
                .query("status", "running")
                .query("per_page", 50);
            self.call::<ActionList>(request).await?.actions
        } else {
            Vec::new()
        };
        Ok(Pending {
            value: existing,
            actions,
        })
    }

    /// Whether the object of `family` with `id` still exists.
    pub(crate) async fn exists(&self, family: Family, id: i64) -> Result<bool, Error> {
        match self
            .call::<serde_json::Value>(ApiRequest::get(format!("{}/{id}", family.path)))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes the objects of `family` and waits for every deletion (one batched wait); objects
    /// already gone count as deleted. A deletion whose action failed is checked rather than
    /// trusted either way: an object that is gone is deleted, one still there is deleted again,
    /// at most [`StepRetry::attempts`] times with backoff, then [`Error::StepFailed`].
    pub(crate) async fn delete_confirmed(&self, family: Family, ids: &[i64]) -> Result<(), Error> {
        let retry = StepRetry::for_poll_interval(self.poll_interval());
        let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let what = format!("delete {} {}", family.key, names.join(", "));
        let mut left = ids.to_vec();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut actions = Vec::new();
            for id in &left {
                actions.extend(
                    self.delete_tolerant(format!("{}/{id}", family.path))
                        .await?,
                );
            }
            let settled = self.settle_actions(&what, actions).await?;
            if settled.failed.is_empty() {
                return Ok(());
            }
            let mut still = Vec::new();
            for id in &left {
                if self.exists(family, *id).await? {
                    still.push(*id);
                }
            }
            if still.is_empty() {
                return Ok(());
            }
            let last = Error::ActionsFailed {
                what: what.clone(),
                failures: settled.failed,
            };
            retry.again(self.deadline(), &what, attempt, last).await?;
            left = still;
        }
    }

    /// Deletes `path`, counting `not_found` as success; returns the action when the API gives one.
    pub(crate) async fn delete_tolerant(&self, path: String) -> Result<Option<Action>, Error> {
        #[derive(serde::Deserialize)]
        struct Reply {
            action: Option<Action>,
        }
        match self.call_optional::<Reply>(ApiRequest::delete(path)).await {
            Ok(reply) => Ok(reply.and_then(|r| r.action)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}
