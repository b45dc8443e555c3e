//! One build per snapshot key across applies that run at once, and the cleaning of builds whose
//! apply was killed.
//!
//! The build server's name is the lock (Hetzner refuses a second server of that name). While a
//! build runs, its builder rewrites the server's [`HEARTBEAT_LABEL`] (Unix seconds) every
//! [`HEARTBEAT_EVERY`]; a build server (or key) whose heartbeat is older than [`STALE_AFTER`]
//! belongs to an apply that died, and the next apply that needs a snapshot deletes it. Clocks of
//! machines that apply at once are assumed to agree within a minute.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use crate::hcloud::labels::{self, Labels, Selector};
use crate::hcloud::rescue::SshKey;
use crate::hcloud::servers::Server;
use crate::hcloud::{Client, Error};

use super::BUILD_ROLE;

/// Label holding the last sign of life of a build (Unix seconds).
pub const HEARTBEAT_LABEL: &str = "hk8s.io/build-heartbeat";
/// How often a running build says it lives.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(20);
/// How old a heartbeat may be before its build counts as dead.
pub const STALE_AFTER: Duration = Duration::from_secs(90);

/// Now, in Unix seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether objects with these labels belong to a build that no longer runs (no heartbeat, or
/// one older than [`STALE_AFTER`]).
pub fn is_stale(labels: &Labels) -> bool {
    labels
        .get(HEARTBEAT_LABEL)
        .and_then(|v| v.parse::<u64>().ok())
        .is_none_or(|beat| now().saturating_sub(beat) > STALE_AFTER.as_secs())
}

/// Selects every build object of any key.
pub fn any_build() -> Selector {
    Selector::default().with(labels::ROLE, BUILD_ROLE)
}

/// Rewrites the server's heartbeat until `stop` is cancelled (a failed write is retried at the
/// next beat: one miss does not make the build stale).
pub fn keep_alive(client: Client, server: Server, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut labels = server.labels.clone();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(HEARTBEAT_EVERY) => {}
            }
            labels.insert(HEARTBEAT_LABEL.to_owned(), now().to_string());
            if let Err(e) = client.set_server_labels(server.id, &labels).await {
                tracing::debug!(server = %server.name, error = %e, "heartbeat not written");
            }
        }
    });
}

/// What [`sweep`] found.
#[derive(Debug, Default)]
pub struct Swept {
    /// Objects deleted.
    pub deleted: usize,
    /// Build servers whose builder lives.
    pub living: Vec<Server>,
}

impl Swept {
    /// The living build servers of the builds selected by `labels` (a key's build labels).
    pub fn living_of(&self, labels: &Labels) -> Vec<Server> {
        self.living
            .iter()
            .filter(|s| same_build(&s.labels, labels))
            .cloned()
            .collect()
    }
}

/// Deletes the build servers and keys of builds that died (any key): servers whose heartbeat is
/// stale, and keys that are stale and have no living server of their key.
///
/// # Errors
/// Hetzner errors.
pub async fn sweep(client: &Client) -> Result<Swept, Error> {
    let selector = any_build();
    let (servers, keys) = tokio::try_join!(
        client.list_servers(&selector),
        client.list_ssh_keys(&selector)
    )?;
    let dead: Vec<&Server> = servers.iter().filter(|s| is_stale(&s.labels)).collect();
    let living: Vec<&Server> = servers.iter().filter(|s| !is_stale(&s.labels)).collect();
    let dead_keys: Vec<&SshKey> = keys
        .iter()
        .filter(|k| is_stale(&k.labels) && !living.iter().any(|s| same_build(&s.labels, &k.labels)))
        .collect();
    for server in &dead {
        tracing::info!(server = %server.name, "deleting the server of a Talos snapshot build that stopped (its apply was interrupted)");
    }
    let ids: Vec<i64> = dead.iter().map(|s| s.id).collect();
    client.delete_servers(&ids).await?;
    for key in &dead_keys {
        client.delete_ssh_key(key.id).await?;
    }
    Ok(Swept {
        deleted: dead.len() + dead_keys.len(),
        living: living.into_iter().cloned().collect(),
    })
}

/// Whether two objects belong to builds of the same snapshot key.
fn same_build(a: &Labels, b: &Labels) -> bool {
    [labels::TALOS_VERSION, labels::SCHEMATIC, super::ARCH_LABEL]
        .iter()
        .all(|k| a.get(*k) == b.get(*k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(age: u64) -> Labels {
        [(HEARTBEAT_LABEL.to_owned(), (now() - age).to_string())]
            .into_iter()
            .collect()
    }

    #[test]
    fn heartbeats_go_stale_after_the_limit() {
        assert!(!is_stale(&beat(0)));
        assert!(!is_stale(&beat(STALE_AFTER.as_secs() - 5)));
        assert!(is_stale(&beat(STALE_AFTER.as_secs() + 5)));
        assert!(is_stale(&Labels::new()), "no heartbeat at all");
        let garbled = [(HEARTBEAT_LABEL.to_owned(), "soon".to_owned())]
            .into_iter()
            .collect();
        assert!(is_stale(&garbled));
    }
}
