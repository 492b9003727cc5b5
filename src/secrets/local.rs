//! `LocalStore`: the embedded credential store, a 0600 TOML file on the bastion.
//!
//! Used when no Vault is configured. The file (format in `local_file`) is checked and
//! loaded at open, then re-checked on every lookup and reloaded when its size, mtime or
//! inode changed, so an operator's edit (or an atomic replace) takes effect without a
//! restart. A file that became group- or world-readable is refused, not served.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::credential::Credential;
use super::error::{Result, SecretsError};
use super::local_file::{check_permissions, parse};
use super::SecretStore;

/// What identifies one version of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Stamp {
    fn of(metadata: &std::fs::Metadata) -> Self {
        Self {
            dev: metadata.dev(),
            ino: metadata.ino(),
            len: metadata.len(),
            mtime: metadata.mtime(),
            mtime_nsec: metadata.mtime_nsec(),
        }
    }
}

struct Loaded {
    stamp: Stamp,
    credentials: Arc<BTreeMap<String, Credential>>,
}

/// Credentials from a local TOML file that only its owner can read.
pub struct LocalStore {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LocalStore {
    /// Opens and loads the file; fails if it is missing, too open, owned by someone
    /// else, or invalid.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let loaded = load(&path)?;
        Ok(Self {
            path,
            loaded: Mutex::new(loaded),
        })
    }

    /// The file this store reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current credentials, reloading the file first if it changed.
    fn current(&self) -> Result<Arc<BTreeMap<String, Credential>>> {
        let metadata = std::fs::metadata(&self.path).map_err(|source| SecretsError::Io {
            path: self.path.clone(),
            source,
        })?;
        check_permissions(&self.path, &metadata)?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.stamp != Stamp::of(&metadata) {
            *loaded = load(&self.path)?;
            tracing::info!(path = %self.path.display(), "local credential store reloaded");
        }
        Ok(loaded.credentials.clone())
    }
}

/// Reads, checks and parses the file. Permissions are checked on the open file itself,
/// so a file swapped in between check and read cannot slip through.
fn load(path: &Path) -> Result<Loaded> {
    use std::io::Read;
    let io = |source| SecretsError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    check_permissions(path, &metadata)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io)?;
    let credentials = parse(path, &text);
    zeroize::Zeroize::zeroize(&mut text);
    Ok(Loaded {
        stamp: Stamp::of(&metadata),
        credentials: Arc::new(credentials?),
    })
}

#[async_trait]
impl SecretStore for LocalStore {
    async fn credential(&self, reference: &str) -> Result<Credential> {
        self.current()?
            .get(reference)
            .cloned()
            .ok_or_else(|| SecretsError::NotFound {
                reference: reference.to_owned(),
            })
    }

    fn describe(&self) -> String {
        format!("local credential file {}", self.path.display())
    }
}
