//! Golden files: one full configuration per contract (control plane with flannel, worker with
//! Cilium) from the fixture bundle. Regenerate with `HK8S_UPDATE_GOLDEN=1`.

use std::path::PathBuf;

use super::{cluster, fixture_secrets, node};
use crate::talos::config::{Cni, MachineRole, generate};
use crate::talos::version::VersionContract;

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/talos/testdata/golden")
        .join(name)
}

#[test]
fn generated_configs_match_golden_files() {
    let secrets = fixture_secrets();
    let update = std::env::var_os("HK8S_UPDATE_GOLDEN").is_some();
    for contract in VersionContract::ALL {
        for (role, cni) in [
            (MachineRole::ControlPlane, Cni::Flannel),
            (MachineRole::Worker, Cni::Cilium),
        ] {
            let name = format!(
                "{contract}-{}-{}.yaml",
                role.talos_type(),
                format!("{cni:?}").to_lowercase()
            );
            let rendered = generate(&secrets, &cluster(contract, cni), &node(role))
                .unwrap()
                .to_yaml()
                .unwrap();
            let path = golden_path(&name);
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &rendered).unwrap();
                continue;
            }
            let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
                panic!("missing {}; run with HK8S_UPDATE_GOLDEN=1", path.display())
            });
            assert_eq!(rendered, expected, "{name} differs from its golden file");
        }
    }
}
