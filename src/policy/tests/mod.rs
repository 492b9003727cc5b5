//! Unit tests for the policy engine: shared fixtures, plus one file per area.

mod decide;
mod load;
mod paths;

use super::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MODEL: &str = include_str!("../../../policies/model.conf");
const SHIPPED_POLICY: &str = include_str!("../../../policies/policy.csv");

const INVENTORY: &str = r#"
[[device]]
name = "sw1"
kind = "ssh"
address = "192.0.2.11:22"
labels = { site = "ams1", type = "switch" }

[[device]]
name = "sw2"
kind = "ssh"
address = "192.0.2.12:22"
labels = { site = "fra1", type = "switch" }

[[device]]
name = "core1"
kind = "ssh"
address = "192.0.2.1:22"
labels = { site = "ams1", type = "switch", tier = "core" }

[[device]]
name = "srv12-console"
kind = "serial"
address = "/dev/ttyUSB0"
labels = { site = "ams1" }
"#;

fn inventory() -> Inventory {
    Inventory::parse(INVENTORY, Path::new("inventory.toml")).unwrap()
}

fn policy_dir(csv: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(MODEL_FILE), MODEL).unwrap();
    std::fs::write(dir.path().join(POLICY_FILE), csv).unwrap();
    dir
}

async fn engine(csv: &str) -> PolicyEngine {
    let dir = policy_dir(csv);
    PolicyEngine::load(dir.path(), &inventory()).await.unwrap()
}

async fn load_err(csv: &str) -> String {
    let dir = policy_dir(csv);
    let e = PolicyEngine::load(dir.path(), &inventory())
        .await
        .unwrap_err();
    // Show the error relative to the temp dir, as it would read for policies/.
    e.to_string()
        .replace(&dir.path().display().to_string(), "policies")
}

fn roles(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const NETOPS: &str = "p, role:netops, site:ams1 & type:switch, connect, allow\n";
