//! A create's secrets bundle, kept on the local disk until Terraform has recorded it.
//!
//! Terraform writes a resource's state only when its create returns. A create killed after the
//! cluster's servers were marked complete, just before Terraform wrote the state, would leave a
//! running cluster whose secrets exist nowhere: the next create would have to refuse it ("A
//! cluster with this name already runs") and only deleting the servers by hand would get past
//! that. So a create writes the bundle it generates to
//! `.terraform/hk8s/<cluster>.secrets.yaml` (mode 0600) in Terraform's working directory before
//! any server exists, the next create of that name reuses it (and so adopts the servers), and the
//! first refresh or update that finds the same bundle in the state deletes the file, as does a
//! destroy. The file holds what the local state file holds, for the seconds between a create
//! and the next plan; `.terraform/` is the directory Terraform's own docs tell users to keep out
//! of version control. Writing is best effort: a working directory that is not writable only
//! loses this recovery, never the apply.

use std::path::{Path, PathBuf};

/// Where the journal of the working directory lives.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// The journal of Terraform's working directory (the provider's current directory).
    pub fn in_working_dir() -> Journal {
        Journal::at(Path::new("."))
    }

    /// The journal under `base` (a test's temporary directory).
    pub fn at(base: &Path) -> Journal {
        Journal {
            dir: base.join(".terraform").join("hk8s"),
        }
    }

    /// The file of cluster `name`; `None` for a name that is not a plain DNS label (validation
    /// refuses those before any apply, so this is only a guard against path tricks).
    fn file(&self, name: &str) -> Option<PathBuf> {
        let plain = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        plain.then(|| self.dir.join(format!("{name}.secrets.yaml")))
    }

    /// The bundle an earlier create of `name` generated and Terraform never recorded.
    pub fn load(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.file(name)?).ok()
    }

    /// Keeps `yaml` as the bundle of the create of `name` under way.
    pub fn save(&self, name: &str, yaml: &str) {
        let Some(file) = self.file(name) else {
            return;
        };
        if let Err(e) = write_private(&self.dir, &file, yaml) {
            tracing::warn!(
                cluster = name,
                error = %e,
                "cannot keep the new cluster's secrets in .terraform/hk8s until Terraform records \
                 them; a create killed before it returns will not be able to adopt its servers"
            );
        }
    }

    /// Deletes the file of `name` once `recorded` (the bundle in Terraform's state) is the one it
    /// holds.
    pub fn forget_if_recorded(&self, name: &str, recorded: &str) {
        if self.load(name).as_deref() == Some(recorded) {
            self.forget(name);
        }
    }

    /// Deletes the file of `name`, if any.
    pub fn forget(&self, name: &str) {
        if let Some(file) = self.file(name) {
            let _ = std::fs::remove_file(file);
        }
    }
}

fn write_private(dir: &Path, file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    let partial = file.with_extension("yaml.partial");
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)?;
    out.write_all(text.as_bytes())?;
    out.sync_all()?;
    std::fs::rename(partial, file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_bundle_is_kept_privately_until_the_state_records_it() {
        let base = tempfile::tempdir().unwrap();
        let journal = Journal::at(base.path());
        assert_eq!(journal.load("prod"), None);
        journal.save("prod", "bundle: one\n");
        assert_eq!(journal.load("prod").as_deref(), Some("bundle: one\n"));
        let file = base.path().join(".terraform/hk8s/prod.secrets.yaml");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        journal.forget_if_recorded("prod", "bundle: another\n");
        assert!(journal.load("prod").is_some(), "another bundle in state");
        journal.forget_if_recorded("prod", "bundle: one\n");
        assert_eq!(journal.load("prod"), None);
    }

    #[test]
    fn names_that_are_not_dns_labels_are_never_paths() {
        let base = tempfile::tempdir().unwrap();
        let journal = Journal::at(base.path());
        for name in ["../escape", "a/b", "", "UPPER"] {
            journal.save(name, "x");
            assert_eq!(journal.load(name), None, "{name}");
        }
        assert!(!base.path().join(".terraform").exists());
    }
}
