//! Creating servers and seeing them running, through what Hetzner really does within one
//! operation:
//!
//! - a server whose `create_server` or `start_server` action failed is deleted and created again
//!   (same name, same configuration); a server being powered on whose `start_server` failed is
//!   powered on again;
//! - a location that refuses a server for lack of capacity (`resource_unavailable`, e.g. "server
//!   location disabled", answered by `POST /servers` with 412, or as the action's error) is left
//!   for the next placement the caller allows, and every later server of the same call skips it;
//! - each server's step is tried at most [`StepRetry::attempts`] times, with backoff in between; a
//!   step that keeps failing fails the call with [`Error::StepFailed`] naming it and the last
//!   Hetzner error.
//!
//! All actions of a round, including actions the caller wants settled at the same time
//! ([`Provision::alongside`], e.g. a load balancer's), are awaited in one batched wait. Knows
//! nothing of Terraform: the caller gets what happened ([`Provisioned`]) and turns the fallbacks
//! into warnings and the failed `alongside` actions into its own retries.

use std::collections::BTreeMap;

use super::actions::{Action, Settled};
use super::client::Client;
use super::error::{ActionFailure, Error, UNAVAILABLE};
use super::retry::StepRetry;
use super::servers::{Server, ServerSpec, ServerStatus};

/// One place a server may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Location name, e.g. `fsn1`.
    pub location: String,
    /// Spread placement group in that location, if any.
    pub placement_group: Option<i64>,
}

/// A server to create.
#[derive(Debug, Clone)]
pub struct ServerRequest {
    /// The server; its `location` and `placement_group` are replaced by the placement tried.
    pub spec: ServerSpec,
    /// Where it may go, preferred first. The next one is tried only when a location refuses the
    /// server for capacity; placements must be in one network zone when the server joins a
    /// network.
    pub placements: Vec<Placement>,
}

/// What [`Client::provision`] is asked to do.
#[derive(Debug, Default)]
pub struct Provision {
    /// What the batch is, for progress logs and errors (`the control-plane servers`).
    pub what: String,
    /// Servers to create and see running.
    pub create: Vec<ServerRequest>,
    /// Existing servers that are off, to power on and see running.
    pub power_on: Vec<Server>,
    /// Other actions to settle in the same wait; their failures are returned, not retried.
    pub alongside: Vec<Action>,
}

/// A server created somewhere else than its preferred placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// Server name.
    pub server: String,
    /// The preferred location, which refused it.
    pub from: String,
    /// Where it was created.
    pub to: String,
    /// Hetzner's refusal (`resource_unavailable: server location disabled`).
    pub reason: String,
}

/// What [`Client::provision`] did.
#[derive(Debug, Default)]
pub struct Provisioned {
    /// The servers created, in request order, as the API returned them at creation (their
    /// actions have settled since; list them again for the current status).
    pub created: Vec<Server>,
    /// Servers that went to a later placement because an earlier location had no capacity.
    pub fallbacks: Vec<Fallback>,
    /// Every server action failure absorbed by creating or powering on a server again.
    pub retried: Vec<ActionFailure>,
    /// How the `alongside` actions ended.
    pub alongside: Settled,
}

/// A server to create, and how far it got.
struct Slot {
    request: ServerRequest,
    /// Index of the placement being tried.
    placement: usize,
    /// The server once the create was accepted.
    server: Option<Server>,
    /// Failed tries so far.
    failures: u32,
}

impl Slot {
    fn name(&self) -> &str {
        &self.request.spec.name
    }

    fn location(&self) -> &str {
        self.request
            .placements
            .get(self.placement)
            .map_or(self.request.spec.location.as_str(), |p| p.location.as_str())
    }
}

/// A server to power on, and how often that failed.
struct PowerSlot {
    server: Server,
    failures: u32,
    done: bool,
}

/// Who started an action.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Create(usize),
    Power(usize),
}

/// How one create went: the placement index and server with its actions, or why not, plus the
/// locations found refusing on the way.
struct Placed {
    result: Result<(usize, Server, Vec<Action>), Error>,
    refusals: Vec<(String, String)>,
}

