//! `power status|on|off|cycle|reset|soft SERVER`: chassis control through the server's BMC,
//! checked by policy (`power.status`, `power.control`) on the BMC's inventory device,
//! audited, and announced on the server's consoles (so it is in the continuous log and in
//! the recordings of everyone attached).

use clap::Args;
use serde_json::json;

use super::{CommandOutput, EXIT_FORBIDDEN};
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::inventory::{Device, DeviceKind, Inventory};
use crate::ipmi::PowerAction;
use crate::policy::Action;

/// `power ACTION SERVER` (also the local `oobgate power`).
#[derive(Debug, Clone, Args)]
pub struct PowerArgs {
    /// status | on | off | cycle | reset | soft
    #[arg(value_parser = power_verb)]
    pub action: PowerVerb,
    /// The server (its BMC is the ipmi-sol device SERVER-sol or labelled server = SERVER).
    pub server: String,
}

/// `status`, or an action that changes the chassis power.
#[derive(Debug, Clone, Copy)]
pub struct PowerVerb(pub Option<PowerAction>);

fn power_verb(s: &str) -> Result<PowerVerb, String> {
    match s {
        "status" => Ok(PowerVerb(None)),
        other => PowerAction::parse(other)
            .map(|a| PowerVerb(Some(a)))
            .ok_or_else(|| {
                format!("unknown action {other:?} (status, on, off, cycle, reset, soft)")
            }),
    }
}

/// The BMC device for `name`: an `ipmi-sol` device of that name, one labelled
/// `server = NAME`, or `NAME-sol`.
pub fn bmc_for<'a>(inventory: &'a Inventory, name: &str) -> Option<&'a Device> {
    let is_bmc = |d: &&Device| d.kind == DeviceKind::IpmiSol;
    inventory
        .get(name)
        .filter(is_bmc)
        .or_else(|| {
            inventory
                .devices()
                .filter(is_bmc)
                .find(|d| d.labels.get("server").map(String::as_str) == Some(name))
        })
        .or_else(|| inventory.get(&format!("{name}-sol")).filter(is_bmc))
}

/// The consoles of the server `bmc` belongs to: the BMC's own SOL console and every
/// console labelled with the same `server`.
fn consoles_of<'a>(inventory: &'a Inventory, bmc: &Device) -> Vec<&'a Device> {
    let server = bmc.labels.get("server");
    inventory
        .devices()
        .filter(|d| d.kind.is_console())
        .filter(|d| d.name == bmc.name || (server.is_some() && d.labels.get("server") == server))
        .collect()
}

/// `power status` or `power ACTION`, as audited and shown.
pub fn describe(action: Option<PowerAction>) -> String {
    match action {
        Some(a) => format!("power {a}"),
        None => "power status".to_string(),
    }
}

/// The `power` audit event: `user` did `what` on `server` through BMC device `bmc`;
/// `result` is the power state after, or the error; `via` marks the local command.
pub fn event(
    user: &str,
    bmc: &str,
    server: &str,
    what: &str,
    result: &std::result::Result<bool, String>,
    via: Option<&str>,
) -> Event {
    let mut detail = json!({
        "server": server,
        "power_on": result.as_ref().ok(),
        "error": result.as_ref().err(),
    });
    if let (Some(v), Some(m)) = (via, detail.as_object_mut()) {
        m.insert("via".into(), v.into());
    }
    Event::new("power")
        .user(user)
        .device(bmc)
        .action(what)
        .outcome(if result.is_ok() { "ok" } else { "error" })
        .detail(detail)
}

/// Runs the `power` command.
pub(super) async fn run(bastion: &Bastion, id: &Identity, args: PowerArgs) -> CommandOutput {
    let PowerArgs {
        action: PowerVerb(action),
        server: name,
    } = args;
    let inventory = bastion.policy.inventory();
    let Some(bmc) = bmc_for(&inventory, &name) else {
        return CommandOutput::fail(
            format!("power: no BMC for {name:?} (an ipmi-sol device named {name} or {name}-sol, or labelled server = \"{name}\")\n"),
            1,
        );
    };
    let needed = if action.is_some() {
        Action::PowerControl
    } else {
        Action::PowerStatus
    };
    let d = bastion
        .authz
        .decide_audited(id, &bmc.name, needed, json!({ "via": "power" }))
        .await;
    if !d.allowed {
        return CommandOutput::fail(
            format!("power: {needed} on {} denied: {}\n", bmc.name, d.reason),
            EXIT_FORBIDDEN,
        );
    }
    let result = match crate::session::credential(bastion, bmc).await {
        Err(e) => Err(e.to_string()),
        Ok(cred) => match crate::connect::bmc_target(bmc, &cred) {
            Err(e) => Err(e.to_string()),
            Ok(target) => crate::ipmi::chassis(&target, action)
                .await
                .map_err(|e| e.to_string()),
        },
    };
    let what = describe(action);
    bastion
        .audit(
            event(&id.user, &bmc.name, &name, &what, &result, None).source(id.source.to_string()),
        )
        .await;
    if action.is_some() {
        let note = format!(
            "{} ran `{what} {name}`: {}",
            id.user,
            match &result {
                Ok(_) => "done".to_string(),
                Err(e) => format!("failed: {e}"),
            }
        );
        for c in consoles_of(&inventory, bmc) {
            let _ = bastion.consoles.announce(&c.name, &note).await;
        }
    }
    match (result, action) {
        (Ok(on), None) => CommandOutput::ok(format!(
            "{name}: chassis power is {}\n",
            if on { "on" } else { "off" }
        )),
        (Ok(on), Some(a)) => CommandOutput::ok(format!(
            "{name}: power {a} done; chassis power is now {}\n",
            if on { "on" } else { "off" }
        )),
        (Err(e), _) => CommandOutput::fail(format!("power: {e}\n"), 1),
    }
}
