//! What runs beside the front door: always-on consoles, the metrics endpoint (with the
//! gauges sampled at each scrape) and the reloads asked for by SIGHUP.

use std::sync::Arc;

use tokio::net::TcpListener;

use super::{reload, service, FrontdoorError, Result};
use crate::bastion::Bastion;

/// Opens the link of every always-on console of the inventory.
pub fn start_consoles(bastion: &Arc<Bastion>) {
    for device in bastion.policy.inventory().devices() {
        if device.kind.is_console() && device.always_on {
            if let Err(e) = crate::session::register_console(bastion, device) {
                tracing::error!(device = %device.name, error = %e, "cannot start always-on console");
            }
        }
    }
}

/// Serves `[metrics] listen`, if set, until the bastion shuts down.
pub async fn start_metrics(bastion: &Arc<Bastion>) -> Result<()> {
    let Some(addr) = bastion.config.metrics else {
        return Ok(());
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| FrontdoorError::Metrics(addr, e))?;
    tracing::info!(listen = %addr, "metrics endpoint listening");
    bastion.tasks.spawn(crate::metrics::serve(
        listener,
        bastion.metrics.clone(),
        sampler(bastion),
        bastion.tasks.clone(),
        bastion.shutdown.clone(),
    ));
    Ok(())
}

/// Refreshes the sampled gauges: console link states and the webhook queue.
fn sampler(bastion: &Arc<Bastion>) -> crate::metrics::Sampler {
    let weak = Arc::downgrade(bastion);
    Arc::new(move |metrics| {
        let Some(bastion) = weak.upgrade() else {
            return;
        };
        let consoles = bastion.consoles.list();
        metrics.console_links(consoles.iter().map(|c| (c.name.as_str(), c.link.name())));
        metrics.webhook_queue(bastion.notifier.queue_depth());
    })
}

/// Reloads (see [`reload::ReloadReport`]) at each message of `reloads`, telling the service
/// manager, until the bastion shuts down.
pub async fn reloads(bastion: Arc<Bastion>, mut reloads: tokio::sync::mpsc::Receiver<()>) {
    loop {
        tokio::select! {
            _ = bastion.shutdown.cancelled() => return,
            r = reloads.recv() => if r.is_none() { return },
        }
        service::reloading();
        reload::reload(&bastion).await;
        service::ready();
    }
}