fn refusal_text(error: &Error) -> String {
    match error {
        Error::Api { code, message, .. } => format!("{code}: {message}"),
        other => other.to_string(),
    }
}

impl Client {
    /// Creates and powers on servers until every one is running: see the module documentation.
    ///
    /// # Errors
    /// [`Error::StepFailed`] when one server's create or power-on failed every try,
    /// [`Error::NoLocation`] when every placement of a server refused it, any request error that
    /// is not retryable, and the deadline.
    pub async fn provision(
        &self,
        work: Provision,
        retry: &StepRetry,
    ) -> Result<Provisioned, Error> {
        let mut out = Provisioned::default();
        // Locations that refused during this call, with Hetzner's words: later servers skip them.
        let mut refused: BTreeMap<String, String> = BTreeMap::new();
        let mut slots: Vec<Slot> = work
            .create
            .into_iter()
            .map(|request| Slot {
                request,
                placement: 0,
                server: None,
                failures: 0,
            })
            .collect();
        let mut power: Vec<PowerSlot> = work
            .power_on
            .into_iter()
            .map(|server| PowerSlot {
                server,
                failures: 0,
                done: false,
            })
            .collect();
        let mut alongside = work.alongside;
        let mut round: u32 = 0;
        loop {
            let mut owners: BTreeMap<i64, Owner> = BTreeMap::new();
            let mut actions = std::mem::take(&mut alongside);

            let todo: Vec<usize> = (0..slots.len())
                .filter(|i| slots[*i].server.is_none())
                .collect();
            let placed = futures::future::join_all(
                todo.iter()
                    .map(|i| self.place(&slots[*i].request, slots[*i].placement, &refused)),
            )
            .await;
            for (i, placed) in todo.into_iter().zip(placed) {
                for (location, reason) in placed.refusals {
                    tracing::warn!(%location, %reason, server = slots[i].name(), "location refused a server");
                    refused.entry(location).or_insert(reason);
                }
                let (placement, server, started) = placed.result?;
                let slot = &mut slots[i];
                slot.placement = placement;
                for action in &started {
                    owners.insert(action.id, Owner::Create(i));
                }
                actions.extend(started);
                slot.server = Some(server);
            }
            for (i, p) in power.iter().enumerate().filter(|(_, p)| !p.done) {
                let action = self.poweron_server(p.server.id).await?;
                owners.insert(action.id, Owner::Power(i));
                actions.push(action);
            }

            let settled = self.settle_actions(&work.what, actions).await?;
            let mut failed: BTreeMap<usize, Vec<ActionFailure>> = BTreeMap::new();
            let mut power_failed: BTreeMap<usize, Vec<ActionFailure>> = BTreeMap::new();
            for failure in settled.failed {
                match owners.get(&failure.id) {
                    Some(Owner::Create(i)) => failed.entry(*i).or_default().push(failure),
                    Some(Owner::Power(i)) => power_failed.entry(*i).or_default().push(failure),
                    None => out.alongside.failed.push(failure),
                }
            }
            out.alongside.succeeded.extend(
                settled
                    .succeeded
                    .into_iter()
                    .filter(|a| !owners.contains_key(&a.id)),
            );
            for (i, p) in power.iter_mut().enumerate() {
                if !power_failed.contains_key(&i) {
                    p.done = true;
                }
            }

            let mut to_delete: Vec<i64> = Vec::new();
            for (i, failures) in failed {
                let slot = &mut slots[i];
                let Some(server) = slot.server.take() else {
                    continue;
                };
                if let Some(unavailable) = failures.iter().find(|f| f.code == UNAVAILABLE) {
                    // The action, not the request, said there is no capacity: the location
                    // refused, which is not the server's failure.
                    let location = slot.location().to_owned();
                    tracing::warn!(%location, server = slot.name(), error = %unavailable, "location refused a server");
                    refused.entry(location).or_insert_with(|| {
                        format!("{}: {}", unavailable.code, unavailable.message)
                    });
                    slot.placement += 1;
                    to_delete.push(server.id);
                    continue;
                }
                slot.failures += 1;
                let what = format!("create server {} in {}", slot.name(), slot.location());
                if slot.failures >= retry.attempts {
                    return Err(Error::StepFailed {
                        what: what.clone(),
                        attempts: slot.failures,
                        last: Box::new(Error::ActionsFailed { what, failures }),
                    });
                }
                tracing::warn!(
                    server = slot.name(),
                    attempt = slot.failures,
                    failures = %failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
                    "a server action failed: deleting the server and creating it again"
                );
                out.retried.extend(failures);
                to_delete.push(server.id);
            }
            for (i, failures) in power_failed {
                let p = &mut power[i];
                p.failures += 1;
                let what = format!("power on server {}", p.server.name);
                if p.failures >= retry.attempts {
                    return Err(Error::StepFailed {
                        what: what.clone(),
                        attempts: p.failures,
                        last: Box::new(Error::ActionsFailed { what, failures }),
                    });
                }
                tracing::warn!(server = %p.server.name, attempt = p.failures, "powering on a server failed: trying again");
                out.retried.extend(failures);
            }

            let pending_power = power.iter().any(|p| !p.done);
            if to_delete.is_empty() && !pending_power {
                break;
            }
            if !to_delete.is_empty() {
                self.delete_servers(&to_delete).await?;
            }
            round += 1;
            if !retry.pause(self.deadline(), round).await {
                return Err(Error::Cancelled {
                    what: format!("waiting to retry {}", work.what),
                });
            }
            // A failed start may still have left the server running (or another start did).
            for p in power.iter_mut().filter(|p| !p.done) {
                match self.get_server(p.server.id).await? {
                    Some(server) if server.status == ServerStatus::Running => p.done = true,
                    Some(server) => p.server = server,
                    None => {
                        // Deleted meanwhile (by someone else): nothing to power on; the caller
                        // lists the servers again and sees it missing.
                        tracing::warn!(server = %p.server.name, "a server being powered on was deleted");
                        p.done = true;
                    }
                }
            }
        }

        for slot in slots {
            let preferred = slot.request.placements.first().map(|p| p.location.clone());
            let Some(server) = slot.server else {
                continue;
            };
            // Only a refusal makes a fallback: a server adopted where an earlier run put it is not.
            if let Some(from) = preferred
                && from != server.location.name
                && let Some(reason) = refused.get(&from)
            {
                out.fallbacks.push(Fallback {
                    server: server.name.clone(),
                    reason: reason.clone(),
                    from,
                    to: server.location.name.clone(),
                });
            }
            out.created.push(server);
        }
        Ok(out)
    }

