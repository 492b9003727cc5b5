//! `boot SERVER pxe|cd|disk|bios [--once]`: the server's boot device override through its
//! BMC (policy `boot.control`), read back from the BMC after it is set, audited as `boot`
//! and announced on the server's consoles.

use clap::Args;
use serde_json::json;

use super::bmc;
use super::CommandOutput;
use crate::bastion::Bastion;
use crate::bmc::BootDevice;
use crate::identity::Identity;
use crate::policy::Action;

/// `boot SERVER DEVICE [--once]`.
#[derive(Debug, Clone, Args)]
pub struct BootArgs {
    /// The server.
    pub server: String,
    /// pxe | cd | disk | bios
    #[arg(value_parser = boot_device)]
    pub device: BootDevice,
    /// Only for the next boot (else for every boot).
    #[arg(long)]
    pub once: bool,
}

fn boot_device(s: &str) -> Result<BootDevice, String> {
    BootDevice::parse(s).ok_or_else(|| format!("unknown boot device {s:?} (pxe, cd, disk, bios)"))
}

/// `boot cd once` / `boot pxe`, as audited.
pub fn describe(device: BootDevice, once: bool) -> String {
    format!("boot {device}{}", if once { " once" } else { "" })
}

/// Runs the `boot` command.
pub(super) async fn run(bastion: &Bastion, id: &Identity, args: BootArgs) -> CommandOutput {
    let what = describe(args.device, args.once);
    let (device, b) = match bmc::prepare(
        bastion,
        id,
        "boot",
        &what,
        &args.server,
        Action::BootControl,
    )
    .await
    {
        Ok(v) => v,
        Err(out) => return out,
    };
    let result = async {
        b.set_boot(args.device, args.once).await?;
        b.boot_setting().await
    }
    .await
    .map_err(|e| e.to_string());
    let shown = result
        .as_ref()
        .map(|s| json!({ "device": args.device.to_string(), "once": args.once, "bmc_reports": s.detail }))
        .map_err(Clone::clone);
    bmc::record(
        bastion,
        id,
        "boot",
        &device,
        &args.server,
        &what,
        &shown,
        true,
    )
    .await;
    match result {
        Ok(s) => CommandOutput::ok(format!(
            "{}: boot override set to {} ({}); the BMC reports {}\n",
            args.server,
            args.device,
            if args.once {
                "next boot only"
            } else {
                "every boot"
            },
            s.detail
        )),
        Err(e) => CommandOutput::fail(format!("boot: {e}\n"), 1),
    }
}
