//! Which node carries a network console (raw, RFC 2217, SOL), when several nodes share the
//! store: only the node holding the console's claim opens its link, so the device sees one
//! connection and the continuous log has one writer. The others wait, claiming it every
//! second; when the owner's lease lapses (the node died) the first of them takes the
//! console over, tells it on the console and goes on with the log. A local tty stays with
//! the node that has it, unclaimed.

use std::time::Duration;

use crate::bastion::Bastion;
use crate::connect::LinkControl;
use crate::inventory::{Address, Device, DeviceKind};
use crate::store::{ConsoleClaim, NodeLeases};

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
    let Some(leases) = bastion.stores.leases.clone().filter(|_| is_shared(device)) else {
        return true;
    };
    let mut waiting_on: Option<String> = None;
    loop {
        match leases
            .claim_console(&device.name, &bastion.config.node_address)
            .await
        {
            Ok(ConsoleClaim::Ours) => return true,
            Ok(ConsoleClaim::TakenOver { from }) => {
                taken_over(bastion, device, &from).await;
                return true;
            }
            Ok(ConsoleClaim::Elsewhere(owner)) => {
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
pub async fn elsewhere(bastion: &Bastion, device: &Device) -> Option<crate::store::ConsoleOwner> {
    let leases = bastion
        .stores
        .leases
        .clone()
        .filter(|_| is_shared(device))?;
    match leases
        .claim_console(&device.name, &bastion.config.node_address)
        .await
    {
        Ok(ConsoleClaim::Elsewhere(owner)) => Some(owner),
        Ok(ConsoleClaim::TakenOver { from }) => {
            taken_over(bastion, device, &from).await;
            None
        }
        Ok(ConsoleClaim::Ours) => None,
        Err(e) => {
            // Fail-static: the store not answering, this node serves the console itself.
            tracing::warn!(console = %device.name, error = %e, "cannot claim console");
            None
        }
    }
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
    bastion: &std::sync::Arc<Bastion>,
    device: &Device,
    control: tokio::sync::mpsc::Sender<LinkControl>,
) {
    let Some(leases) = bastion.stores.leases.clone().filter(|_| is_shared(device)) else {
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
            if let Some(node) = lost_to(leases.as_ref(), &name, &bastion.config.node_address).await
            {
                tracing::warn!(console = %name, node, "console now carried by another node");
                let text = format!("console now carried by node {node}; this node lets it go");
                let _ = bastion.consoles.announce(&name, &text).await;
                let _ = control.send(LinkControl::Close).await;
                return;
            }
        }
    });
}

async fn lost_to(leases: &dyn NodeLeases, name: &str, address: &str) -> Option<String> {
    match leases.claim_console(name, address).await {
        Ok(ConsoleClaim::Elsewhere(owner)) => Some(owner.node),
        _ => None,
    }
}
