//! `oobgate power ACTION SERVER`: chassis control from the bastion host itself, for the
//! operator who runs it (no certificate, no policy: local root already has the secrets),
//! audited as `local:<login>`. IPMI and Redfish BMCs alike; Redfish certificates are
//! checked against (or learnt into) the same store the bastion uses.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use oobgate::config::Config;
use oobgate::connect::{open_bmc, DeviceCredential, StoreCertPins};
use oobgate::frontdoor::commands::{
    apply_power, bmc_for, describe_power, power_event, power_report, PowerArgs, PowerVerb,
};
use oobgate::inventory::Inventory;

use super::stores::with_stores;

/// Runs `power ACTION SERVER` for the config at `config`.
pub fn run(config: &Path, args: PowerArgs) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let PowerArgs {
        action: PowerVerb(action),
        server,
    } = args;
    let inventory = Inventory::load(&config.inventory)?;
    let Some(bmc) = bmc_for(&inventory, &server) else {
        bail!("no BMC for {server:?} in {}", config.inventory.display());
    };
    let reference = bmc
        .credential
        .clone()
        .with_context(|| format!("device {} has no credential reference", bmc.name))?;
    let login = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let what = describe_power(action);
    let (cfg, server_ref, what_ref) = (&config, &server, &what);
    let result = with_stores(&config, |stores| async move {
        let pins = std::sync::Arc::new(StoreCertPins::new(stores.hostkeys.clone()));
        let result = async {
            let secrets = oobgate::secrets::open_store(&cfg.secrets, &cfg.data_dir).await?;
            let cred = secrets
                .credential(&reference)
                .await
                .with_context(|| format!("credential {reference}"))?;
            let held = DeviceCredential::from_secret(&cred);
            let target = open_bmc(bmc, &held, pins)?;
            anyhow::Ok(apply_power(target.as_ref(), action).await?)
        }
        .await
        .map_err(|e| format!("{e:#}"));
        let ev = power_event(
            &format!("local:{login}"),
            &bmc.name,
            server_ref,
            what_ref,
            &result,
            Some("local"),
        );
        stores.audit.append(ev).await?;
        anyhow::Ok(result)
    })?;
    let now = result.map_err(anyhow::Error::msg)?;
    print!("{}", power_report(&server, action, &now));
    Ok(ExitCode::SUCCESS)
}
