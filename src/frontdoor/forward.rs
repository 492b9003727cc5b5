//! A policy-allowed TCP forward to a device port other than SSH (`forward` action),
//! e.g. a device's web UI: logged at start and end with the byte counts.

use std::sync::Arc;
use std::time::Duration;

use russh::server::Msg;
use russh::Channel;
use serde_json::json;

use crate::audit::Event;
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::inventory::Device;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Forwards `channel` to the device's host at `port` until either side closes.
pub async fn run(
    bastion: Arc<Bastion>,
    id: Identity,
    device: Device,
    port: u32,
    channel: Channel<Msg>,
) {
    let shutdown = bastion.shutdown.clone();
    let Some(host) = device.address.host_port().map(|hp| hp.host.clone()) else {
        let _ = channel.close().await;
        return;
    };
    let event = |outcome: &str, detail: serde_json::Value| {
        Event::new("forward")
            .user(&id.user)
            .source(id.source.to_string())
            .device(&device.name)
            .action("forward")
            .outcome(outcome)
            .detail(detail)
    };
    let Ok(port) = u16::try_from(port) else {
        let _ = channel.close().await;
        return;
    };
    let target = crate::inventory::HostPort { host, port }.to_string();
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&target))
        .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            bastion
                .audit(event(
                    "error",
                    json!({ "target": target, "error": e.to_string() }),
                ))
                .await;
            let _ = channel.close().await;
            return;
        }
        Err(_) => {
            bastion
                .audit(event(
                    "error",
                    json!({ "target": target, "error": "connect timed out" }),
                ))
                .await;
            let _ = channel.close().await;
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    bastion
        .audit(event("ok", json!({ "target": target, "state": "open" })))
        .await;
    let mut stream = channel.into_stream();
    let mut tcp = tcp;
    let result = tokio::select! {
        r = tokio::io::copy_bidirectional(&mut stream, &mut tcp) => r,
        _ = shutdown.cancelled() => Ok((0, 0)),
    };
    let (up, down) = result.unwrap_or((0, 0));
    bastion
        .audit(event(
            "ok",
            json!({ "target": target, "state": "closed", "bytes_to_device": up, "bytes_from_device": down }),
        ))
        .await;
}
