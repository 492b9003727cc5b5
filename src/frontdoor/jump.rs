//! What a `direct-tcpip` channel becomes: `ssh -J bastion DEV` (port 22 of a device) is
//! served by an inner SSH server, a device's other ports are TCP forwards, and everything
//! else is refused. Every decision is audited; a jump that policy refuses still gets an
//! inner server, whose banner tells the user why and how to ask for access (a refused
//! channel would only say "stdio forwarding failed").

use std::net::SocketAddr;

use serde_json::json;

use crate::audit::Event;
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::inventory::Device;
use crate::policy::Action;

/// What to do with the channel.
pub enum Jump {
    /// Refuse it at the channel.
    Refuse,
    /// Serve the inner SSH server for the device; with a refusal, it only shows it.
    Inner {
        /// The device.
        device: Device,
        /// Why the session is refused, shown as the inner server's banner.
        refusal: Option<String>,
    },
    /// Forward the channel to the device's `port`.
    Forward {
        /// The device.
        device: Device,
    },
}

/// Decides the `direct-tcpip` channel `host:port` opened by `id` from `peer`.
pub async fn decide(
    bastion: &Bastion,
    id: &Identity,
    peer: SocketAddr,
    host: &str,
    port: u32,
) -> Jump {
    let device = bastion.policy.inventory().get(host).cloned();
    let action = match &device {
        _ if port != 22 => Action::Forward,
        Some(d) if d.kind.is_console() => Action::ConsoleRead,
        _ => Action::Connect,
    };
    let refused = |reason: String| async move {
        let ev = Event::new("policy.decision")
            .user(&id.user)
            .source(peer.to_string())
            .device(host)
            .action(action.as_str())
            .outcome("deny")
            .detail(json!({ "port": port, "reason": reason, "via": "direct-tcpip" }));
        bastion.audit(ev).await;
        Jump::Refuse
    };
    let Some(device) = device else {
        return refused(format!("{host} is not in the inventory")).await;
    };
    if action == Action::Forward && !id.permit_port_forwarding {
        return refused("the certificate does not permit port forwarding".into()).await;
    }
    if action == Action::Forward
        && !u16::try_from(port).is_ok_and(|p| device.forward_ports.allows(p))
    {
        return refused(format!(
            "port {port} of {} is not among its forward_ports in the inventory",
            device.name
        ))
        .await;
    }
    let context = json!({ "port": port, "via": "direct-tcpip" });
    let v = bastion
        .authz
        .decide_audited(id, &device.name, action, context)
        .await;
    match (v.allowed, action) {
        (true, Action::Forward) => Jump::Forward { device },
        (true, _) => Jump::Inner {
            device,
            refusal: None,
        },
        (false, Action::Forward) => Jump::Refuse,
        (false, _) => Jump::Inner {
            refusal: Some(format!(
                "oobgate: access to {} denied: {}\r\n\
                 Ask for time-bound access: ssh bastion request {} DURATION REASON\r\n",
                device.name, v.reason, device.name
            )),
            device,
        },
    }
}
