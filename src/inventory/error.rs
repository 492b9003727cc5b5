//! Errors raised while reading and validating the device inventory.

use std::path::PathBuf;

/// Everything that can go wrong loading an inventory file.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The inventory file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The inventory file is malformed or fails validation.
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Invalid {
        /// The file that failed.
        path: PathBuf,
        /// 1-based line of the offending key, when known.
        line: Option<usize>,
        /// What is wrong, naming the device and key where possible.
        reason: String,
    },
}

/// Result alias for the inventory module.
pub type Result<T, E = InventoryError> = std::result::Result<T, E>;
