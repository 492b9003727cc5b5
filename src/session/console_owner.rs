//! Which node carries a network console (raw, RFC 2217, SOL), when several nodes share the
//! store: only the node holding the console's claim opens its link, so the device sees one
//! connection and the continuous log has one writer. The others wait, claiming it every
//! second; when the owner's lease lapses (the node died) the first of them takes the
//! console over, tells it on the console and goes on with the log. A local tty stays with
//! the node that has it, unclaimed.

use std::sync::Arc;
use std::time::Duration;

use crate::bastion::Bastion;
use crate::connect::LinkControl;
use crate::inventory::{Address, Device, DeviceKind};
use crate::store::{ConsoleClaim, ConsoleOwner, NodeLeases};

/// How often a waiting node claims a console, and the owner checks it still holds it.
const CLAIM_EVERY: Duration = Duration::from_secs(1);

/// Whether `device` is a console some node must own (a network one).
pub fn is_shared(device: &Device) -> bool {
    device.kind == DeviceKind::IpmiSol
        || (device.kind == DeviceKind::Serial && !matches!(device.address, Address::Tty(_)))
}

/// Waits until this node carries `device`'s console. Returns at once on one node (no
/// leases), else when the claim is this node's; a takeover is announced on the console.
/// Returns `false` when the bastion stops first.
pub async fn until_ours(bastion: &Bastion, device: &Device) -> bool {
    let Some(leases) = leases_for(bastion, device) else {
        return true;
    };
    let mut waiting_on: Option<String> = None;
    loop {
        match claim(bastion, leases.as_ref(), device).await {
            Ok(None) => return true,
            Ok(Some(owner)) => {
                if waiting_on.as_deref() != Some(owner.node.as_str()) {
                    tracing::info!(console = %device.name, node = %owner.node, "console carried by another node");
                    waiting_on = Some(owner.node);
                }
            }
            Err(e) => tracing::warn!(console = %device.name, error = %e, "cannot claim console"),
        }
        tokio::select! {
            _ = bastion.shutdown.cancelled() => return false,
            _ = tokio::time::sleep(CLAIM_EVERY) => {}
        }
    }
}

/// The node carrying `device`'s console when it is another node (whose lease holds); this
/// node claims a console nobody carries. None on one node, or for a local tty.
pub async fn elsewhere(bastion: &Bastion, device: &Device) -> Option<ConsoleOwner> {
    let leases = leases_for(bastion, device)?;
    claim(bastion, leases.as_ref(), device)
        .await
        .unwrap_or_else(|e| {
            // Fail-static: the store not answering, this node serves the console itself.
            tracing::warn!(console = %device.name, error = %e, "cannot claim console");
            None
        })
}

/// The node leases, when `device` is a console one of several nodes carries.
fn leases_for(bastion: &Bastion, device: &Device) -> Option<Arc<dyn NodeLeases>> {
    bastion.stores.leases.clone().filter(|_| is_shared(device))
}

/// Claims `device`'s console: None when this node carries it now (a takeover announced),
/// else the node that does.
async fn claim(
    bastion: &Bastion,
    leases: &dyn NodeLeases,
    device: &Device,
) -> crate::store::Result<Option<ConsoleOwner>> {
    let claim = leases
        .claim_console(&device.name, &bastion.config.node_address)
        .await?;
    Ok(match claim {
        ConsoleClaim::Ours => None,
        ConsoleClaim::TakenOver { from } => {
            taken_over(bastion, device, &from).await;
            None
        }
        ConsoleClaim::Elsewhere(owner) => Some(owner),
    })
}

async fn taken_over(bastion: &Bastion, device: &Device, from: &str) {
    let node = &bastion.config.node_name;
    tracing::warn!(console = %device.name, from, "console taken over from a lost node");
    let text = format!("console taken over by node {node} (node {from} lost)");
    let _ = bastion.consoles.announce(&device.name, &text).await;
    bastion
        .audit(
            crate::audit::Event::new("console.takeover")
                .device(&device.name)
                .outcome("alert")
                .detail(serde_json::json!({ "from": from, "node": node })),
        )
        .await;
}

/// While the link behind `control` is open, checks every second that this node still
/// carries the console; if another node took it (this node's lease lapsed while it lived,
/// say behind a partition), closes the link so the device has one user. A store that does
/// not answer changes nothing: the console stays up (fail-static).
pub fn keep(
    bastion: &Arc<Bastion>,
    device: &Device,
    control: tokio::sync::mpsc::Sender<LinkControl>,
) {
    let Some(leases) = leases_for(bastion, device) else {
        return;
    };
    let (bastion, name) = (bastion.clone(), device.name.clone());
    bastion.tasks.clone().spawn(async move {
        loop {
            tokio::select! {
                _ = bastion.shutdown.cancelled() => return,
                _ = control.closed() => return,
                _ = tokio::time::sleep(CLAIM_EVERY) => {}
            }
            let claim = leases
                .claim_console(&name, &bastion.config.node_address)
                .await;
            if let Ok(ConsoleClaim::Elsewhere(ConsoleOwner { node, .. })) = claim {
                tracing::warn!(console = %name, node, "console now carried by another node");
                let text = format!("console now carried by node {node}; this node lets it go");
                let _ = bastion.consoles.announce(&name, &text).await;
                let _ = control.send(LinkControl::Close).await;
                return;
            }
        }
    });
}
