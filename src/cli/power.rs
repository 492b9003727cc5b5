//! `oobgate power ACTION SERVER`: chassis control from the bastion host itself, for the
//! operator who runs it (no certificate, no policy: local root already has the secrets),
//! audited as `local:<login>`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use oobgate::audit::AuditStore;
use oobgate::config::Config;
use oobgate::inventory::Inventory;
use oobgate::ipmi::{BmcTarget, PowerAction};

/// Runs `power ACTION SERVER` for the config at `config`.
pub fn run(config: &Path, verb: &str, server: &str) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let action = match verb {
        "status" => None,
        other => Some(PowerAction::parse(other).with_context(|| {
            format!("unknown action {other:?} (status, on, off, cycle, reset, soft)")
        })?),
    };
    let inventory = Inventory::load(&config.inventory)?;
    let Some(bmc) = oobgate::frontdoor::power::bmc_for(&inventory, server) else {
        bail!("no BMC for {server:?} in {}", config.inventory.display());
    };
    let reference = bmc
        .credential
        .clone()
        .with_context(|| format!("device {} has no credential reference", bmc.name))?;
    let store = AuditStore::open(&config.store_path())?;
    let login = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let secrets = oobgate::secrets::open_store(&config.secrets, &config.data_dir).await?;
        let cred = secrets
            .credential(&reference)
            .await
            .with_context(|| format!("credential {reference}"))?;
        let held = oobgate::connect::DeviceCredential::from_secret(&cred);
        let target = BmcTarget::for_device(bmc, &held)?;
        anyhow::Ok(oobgate::ipmi::chassis(&target, action).await?)
    });
    let what = oobgate::frontdoor::power::describe(action);
    let result = result.map_err(|e| format!("{e:#}"));
    store.record(oobgate::frontdoor::power::event(
        &format!("local:{login}"),
        &bmc.name,
        server,
        &what,
        &result,
        Some("local"),
    ))?;
    let on = result.map_err(anyhow::Error::msg)?;
    println!(
        "{server}: {}chassis power is {}",
        if action.is_some() {
            format!("{what} done; ")
        } else {
            String::new()
        },
        if on { "on" } else { "off" }
    );
    Ok(ExitCode::SUCCESS)
}
