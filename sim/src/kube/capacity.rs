//! What a Node reports about its machine: the architecture of its Hetzner server type (`amd64` /
//! `arm64`, as `kubernetes.io/arch` and `nodeInfo.architecture`), and `status.capacity` /
//! `status.allocatable` computed the way kubelet computes them on a Talos node.
//!
//! Capacity, from the server type:
//! - `cpu`: the type's cores;
//! - `memory`: the type's memory, its GB taken as GiB (what the guest sees, before the kernel's
//!   own small share, which the sim does not model);
//! - `ephemeral-storage`: the EPHEMERAL partition, i.e. the disk (GB taken as GiB) minus Talos's
//!   system partitions ([`TALOS_SYSTEM_PARTITIONS_MIB`]: EFI 100 MiB, BIOS 1 MiB, BOOT 1000 MiB,
//!   META 1 MiB, STATE 100 MiB);
//! - `pods`: 110 (kubelet's `maxPods` default);
//! - `hugepages-*`: 0 for each page size the architecture's kernel offers.
//!
//! Allocatable = capacity − `systemReserved` − hard eviction thresholds, with Talos's defaults
//! (siderolabs/talos `pkg/machinery/constants`: `systemReserved` cpu 50m, memory 512Mi on control
//! planes / 384Mi on workers, ephemeral-storage 256Mi; no `kubeReserved`) and kubelet's default
//! `evictionHard` (`memory.available<100Mi`, `nodefs.available<10%`).
//!
//! Quantities are written in Kubernetes' canonical form, as the API server serializes them
//! (`4Gi`, `3612Mi`, `1950m`, and plain bytes when no binary suffix divides the value).

use serde_json::{Map, Value, json};

use crate::catalog::{Arch, ServerType};
use crate::talos::config::Role;

/// MiB of the disk Talos keeps for its own partitions (everything but EPHEMERAL).
pub const TALOS_SYSTEM_PARTITIONS_MIB: u64 = 100 + 1 + 1000 + 1 + 100;
/// Talos's `systemReserved` cpu, in millicores.
pub const SYSTEM_RESERVED_CPU_MILLI: u64 = 50;
/// Talos's `systemReserved` memory on control planes, MiB.
pub const SYSTEM_RESERVED_MEMORY_CONTROL_PLANE_MIB: u64 = 512;
/// Talos's `systemReserved` memory on workers, MiB.
pub const SYSTEM_RESERVED_MEMORY_WORKER_MIB: u64 = 384;
/// Talos's `systemReserved` ephemeral-storage, MiB.
pub const SYSTEM_RESERVED_EPHEMERAL_MIB: u64 = 256;
/// kubelet's default `evictionHard` `memory.available`, MiB.
pub const EVICTION_MEMORY_MIB: u64 = 100;
/// kubelet's default `evictionHard` `nodefs.available`, percent of the filesystem.
pub const EVICTION_NODEFS_PERCENT: u64 = 10;
/// kubelet's default `maxPods`.
pub const MAX_PODS: u64 = 110;

const KI: u64 = 1024;
const MI: u64 = 1024 * KI;
const GI: u64 = 1024 * MI;

/// The Kubernetes name of a Hetzner architecture (`GOARCH`).
pub fn kube_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::X86 => "amd64",
        Arch::Arm => "arm64",
    }
}

/// Huge page sizes the kernel offers: x86-64 has 2 MiB and 1 GiB pages; arm64 with 4 KiB base
/// pages (Talos's kernel) has 64 KiB, 2 MiB, 32 MiB and 1 GiB.
fn hugepage_sizes(arch: Arch) -> &'static [&'static str] {
    match arch {
        Arch::X86 => &["1Gi", "2Mi"],
        Arch::Arm => &["1Gi", "2Mi", "32Mi", "64Ki"],
    }
}

/// A byte count in canonical binary-SI form: the largest binary suffix that divides it exactly,
/// else plain bytes.
pub fn binary_quantity(bytes: u64) -> String {
    for (factor, suffix) in [
        (1u64 << 60, "Ei"),
        (1 << 50, "Pi"),
        (1 << 40, "Ti"),
        (GI, "Gi"),
        (MI, "Mi"),
        (KI, "Ki"),
    ] {
        if bytes >= factor && bytes.is_multiple_of(factor) {
            return format!("{}{suffix}", bytes / factor);
        }
    }
    bytes.to_string()
}

