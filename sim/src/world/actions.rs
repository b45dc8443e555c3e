//! Actions: Hetzner's asynchronous operations. An action is created `running`, and when its deadline
//! (from the latency model) has passed, the next request settles it to `success` or `error` and
//! applies its effect on the world.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{World, WorldEvent};

/// What a finished action does to the world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// Nothing beyond finishing (the change was applied when the request was accepted).
    None,
    /// Sets a server's status.
    ServerStatus {
        /// Server id.
        server: i64,
        /// Status after success.
        on_success: String,
        /// Status after failure.
        on_error: String,
    },
    /// Makes a snapshot `available` (or removes it when the action fails).
    ImageReady {
        /// Image id.
        image: i64,
    },
    /// Makes a volume `available` (or removes it when the action fails, as a failed
    /// `create_volume` leaves nothing behind).
    VolumeReady {
        /// Volume id.
        volume: i64,
    },
}

/// A stored action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Action {
    /// Id.
    pub id: i64,
    /// Hetzner command name, e.g. `create_server`.
    pub command: String,
    /// `running`, `success` or `error`.
    pub status: String,
    /// 0–100.
    pub progress: i32,
    /// Start time.
    pub started: String,
    /// End time.
    pub finished: Option<String>,
    /// `(code, message)` when it failed.
    pub error: Option<(String, String)>,
    /// `(id, type)` of the resources it touches.
    pub resources: Vec<(i64, String)>,
    /// Clock time (since sim start) at which it started.
    #[serde(skip)]
    pub started_at: Duration,
    /// Clock time at which it finishes (zero after a restore: finishes on the next request).
    #[serde(skip)]
    pub due: Duration,
    /// Whether the fault model decided it fails.
    pub fails: bool,
    /// What happens when it finishes.
    pub effect: Effect,
}

impl Action {
    /// Whether it is still running.
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }

    /// Whether it touches resource `(kind, id)`.
    pub fn touches(&self, kind: &str, id: i64) -> bool {
        self.resources
            .iter()
            .any(|(rid, rkind)| *rid == id && rkind == kind)
    }

    /// The Hetzner wire shape.
    pub fn to_json(&self, now: Duration) -> Value {
        let progress = if self.is_running() && self.due > self.started_at {
            let total = (self.due - self.started_at).as_secs_f64();
            let done = now.saturating_sub(self.started_at).as_secs_f64();
            ((done / total) * 100.0).clamp(0.0, 99.0) as i32
        } else {
            self.progress
        };
        json!({
            "id": self.id,
            "command": self.command,
            "status": self.status,
            "progress": progress,
            "started": self.started,
            "finished": self.finished,
            "resources": self.resources.iter().map(|(id, kind)| json!({"id": id, "type": kind})).collect::<Vec<_>>(),
            "error": self.error.as_ref().map(|(code, message)| json!({"code": code, "message": message})),
        })
    }
}

impl World {
    /// Creates a running action; it finishes `duration(command) + after` from now, where `after`
    /// lets chained actions (create then start) finish in order.
    pub fn create_action(
        &mut self,
        command: &str,
        resources: &[(i64, &str)],
        effect: Effect,
        after: Duration,
    ) -> i64 {
        let id = self.next_id();
        let now = self.clock.elapsed();
        let fails = self.faults.fail_action();
        let action = Action {
            id,
            command: command.to_string(),
            status: "running".into(),
            progress: 0,
            started: self.clock.timestamp(),
            finished: None,
            error: None,
            resources: resources
                .iter()
                .map(|(id, kind)| (*id, kind.to_string()))
                .collect(),
            started_at: now,
            due: now + after + self.latency.action_duration(command),
            fails,
            effect,
        };
        self.data.actions.insert(id, action);
        self.running.insert(id);
        id
    }

    /// Time left until an action finishes (for chaining actions after it); zero if unknown.
    pub fn action_remaining(&self, id: i64) -> Duration {
        let now = self.clock.elapsed();
        self.data
            .actions
            .get(&id)
            .map_or(Duration::ZERO, |a| a.due.saturating_sub(now))
    }

    /// Creates an action that is already finished (used for deletes that the API completes at once).
    pub fn finished_action(&mut self, command: &str, resources: &[(i64, &str)]) -> i64 {
        let id = self.create_action(command, resources, Effect::None, Duration::ZERO);
        self.finish_action(id);
        id
    }

    /// Whether a running action locks `(kind, id)`: only an action's first resource is locked
    /// (attaching a server to a network locks the server, not the network), as on Hetzner.
    pub fn has_running_action(&self, kind: &str, id: i64) -> bool {
        self.running.iter().any(|aid| {
            self.data.actions.get(aid).is_some_and(|a| {
                a.resources
                    .first()
                    .is_some_and(|(rid, k)| *rid == id && k == kind)
            })
        })
    }

    /// Settles every running action whose deadline has passed, in creation order.
    pub fn settle_actions(&mut self) {
        let now = self.clock.elapsed();
        let due: Vec<i64> = self
            .running
            .iter()
            .copied()
            .filter(|id| self.data.actions.get(id).is_none_or(|a| a.due <= now))
            .collect();
        for id in due {
            self.finish_action(id);
        }
    }

    /// Finishes an action now, applying its effect.
    pub fn finish_action(&mut self, id: i64) {
        self.running.remove(&id);
        let timestamp = self.clock.timestamp();
        let Some(action) = self.data.actions.get_mut(&id) else {
            return;
        };
        if !action.is_running() {
            return;
        }
        let success = !action.fails;
        action.status = if success { "success" } else { "error" }.into();
        action.progress = 100;
        action.finished = Some(timestamp);
        if !success {
            action.error = Some(("action_failed".into(), "Action failed".into()));
        }
        let effect = action.effect.clone();
        self.apply_effect(effect, success);
    }

    fn apply_effect(&mut self, effect: Effect, success: bool) {
        match effect {
            Effect::None => {}
            Effect::ServerStatus {
                server,
                on_success,
                on_error,
            } => {
                if let Some(s) = self.data.servers.get_mut(&server) {
                    s.status = if success { on_success } else { on_error };
                    let event = WorldEvent::ServerStatus {
                        id: s.id,
                        ipv4: s.ipv4,
                        status: s.status.clone(),
                    };
                    self.emit(event);
                }
            }
            Effect::ImageReady { image } => {
                if success {
                    if let Some(img) = self.data.images.get_mut(&image) {
                        img.status = "available".into();
                    }
                } else {
                    self.data.images.remove(&image);
                }
            }
            Effect::VolumeReady { volume } => {
                if success {
                    if let Some(v) = self.data.volumes.get_mut(&volume) {
                        v.status = "available".into();
                    }
                } else {
                    self.data.volumes.remove(&volume);
                }
            }
        }
    }
}
