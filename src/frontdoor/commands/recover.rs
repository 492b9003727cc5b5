//! `recover SERVER --iso URL`: one audited step that inserts the ISO (under
//! `[media] allowed_urls`), forces a one-time boot from CD, power-cycles the server and
//! then hands over to the server's console, if it has one. Every permission is checked
//! before anything is done (`media.control`, `boot.control`, `power.control` on the BMC;
//! `console.read` on the console, without which the recovery runs but nothing is
//! attached); the steps stop at the first failure, which the admin and the `recover` audit
//! event both name.

use clap::Args;
use serde_json::{json, Value};

use super::bmc::{self, Progress};
use super::CommandOutput;
use crate::bastion::Bastion;
use crate::bmc::{Bmc, BootDevice, Capability, PowerAction};
use crate::identity::Identity;
use crate::inventory::Device;
use crate::policy::Action;

/// `recover SERVER --iso URL`.
#[derive(Debug, Clone, Args)]
pub struct RecoverArgs {
    /// The server.
    pub server: String,
    /// The rescue image (under `media.allowed_urls`).
    #[arg(long)]
    pub iso: String,
}

/// The steps, in order, as shown and audited.
const STEPS: [&str; 3] = ["media insert", "boot cd once", "power cycle"];

/// A finished recovery: the console to attach, if any, and a note when one is not.
pub struct Recovered {
    /// The server's console the admin may read.
    pub console: Option<Device>,
    /// Why no console is attached, when none is.
    pub note: Option<String>,
}

/// Runs the recovery steps, showing each on `progress`; the failure is the output.
pub async fn run(
    bastion: &Bastion,
    id: &Identity,
    args: &RecoverArgs,
    progress: &Progress,
) -> Result<Recovered, CommandOutput> {
    let what = "recover";
    let server = args.server.as_str();
    let device = bmc::find(&bastion.policy.inventory(), what, server)?;
    for action in [
        Action::MediaControl,
        Action::BootControl,
        Action::PowerControl,
    ] {
        bmc::authorize(bastion, id, what, &device, action).await?;
    }
    if let Some(out) =
        bmc::refuse_url(bastion, id, "recover", &device, server, what, &args.iso).await
    {
        return Err(out);
    }
    let (console, note) = console(bastion, id, &device).await;
    let b = match bmc::open(bastion, &device).await {
        Ok(b) => b,
        Err(e) => return Err(failed(bastion, id, &device, server, &[], "log in", &e).await),
    };
    let caps = b.capabilities();
    for c in [Capability::Media, Capability::Boot, Capability::Power] {
        if let Err(e) = caps.require(&device.name, c) {
            return Err(failed(bastion, id, &device, server, &[], "check", &e.to_string()).await);
        }
    }
    let mut done = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        progress.line(format!("{server}: step {}/{}: {step}", i + 1, STEPS.len()));
        if let Err(e) = do_step(b.as_ref(), i, &args.iso).await {
            return Err(failed(bastion, id, &device, server, &done, step, &e.to_string()).await);
        }
        done.push(*step);
    }
    let result =
        Ok(json!({ "iso": args.iso, "steps": done, "console": console.as_ref().map(|c| &c.name) }));
    bmc::record(bastion, id, "recover", &device, server, what, &result, true).await;
    progress.line(format!("{server}: recovery started from {}", args.iso));
    Ok(Recovered { console, note })
}

async fn do_step(b: &dyn Bmc, i: usize, iso: &str) -> crate::bmc::Result<()> {
    match i {
        0 => b.media_insert(iso).await,
        1 => b.set_boot(BootDevice::Cd, true).await,
        _ => b.power(PowerAction::Cycle).await,
    }
}

/// The server's console the admin may read, or why there is none to attach.
async fn console(
    bastion: &Bastion,
    id: &Identity,
    bmc: &Device,
) -> (Option<Device>, Option<String>) {
    let inventory = bastion.policy.inventory();
    let Some(c) = bmc::consoles_of(&inventory, bmc)
        .into_iter()
        .next()
        .cloned()
    else {
        return (
            None,
            Some("the server has no console in the inventory".into()),
        );
    };
    let d = bastion
        .authz
        .decide_audited(
            id,
            &c.name,
            Action::ConsoleRead,
            json!({ "via": "recover" }),
        )
        .await;
    if d.allowed {
        (Some(c), None)
    } else {
        let why = format!(
            "console {} not attached: console.read denied: {}",
            c.name, d.reason
        );
        (None, Some(why))
    }
}

/// Audits the recovery as failed at `step` after `done`, and says so.
async fn failed(
    bastion: &Bastion,
    id: &Identity,
    bmc: &Device,
    server: &str,
    done: &[&str],
    step: &str,
    error: &str,
) -> CommandOutput {
    let msg = format!("step {step:?} failed: {error}");
    let mut ev = bmc::event(
        "recover",
        &id.user,
        &bmc.name,
        server,
        "recover",
        &Err(msg.clone()),
    );
    if let Value::Object(m) = &mut ev.detail {
        m.insert("failed_step".into(), step.into());
        m.insert("steps_done".into(), json!(done));
    }
    bastion.audit(ev.source(id.source.to_string())).await;
    bmc::announce(bastion, id, bmc, server, "recover", Err(&msg)).await;
    let done = if done.is_empty() {
        "nothing was changed".to_string()
    } else {
        format!("done before it: {}", done.join(", "))
    };
    CommandOutput::fail(
        format!("recover: {server}: {msg} ({done}); stopped there\n"),
        1,
    )
}