/// Millicores in canonical decimal form (`2`, `1950m`).
pub fn cpu_quantity(milli: u64) -> String {
    if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

/// A GB figure of the catalog (always whole or half GB) in bytes, GB taken as GiB.
fn gib_bytes(gb: f64) -> u64 {
    // The catalog's figures are small positive numbers; rounding to MiB keeps them exact.
    (gb.max(0.0) * 1024.0).round() as u64 * MI
}

/// The node's resources as kubelet reports them: `(capacity, allocatable)`.
pub fn resources(server_type: &ServerType, role: Role) -> (Value, Value) {
    let cpu_milli = u64::try_from(server_type.cores).unwrap_or(0) * 1000;
    let memory = gib_bytes(server_type.memory);
    let ephemeral = gib_bytes(server_type.disk).saturating_sub(TALOS_SYSTEM_PARTITIONS_MIB * MI);
    let reserved_memory = match role {
        Role::Controlplane => SYSTEM_RESERVED_MEMORY_CONTROL_PLANE_MIB,
        Role::Worker => SYSTEM_RESERVED_MEMORY_WORKER_MIB,
    } * MI;
    // kubelet turns the percentage into a quantity by truncating `capacity × 0.1`.
    let nodefs_threshold =
        ephemeral / 100 * EVICTION_NODEFS_PERCENT + ephemeral % 100 * EVICTION_NODEFS_PERCENT / 100;
    let mut capacity = Map::new();
    let mut allocatable = Map::new();
    capacity.insert("cpu".into(), json!(cpu_quantity(cpu_milli)));
    allocatable.insert(
        "cpu".into(),
        json!(cpu_quantity(
            cpu_milli.saturating_sub(SYSTEM_RESERVED_CPU_MILLI)
        )),
    );
    capacity.insert("memory".into(), json!(binary_quantity(memory)));
    allocatable.insert(
        "memory".into(),
        json!(binary_quantity(
            memory.saturating_sub(reserved_memory + EVICTION_MEMORY_MIB * MI)
        )),
    );
    capacity.insert(
        "ephemeral-storage".into(),
        json!(binary_quantity(ephemeral)),
    );
    allocatable.insert(
        "ephemeral-storage".into(),
        json!(binary_quantity(ephemeral.saturating_sub(
            SYSTEM_RESERVED_EPHEMERAL_MIB * MI + nodefs_threshold
        ))),
    );
    capacity.insert("pods".into(), json!(MAX_PODS.to_string()));
    allocatable.insert("pods".into(), json!(MAX_PODS.to_string()));
    for size in hugepage_sizes(server_type.arch) {
        capacity.insert(format!("hugepages-{size}"), json!("0"));
        allocatable.insert(format!("hugepages-{size}"), json!("0"));
    }
    (Value::Object(capacity), Value::Object(allocatable))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::server_type;

    #[test]
    fn quantities_are_canonical() {
        assert_eq!(binary_quantity(4 * GI), "4Gi");
        assert_eq!(binary_quantity(3612 * MI), "3612Mi");
        assert_eq!(binary_quantity(1536), "1536");
        assert_eq!(binary_quantity(2048), "2Ki");
        assert_eq!(binary_quantity(0), "0");
        assert_eq!(cpu_quantity(2000), "2");
        assert_eq!(cpu_quantity(1950), "1950m");
    }

    #[test]
    fn a_cx23_worker_reserves_what_talos_and_kubelet_reserve() {
        let cx23 = server_type("cx23").unwrap();
        let (capacity, allocatable) = resources(cx23, Role::Worker);
        let ephemeral = 40 * GI - 1202 * MI;
        assert_eq!(
            capacity,
            json!({"cpu": "2", "memory": "4Gi", "ephemeral-storage": "39758Mi", "pods": "110",
                   "hugepages-1Gi": "0", "hugepages-2Mi": "0"})
        );
        assert_eq!(
            allocatable,
            json!({"cpu": "1950m", "memory": "3612Mi",
                   "ephemeral-storage": (ephemeral - 256 * MI - ephemeral / 10).to_string(),
                   "pods": "110", "hugepages-1Gi": "0", "hugepages-2Mi": "0"})
        );
        let (_, cp) = resources(cx23, Role::Controlplane);
        assert_eq!(cp["memory"], "3484Mi", "control planes reserve 512Mi");
    }

    #[test]
    fn arm_types_are_arm64_with_their_page_sizes() {
        let cax21 = server_type("cax21").unwrap();
        assert_eq!(kube_arch(cax21.arch), "arm64");
        assert_eq!(kube_arch(server_type("ccx13").unwrap().arch), "amd64");
        let (capacity, _) = resources(cax21, Role::Worker);
        assert_eq!(
            (capacity["cpu"].as_str(), capacity["memory"].as_str()),
            (Some("4"), Some("8Gi"))
        );
        assert_eq!(capacity["hugepages-64Ki"], "0");
        assert_eq!(capacity["hugepages-32Mi"], "0");
    }
}
