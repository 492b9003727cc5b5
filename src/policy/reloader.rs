//! Background reloading: poll the policy files and the inventory for changes and swap in
//! a fresh policy when they load cleanly.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::snapshot::{MODEL_FILE, POLICY_FILE};
use super::PolicyEngine;
use crate::inventory::Inventory;

/// What identifies one version of a file: modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl PolicyEngine {
    /// Loads the inventory at `inventory_path` and the policy in `dir` over it, and swaps
    /// both in if both load; returns the number of devices. On error (naming the file)
    /// the current inventory and policy stay in force.
    pub async fn reload_files(&self, dir: &Path, inventory_path: &Path) -> super::Result<usize> {
        let inventory = Inventory::load(inventory_path)?;
        self.reload(dir, &inventory).await?;
        Ok(inventory.len())
    }

    /// Spawns a task that checks `dir/model.conf`, `dir/policy.csv` and `inventory_path`
    /// every `interval` and reloads inventory and policy when any of them changed.
    ///
    /// Failures are logged with the file and reason and keep the last good policy; the
    /// same broken version is not retried until a file changes again. The task ends when
    /// `shutdown` is cancelled.
    pub fn spawn_reloader(
        self,
        dir: PathBuf,
        inventory_path: PathBuf,
        interval: Duration,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        // Stamp the files now, not when the task first runs, so a change made right
        // after this call is not mistaken for the loaded version.
        let files = [
            dir.join(MODEL_FILE),
            dir.join(POLICY_FILE),
            inventory_path.clone(),
        ];
        let mut last: Vec<Stamp> = files.iter().map(|f| stamp(f)).collect();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let now: Vec<Stamp> = files.iter().map(|f| stamp(f)).collect();
                if now == last {
                    continue;
                }
                last = now;
                match self.reload_files(&dir, &inventory_path).await {
                    Ok(devices) => tracing::info!(
                        dir = %dir.display(),
                        devices,
                        "policy and inventory reloaded"
                    ),
                    Err(error) => tracing::error!(
                        %error,
                        "policy or inventory reload failed; keeping the current inventory and policy"
                    ),
                }
            }
        })
    }
}
