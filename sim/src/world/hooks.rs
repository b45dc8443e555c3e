//! Hooks through which later parts of the sim (Talos nodes, Kubernetes) feed back into the
//! Hetzner API's answers without the API depending on them: whether a target's port is served
//! (load balancer health) and extra sections of `/_sim/state`.

use std::sync::Arc;

type Probe = dyn Fn(i64, u16) -> Option<bool> + Send + Sync;
type Sections = dyn Fn() -> Vec<(String, serde_json::Value)> + Send + Sync;

/// Answers "does server `id` serve port `p`?"; `None` (or no probe) = not modelled.
#[derive(Clone, Default)]
pub struct PortProbe(Option<Arc<Probe>>);

impl PortProbe {
    /// A probe backed by a function.
    pub fn new(f: impl Fn(i64, u16) -> Option<bool> + Send + Sync + 'static) -> Self {
        PortProbe(Some(Arc::new(f)))
    }

    /// What the probe says (`None` when not modelled).
    pub fn check(&self, server: i64, port: u16) -> Option<bool> {
        self.0.as_ref().and_then(|f| f(server, port))
    }
}

impl std::fmt::Debug for PortProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "PortProbe(set)"
        } else {
            "PortProbe(none)"
        })
    }
}

/// Extra top-level sections of `/_sim/state`.
#[derive(Clone, Default)]
pub struct StateSections(Option<Arc<Sections>>);

impl StateSections {
    /// Sections from a function.
    pub fn new(f: impl Fn() -> Vec<(String, serde_json::Value)> + Send + Sync + 'static) -> Self {
        StateSections(Some(Arc::new(f)))
    }

    /// The sections.
    pub fn get(&self) -> Vec<(String, serde_json::Value)> {
        self.0.as_ref().map(|f| f()).unwrap_or_default()
    }
}

impl std::fmt::Debug for StateSections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateSections")
    }
}
