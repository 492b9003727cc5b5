//! `bmc-log SERVER [-n N]`: the newest entries of the BMC's event log (policy `bmc.log`),
//! newest first; audited as `bmc.log`.

use std::fmt::Write as _;

use clap::Args;
use serde_json::json;

use super::bmc;
use super::CommandOutput;
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::policy::Action;

/// `bmc-log SERVER [-n N]`.
#[derive(Debug, Clone, Args)]
pub struct BmcLogArgs {
    /// The server.
    pub server: String,
    /// How many entries (newest first).
    #[arg(short = 'n', default_value_t = 20)]
    pub n: usize,
}

/// Runs the `bmc-log` command.
pub(super) async fn run(bastion: &Bastion, id: &Identity, args: BmcLogArgs) -> CommandOutput {
    let what = "bmc-log";
    let (device, b) =
        match bmc::prepare(bastion, id, "bmc.log", what, &args.server, Action::BmcLog).await {
            Ok(v) => v,
            Err(out) => return out,
        };
    let result = b.event_log(args.n).await.map_err(|e| e.to_string());
    let shown = result
        .as_ref()
        .map(|l| json!({ "entries": l.len() }))
        .map_err(Clone::clone);
    bmc::record(
        bastion,
        id,
        "bmc.log",
        &device,
        &args.server,
        what,
        &shown,
        false,
    )
    .await;
    match result {
        Ok(entries) if entries.is_empty() => {
            CommandOutput::ok(format!("{}: the BMC event log is empty\n", args.server))
        }
        Ok(entries) => {
            let mut s = String::new();
            for e in entries {
                let _ = writeln!(
                    s,
                    "{}  {:<8} {}/{}  {}",
                    e.created.as_deref().unwrap_or("-"),
                    e.severity.as_deref().unwrap_or("-"),
                    e.log,
                    e.id,
                    e.message
                );
            }
            CommandOutput::ok(s)
        }
        Err(e) => CommandOutput::fail(format!("bmc-log: {e}\n"), 1),
    }
}
