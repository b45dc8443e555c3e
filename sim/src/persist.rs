//! `--state-file`: the world's objects as JSON, written atomically on shutdown and read on start.

use std::path::{Path, PathBuf};

use crate::world::Collections;

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Reading failed.
    #[error("cannot read state file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a saved world.
    #[error("state file {path} is not a saved hk8s-sim world")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// Writing failed.
    #[error("cannot write state file {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Loads a saved world; `None` when the file does not exist yet.
pub fn load(path: &Path) -> Result<Option<Collections>, PersistError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError::Read {
                path: path.into(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| PersistError::Parse {
            path: path.into(),
            source,
        })
}

/// Saves the world (write to a temporary file, then rename, so a crash never leaves half a file).
pub fn save(path: &Path, data: &Collections) -> Result<(), PersistError> {
    let write_err = |source| PersistError::Write {
        path: path.into(),
        source,
    };
    let json = serde_json::to_vec_pretty(data).map_err(|e| write_err(std::io::Error::other(e)))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json).map_err(write_err)?;
    std::fs::rename(&tmp, path).map_err(write_err)
}
