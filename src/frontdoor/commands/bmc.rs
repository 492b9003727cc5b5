//! What every BMC command (`power`, `boot`, `media`, `firmware`, `bmc-log`, `recover`)
//! shares: finding the server's BMC in the inventory, the policy check on the BMC device
//! (refusals fail closed), logging in through the bmc capability traits, the audit event
//! with its outcome, announcing changes on the server's consoles, and progress lines
//! streamed to the admin while a long step runs.

use std::sync::Mutex;

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

use super::{CommandOutput, EXIT_FORBIDDEN};
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::bmc::Bmc;
use crate::identity::Identity;
use crate::inventory::{Device, Inventory};
use crate::policy::Action;

/// Where a command's progress lines go: straight to the admin's channel when streaming,
/// else kept and put before the command's final output.
#[derive(Debug, Default)]
pub struct Progress {
    sink: Option<UnboundedSender<String>>,
    kept: Mutex<String>,
}

impl Progress {
    /// Progress streamed into `sink` (one string per line, `\n` ended).
    pub fn streaming(sink: UnboundedSender<String>) -> Progress {
        Progress {
            sink: Some(sink),
            kept: Mutex::default(),
        }
    }

    /// Shows `line`.
    pub fn line(&self, line: impl Into<String>) {
        let mut line = line.into();
        line.push('\n');
        if let Some(sink) = &self.sink {
            // A closed sink is a client gone: the command still runs to its end.
            let _ = sink.send(line);
            return;
        }
        if let Ok(mut kept) = self.kept.lock() {
            kept.push_str(&line);
        }
    }

    /// The lines kept (not streamed) so far, taken.
    pub fn take_kept(&self) -> String {
        self.kept
            .lock()
            .map(|mut k| std::mem::take(&mut *k))
            .unwrap_or_default()
    }
}

/// The BMC device for `name`: a BMC device (`ipmi-sol` or `redfish`) of that name, one
/// labelled `server = NAME`, or `NAME-sol` / `NAME-bmc`.
pub fn bmc_for<'a>(inventory: &'a Inventory, name: &str) -> Option<&'a Device> {
    let is_bmc = |d: &&Device| d.kind.is_bmc();
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
        .or_else(|| inventory.get(&format!("{name}-bmc")).filter(is_bmc))
}

/// The consoles of the server `bmc` belongs to: the BMC's own SOL console and every
/// console labelled with the same `server`.
pub fn consoles_of<'a>(inventory: &'a Inventory, bmc: &Device) -> Vec<&'a Device> {
    let server = bmc.labels.get("server");
    inventory
        .devices()
        .filter(|d| d.kind.is_console())
        .filter(|d| d.name == bmc.name || (server.is_some() && d.labels.get("server") == server))
        .collect()
}

/// `command`'s BMC for `server`, or the failure to show.
pub fn find(inventory: &Inventory, command: &str, server: &str) -> Result<Device, CommandOutput> {
    bmc_for(inventory, server).cloned().ok_or_else(|| {
        CommandOutput::fail(
            format!(
                "{command}: no BMC for {server:?} (an ipmi-sol or redfish device named {server}, \
                 {server}-sol or {server}-bmc, or labelled server = \"{server}\")\n"
            ),
            1,
        )
    })
}

/// Checks `action` on `bmc` for `id` (audited as a decision); a refusal is the output.
pub async fn authorize(
    bastion: &Bastion,
    id: &Identity,
    command: &str,
    bmc: &Device,
    action: Action,
) -> Result<(), CommandOutput> {
    let d = bastion
        .authz
        .decide_audited(id, &bmc.name, action, json!({ "via": command }))
        .await;
    if d.allowed {
        Ok(())
    } else {
        Err(CommandOutput::fail(
            format!("{command}: {action} on {} denied: {}\n", bmc.name, d.reason),
            EXIT_FORBIDDEN,
        ))
    }
}

