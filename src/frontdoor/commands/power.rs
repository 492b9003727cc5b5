//! `power status|on|off|cycle|reset|soft SERVER`: chassis control through the server's BMC
//! (IPMI or Redfish, through the `bmc` capability traits), checked by policy
//! (`power.status`, `power.control`) on the BMC's inventory device, audited, and announced
//! on the server's consoles (so it is in the continuous log and in the recordings of
//! everyone attached).

use clap::Args;
use serde_json::json;

use super::bmc;
use super::CommandOutput;
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::bmc::{Bmc, PowerStatus};
use crate::identity::Identity;
use crate::ipmi::PowerAction;
use crate::policy::Action;

/// `power ACTION SERVER` (also the local `oobgate power`).
#[derive(Debug, Clone, Args)]
pub struct PowerArgs {
    /// status | on | off | cycle | reset | soft
    #[arg(value_parser = power_verb)]
    pub action: PowerVerb,
    /// The server (its BMC is the ipmi-sol or redfish device SERVER, SERVER-sol,
    /// SERVER-bmc, or labelled server = SERVER).
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

/// `power status` or `power ACTION`, as audited and shown.
pub fn describe(action: Option<PowerAction>) -> String {
    match action {
        Some(a) => format!("power {a}"),
        None => "power status".to_string(),
    }
}

/// Carries out `action` (none: only reads) and returns the power state read after it.
pub async fn apply(bmc: &dyn Bmc, action: Option<PowerAction>) -> crate::bmc::Result<PowerStatus> {
    if let Some(a) = action {
        bmc.power(a).await?;
    }
    bmc.power_status().await
}

/// What `power` prints once `action` is done and the chassis reads `now`.
pub fn report(server: &str, action: Option<PowerAction>, now: &PowerStatus) -> String {
    let Some(a) = action else {
        return format!("{server}: chassis power is {now}\n");
    };
    let expected = match a {
        PowerAction::Off | PowerAction::Soft => PowerStatus::Off,
        _ => PowerStatus::On,
    };
    if *now == expected {
        format!("{server}: power {a} done; chassis power is now {now}\n")
    } else {
        format!(
            "{server}: power {a} done; chassis power reads {now} (the BMC is still carrying it out)\n"
        )
    }
}

/// The `power` audit event: `user` did `what` on `server` through BMC device `bmc`;
/// `result` is the power state after, or the error; `via` marks the local command.
pub fn event(
    user: &str,
    bmc: &str,
    server: &str,
    what: &str,
    result: &std::result::Result<PowerStatus, String>,
    via: Option<&str>,
) -> Event {
    let mut detail = json!({});
    if let (Ok(st), Some(m)) = (result, detail.as_object_mut()) {
        m.insert(
            "power_on".into(),
            match st {
                PowerStatus::On => true.into(),
                PowerStatus::Off => false.into(),
                PowerStatus::Other(_) => serde_json::Value::Null,
            },
        );
        m.insert("power".into(), st.to_string().into());
    }
    if let (Some(v), Some(m)) = (via, detail.as_object_mut()) {
        m.insert("via".into(), v.into());
    }
    let result = result.as_ref().map(|_| detail).map_err(Clone::clone);
    bmc::event("power", user, bmc, server, what, &result)
}

/// Runs the `power` command.
pub(super) async fn run(bastion: &Bastion, id: &Identity, args: PowerArgs) -> CommandOutput {
    let PowerArgs {
        action: PowerVerb(action),
        server: name,
    } = args;
    let inventory = bastion.policy.inventory();
    let device = match bmc::find(&inventory, "power", &name) {
        Ok(d) => d,
        Err(out) => return out,
    };
    let needed = if action.is_some() {
        Action::PowerControl
    } else {
        Action::PowerStatus
    };
    if let Err(out) = bmc::authorize(bastion, id, "power", &device, needed).await {
        return out;
    }
    let result = match bmc::open(bastion, &device).await {
        Err(e) => Err(e),
        Ok(b) => apply(b.as_ref(), action).await.map_err(|e| e.to_string()),
    };
    let what = describe(action);
    bastion
        .audit(
            event(&id.user, &device.name, &name, &what, &result, None)
                .source(id.source.to_string()),
        )
        .await;
    if action.is_some() {
        let outcome = result.as_ref().map(|_| ()).map_err(String::as_str);
        bmc::announce(bastion, id, &device, &name, &what, outcome).await;
    }
    match result {
        Ok(now) => CommandOutput::ok(report(&name, action, &now)),
        Err(e) => CommandOutput::fail(format!("power: {e}\n"), 1),
    }
}
