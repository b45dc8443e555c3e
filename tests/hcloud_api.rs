//! The Hetzner Cloud client layer (`hk8s::hcloud`) against hk8s-sim, in-process: every object kind
//! created, waited for, listed by labels and deleted; idempotent ensures; batched action polling;
//! deadlines; retries under injected faults (the token test is `hcloud_secrets.rs`).

#[path = "hcloud_api/fixture.rs"]
mod fixture;
#[path = "hcloud_api/support.rs"]
mod support;

#[path = "hcloud_api/budget.rs"]
mod budget;
#[path = "hcloud_api/deadlines.rs"]
mod deadlines;
#[path = "hcloud_api/faults.rs"]
mod faults;
#[path = "hcloud_api/lifecycle.rs"]
mod lifecycle;
#[path = "hcloud_api/operations.rs"]
mod operations;
#[path = "hcloud_api/pricing.rs"]
mod pricing;
#[path = "hcloud_api/provision.rs"]
mod provision;
