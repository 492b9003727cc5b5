//! Console devices in the broker: registering one gives the broker a way to open a fresh
//! link to it (the connector chosen by [`Connectors::for_device`], the BMC login for SOL
//! from the secrets store) and, where the link can, to send a serial break.
//!
//! [`Connectors::for_device`]: crate::connect::Connectors::for_device

use std::sync::{Arc, Mutex, Weak};

use crate::bastion::Bastion;
use crate::connect::{ConnectError, Connectors, DeviceCredential, Link, LinkControl, LinkRequest};
use crate::console::{BreakFn, ConsoleError, ConsoleSpec, OpenFn};
use crate::inventory::{Device, DeviceKind};

type Current = Arc<Mutex<Option<tokio::sync::mpsc::Sender<LinkControl>>>>;

/// Registers `device` with the broker (once; later calls do nothing). The link opener
/// holds only a weak reference to the bastion.
pub fn register(bastion: &Arc<Bastion>, device: &Device) -> crate::console::Result<()> {
    // The control side of the current link, so a break can be sent on it.
    let current: Current = Default::default();
    let spec = ConsoleSpec {
        name: device.name.clone(),
        always_on: device.always_on,
        open: opener(Arc::downgrade(bastion), device.clone(), current.clone()),
        send_break: Connectors::can_break(device).then(|| breaker(current)),
        alerts: bastion
            .config
            .alerts
            .iter()
            .filter(|rule| rule.applies_to(&device.name, &device.labels))
            .filter_map(|rule| rule.compile().ok()) // checked when the config loaded
            .collect(),
    };
    match bastion.consoles.register(spec) {
        Ok(()) | Err(ConsoleError::Duplicate(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

fn link_down() -> ConnectError {
    ConnectError::Protocol("console link is down".into())
}

fn breaker(current: Current) -> BreakFn {
    Arc::new(move || {
        let ctl = current.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Box::pin(async move {
            match ctl {
                Some(c) => c.send(LinkControl::Break).await.map_err(|_| link_down()),
                None => Err(link_down()),
            }
        })
    })
}

fn opener(weak: Weak<Bastion>, device: Device, current: Current) -> OpenFn {
    Arc::new(move || {
        let weak = weak.clone();
        let device = device.clone();
        let current = current.clone();
        Box::pin(async move {
            let Some(bastion) = weak.upgrade() else {
                return Err(ConnectError::Protocol("bastion stopped".into()));
            };
            // On several nodes, one carries the console: wait until it is this one.
            if !super::console_owner::until_ours(&bastion, &device).await {
                return Err(ConnectError::Protocol("bastion stopped".into()));
            }
            let asked = tokio::time::Instant::now();
            let link = open(&bastion, &device).await;
            let took = asked.elapsed();
            bastion
                .metrics
                .device_connect(device.kind.as_str(), took, link.is_ok());
            let link = link?;
            super::console_owner::keep(&bastion, &device, link.control.clone());
            *current.lock().unwrap_or_else(|e| e.into_inner()) = Some(link.control.clone());
            Ok(link)
        })
    })
}

/// Opens the console's device link (with the BMC login for SOL).
async fn open(bastion: &Bastion, device: &Device) -> Result<Link, ConnectError> {
    // The BMC login comes from the secrets store and never leaves the bastion; ttys and
    // console-server ports need none.
    let cred = if device.kind == DeviceKind::IpmiSol {
        super::credential(bastion, device)
            .await
            .map_err(|e| ConnectError::BadCredential {
                device: device.name.clone(),
                reason: e.to_string(),
            })?
    } else {
        DeviceCredential::default()
    };
    let (connector, target) = bastion.connectors.for_device(device);
    connector
        .open(&target, &cred, &LinkRequest::shell(80, 24))
        .await
}
