//! Policy: who may do what on which device, decided by a casbin enforcer over
//! `policies/model.conf` and `policies/policy.csv`.
//!
//! * Subjects are the user (`alice`) and the roles from the certificate (`role:netops`),
//!   plus roles granted to either by static `g` lines in the CSV. All of them are
//!   evaluated in one casbin request, so deny-overrides holds across roles.
//! * Objects are device names and the pseudo-object `bastion`. Inventory labels become
//!   resource roles (`site:ams1`, `kind:ssh`) through `g2` links loaded from the
//!   inventory, and a rule object may be `*`, a device, a resource role, or a conjunction
//!   such as `site:ams1 & type:switch`.
//! * Actions are the closed set [`Action`] or `*`; effects are `allow` and `deny`, and
//!   any matching deny wins. `file.upload` and `file.download` may carry a path prefix
//!   (`file.download:/flash/`); each file is decided on its own normalised path.
//!
//! [`PolicyEngine`] is cheap to clone and swaps whole snapshots on reload, so a broken
//! policy file never replaces the last good one.

mod action;
mod decision;
mod error;
mod model;
mod paths;
mod reloader;
mod rules;
mod snapshot;
#[cfg(test)]
mod tests;

pub use action::{Action, UnknownAction};
pub use decision::Decision;
pub use error::{PolicyError, Result};
pub use paths::normalise as normalise_path;
pub use snapshot::{MODEL_FILE, POLICY_FILE};

use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::inventory::Inventory;
use snapshot::Snapshot;

/// The bastion's authorization engine; clones share the same current policy.
#[derive(Clone)]
pub struct PolicyEngine {
    current: Arc<RwLock<Arc<Snapshot>>>,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("devices", &self.snapshot().inventory().len())
            .finish_non_exhaustive()
    }
}

impl PolicyEngine {
    /// Loads `dir/model.conf` and `dir/policy.csv` over `inventory`.
    pub async fn load(dir: &Path, inventory: &Inventory) -> Result<PolicyEngine> {
        let snapshot = Snapshot::load(dir, Arc::new(inventory.clone())).await?;
        Ok(PolicyEngine {
            current: Arc::new(RwLock::new(Arc::new(snapshot))),
        })
    }

    /// Decides whether `user`, holding the certificate `roles` (`netops` or
    /// `role:netops`), may perform `action` on `object` (a device name or `bastion`).
    ///
    /// Fails closed: unknown devices, malformed names and evaluation errors are denials
    /// whose `reason` says why.
    pub async fn decide(
        &self,
        user: &str,
        roles: &[String],
        object: &str,
        action: Action,
    ) -> Decision {
        self.snapshot().decide(user, roles, object, action)
    }

    /// Decides whether `user` holding `roles` may perform the file `action`
    /// (`file.upload`, `file.download`) on the file `path` of the device `object`; `path`
    /// must be normalised ([`normalise_path`]). Rules without a path cover every path;
    /// a matching deny wins.
    pub async fn decide_path(
        &self,
        user: &str,
        roles: &[String],
        object: &str,
        action: Action,
        path: &str,
    ) -> Decision {
        self.snapshot()
            .decide_path(user, roles, object, action, path)
    }

    /// Names of the devices in `inventory` on which the user may `connect`, sorted.
    ///
    /// Devices the engine's own inventory does not know are left out.
    pub async fn visible_devices(
        &self,
        user: &str,
        roles: &[String],
        inventory: &Inventory,
    ) -> Vec<String> {
        let snapshot = self.snapshot();
        inventory
            .devices()
            .filter(|d| {
                snapshot
                    .decide(user, roles, &d.name, Action::Connect)
                    .allowed
            })
            .map(|d| d.name.clone())
            .collect()
    }

    /// Rebuilds the policy from `dir` over `inventory` and swaps it in if it loads.
    ///
    /// On error the previous policy stays in force and the error (naming file and line)
    /// is returned for the caller to log.
    pub async fn reload(&self, dir: &Path, inventory: &Inventory) -> Result<()> {
        let snapshot = Snapshot::load(dir, Arc::new(inventory.clone())).await?;
        self.install(snapshot);
        Ok(())
    }

    /// The inventory the current policy was built against.
    pub fn inventory(&self) -> Arc<Inventory> {
        Arc::clone(self.snapshot().inventory())
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&guard)
    }

    fn install(&self, snapshot: Snapshot) {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        *guard = Arc::new(snapshot);
    }
}
