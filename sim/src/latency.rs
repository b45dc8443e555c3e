//! How long actions take: `instant` (done on the next request) or `realistic` (durations modelled on
//! Hetzner, see the table in the sim's README), both multiplied by `--time-scale`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The latency profile chosen with `--latency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LatencyMode {
    /// Every action finishes before the next request is answered.
    Instant,
    /// Actions take the durations of [`realistic_duration`].
    Realistic,
}

/// Latency profile plus time scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// The profile.
    pub mode: LatencyMode,
    /// Factor applied to every duration (0.1 = ten times faster than Hetzner).
    pub time_scale: f64,
}

impl Latency {
    /// How long an action with this Hetzner `command` runs.
    pub fn action_duration(&self, command: &str) -> Duration {
        match self.mode {
            LatencyMode::Instant => Duration::ZERO,
            LatencyMode::Realistic => realistic_duration(command).mul_f64(self.time_scale.max(0.0)),
        }
    }
}

/// Nominal durations of Hetzner actions, as observed on the real API (rounded).
pub fn realistic_duration(command: &str) -> Duration {
    let secs = match command {
        "create_server" => 12.0,
        "start_server" => 8.0,
        "delete_server" => 5.0,
        "stop_server" => 3.0,
        "shutdown_server" => 10.0,
        "reboot_server" => 8.0,
        "reset_server" => 5.0,
        "rebuild_server" => 25.0,
        "change_server_type" => 30.0,
        "enable_rescue" | "disable_rescue" => 2.0,
        "create_image" => 45.0,
        "attach_to_network" | "detach_from_network" => 3.0,
        "add_to_placement_group" | "remove_from_placement_group" => 1.0,
        "add_subnet" | "delete_subnet" | "add_route" | "delete_route" | "change_ip_range" => 2.0,
        "set_firewall_rules" => 2.0,
        "apply_firewall" | "remove_firewall" => 3.0,
        "create_load_balancer" => 15.0,
        "delete_load_balancer" => 3.0,
        "add_service" | "update_service" | "delete_service" => 3.0,
        "add_target" | "remove_target" => 2.0,
        "attach_load_balancer_to_network" => 5.0,
        "detach_load_balancer_from_network" => 3.0,
        "change_load_balancer_type" => 10.0,
        "change_algorithm" => 1.0,
        "create_volume" => 5.0,
        "attach_volume" | "detach_volume" => 3.0,
        "resize_volume" => 3.0,
        // Talos nodes (part 2): boot to apid, services ready for bootstrap, reboot, and a reset
        // without reboot (drain, wipe, power off).
        "talos_boot" => 30.0,
        "talos_services" => 10.0,
        "talos_reboot" => 40.0,
        "talos_reset" => 10.0,
        // Kubernetes: a new pod is bound and running; a helm install/delete job runs.
        "pod_schedule" => 2.0,
        "helm_job" => 8.0,
        _ => 1.0,
    };
    Duration::from_secs_f64(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_is_zero_and_realistic_scales() {
        let instant = Latency {
            mode: LatencyMode::Instant,
            time_scale: 1.0,
        };
        assert_eq!(instant.action_duration("create_server"), Duration::ZERO);
        let fast = Latency {
            mode: LatencyMode::Realistic,
            time_scale: 0.5,
        };
        assert_eq!(
            fast.action_duration("create_server"),
            Duration::from_secs(6)
        );
    }
}