    /// Creates the server at the first placement from `start` on that takes it, skipping the
    /// locations already known to refuse.
    async fn place(
        &self,
        request: &ServerRequest,
        start: usize,
        refused: &BTreeMap<String, String>,
    ) -> Placed {
        let mut refusals = Vec::new();
        let mut tried = Vec::new();
        for (index, placement) in request.placements.iter().enumerate().skip(start) {
            if let Some(reason) = refused.get(&placement.location) {
                tried.push(format!("{}: {reason}", placement.location));
                continue;
            }
            let spec = ServerSpec {
                location: placement.location.clone(),
                placement_group: placement.placement_group,
                ..request.spec.clone()
            };
            match self.ensure_server(&spec).await {
                Ok(pending) => {
                    return Placed {
                        result: Ok((index, pending.value, pending.actions)),
                        refusals,
                    };
                }
                Err(error) if error.is_unavailable() => {
                    let reason = refusal_text(&error);
                    tried.push(format!("{}: {reason}", placement.location));
                    refusals.push((placement.location.clone(), reason));
                }
                Err(error) => {
                    return Placed {
                        result: Err(error),
                        refusals,
                    };
                }
            }
        }
        Placed {
            result: Err(Error::NoLocation {
                server: request.spec.name.clone(),
                refusals: tried,
            }),
            refusals,
        }
    }
}