/// Refuses an image URL outside `[media] allowed_urls`: audited (outcome `denied`) and
/// shown with the allowed prefixes; `None` when the URL is allowed.
pub async fn refuse_url(
    bastion: &Bastion,
    id: &Identity,
    kind: &str,
    bmc: &Device,
    server: &str,
    what: &str,
    url: &str,
) -> Option<CommandOutput> {
    let why = bastion.config.media.check(url).err()?;
    let ev = event(kind, &id.user, &bmc.name, server, what, &Err(why.clone()));
    bastion
        .audit(ev.outcome("denied").source(id.source.to_string()))
        .await;
    Some(CommandOutput::fail(
        format!("{kind}: {why}\n"),
        EXIT_FORBIDDEN,
    ))
}

/// A command's way to `server`'s BMC: found, `action` allowed on it, logged in. Every
/// failure is the output to show; a failed login is audited as `what` (kind `kind`).
pub async fn prepare(
    bastion: &Bastion,
    id: &Identity,
    kind: &str,
    what: &str,
    server: &str,
    action: Action,
) -> Result<(Device, Box<dyn Bmc>), CommandOutput> {
    let command = what.split(' ').next().unwrap_or(what);
    let device = find(&bastion.policy.inventory(), command, server)?;
    authorize(bastion, id, command, &device, action).await?;
    match open(bastion, &device).await {
        Ok(b) => Ok((device, b)),
        Err(e) => {
            let failed = Err(e.clone());
            record(bastion, id, kind, &device, server, what, &failed, false).await;
            Err(CommandOutput::fail(format!("{command}: {e}\n"), 1))
        }
    }
}

/// Logs in to `bmc` with its credential from the secrets store.
pub async fn open(bastion: &Bastion, bmc: &Device) -> Result<Box<dyn Bmc>, String> {
    let cred = crate::session::credential(bastion, bmc)
        .await
        .map_err(|e| e.to_string())?;
    bastion
        .connectors
        .bmc(bmc, &cred)
        .map_err(|e| e.to_string())
}

/// The audit event of a BMC command: `user` did `what` on `server` through `bmc`; the
/// detail holds the server, what the command reports (`result`) or its error.
pub fn event(
    kind: &str,
    user: &str,
    bmc: &str,
    server: &str,
    what: &str,
    result: &Result<Value, String>,
) -> Event {
    let mut detail = json!({ "server": server });
    if let Some(m) = detail.as_object_mut() {
        match result {
            Ok(Value::Object(extra)) => m.extend(extra.clone()),
            Ok(Value::Null) => {}
            Ok(other) => {
                m.insert("result".into(), other.clone());
            }
            Err(e) => {
                m.insert("error".into(), e.clone().into());
            }
        }
    }
    Event::new(kind)
        .user(user)
        .device(bmc)
        .action(what)
        .outcome(if result.is_ok() { "ok" } else { "error" })
        .detail(detail)
}

/// Audits `what` (an event of `kind`) for `id` and, when `announce`, tells the server's
/// consoles who did it and how it ended.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    bastion: &Bastion,
    id: &Identity,
    kind: &str,
    bmc: &Device,
    server: &str,
    what: &str,
    result: &Result<Value, String>,
    announce: bool,
) {
    bastion
        .audit(event(kind, &id.user, &bmc.name, server, what, result).source(id.source.to_string()))
        .await;
    if announce {
        let outcome = result.as_ref().map(|_| ()).map_err(String::as_str);
        self::announce(bastion, id, bmc, server, what, outcome).await;
    }
}

/// Tells the consoles of `bmc`'s server that `id` ran `what` and how it ended.
pub async fn announce(
    bastion: &Bastion,
    id: &Identity,
    bmc: &Device,
    server: &str,
    what: &str,
    outcome: Result<(), &str>,
) {
    let note = format!(
        "{} ran `{what} {server}`: {}",
        id.user,
        match outcome {
            Ok(()) => "done".to_string(),
            Err(e) => format!("failed: {e}"),
        }
    );
    let inventory = bastion.policy.inventory();
    for c in consoles_of(&inventory, bmc) {
        let _ = bastion.consoles.announce(&c.name, &note).await;
    }
}
