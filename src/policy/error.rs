//! Errors raised while loading the policy model, the policy rules or the inventory.

use std::path::PathBuf;

/// Everything that can go wrong building a policy engine.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A policy file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A policy or model file is malformed; `line` points at the offending line.
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Invalid {
        /// The file that failed.
        path: PathBuf,
        /// 1-based line number, when the problem is tied to one line.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// The inventory could not be (re)loaded.
    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),
}

impl PolicyError {
    /// Shorthand for an [`PolicyError::Invalid`] tied to a line.
    pub(crate) fn at(path: &std::path::Path, line: usize, reason: impl Into<String>) -> Self {
        PolicyError::Invalid {
            path: path.to_path_buf(),
            line: Some(line),
            reason: reason.into(),
        }
    }
}

/// Result alias for the policy module.
pub type Result<T, E = PolicyError> = std::result::Result<T, E>;
