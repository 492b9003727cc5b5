//! Every second: lapsed requests and grants expire (ending their sessions), always-on
//! consoles a reloaded inventory added get their link, the revocation list is re-read, its changes of state are reported (log, audit event, webhook: an
//! unusable list refuses every new login, so someone must hear of it at once), and
//! sessions whose certificate a readable list now names are ended. With several nodes, a
//! list read again is shared with the other nodes.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::audit::Event;
use crate::bastion::Bastion;
use crate::identity::ListNews;

/// Runs until the bastion shuts down.
pub async fn run(bastion: Arc<Bastion>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut inventory = bastion.policy.inventory();
    loop {
        tokio::select! {
            _ = bastion.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = bastion.requests.sweep().await {
            tracing::error!(error = %e, "access sweep failed");
        }
        let now = bastion.policy.inventory();
        if !Arc::ptr_eq(&now, &inventory) {
            // Registering is idempotent: only the consoles not running yet start.
            super::operations::start_consoles(&bastion);
            inventory = now;
        }
        let list = bastion.validator.revocation_list();
        list.reload_if_changed();
        for news in list.take_news() {
            let loaded = matches!(news, ListNews::Loaded { .. });
            report(&bastion, news).await;
            if let (true, Some(signals)) = (loaded, &bastion.stores.signals) {
                super::propagate::share_revocations(&bastion, signals.as_ref()).await;
            }
        }
        if !bastion.live.is_empty() {
            bastion.live.end_where(bastion.validator.revocations());
        }
    }
}

async fn report(bastion: &Bastion, news: ListNews) {
    let (kind, outcome, detail) = match news {
        ListNews::Unusable(reason) => (
            "revocation.unusable",
            "alert",
            json!({ "reason": reason, "effect": "new logins refused until the list is fixed; live sessions continue under the last good list" }),
        ),
        ListNews::Loaded {
            serials,
            key_ids,
            fixed,
        } => (
            "revocation.loaded",
            "ok",
            json!({ "serials": serials, "key_ids": key_ids, "fixed": fixed }),
        ),
    };
    let alert = outcome == "alert";
    bastion
        .audit(Event::new(kind).outcome(outcome).detail(detail.clone()))
        .await;
    if alert || detail["fixed"] == true {
        bastion.notifier.send(kind, detail);
    }
}

/// Every minute: one `auth.noise` row per address whose pre-authentication noise was
/// counted instead of written.
pub async fn noise(bastion: Arc<Bastion>, admission: Arc<super::admission::Admission>) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = bastion.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for (ip, suppressed) in admission.take_noise() {
            let ev = Event::new("auth.noise")
                .source(ip.to_string())
                .outcome("deny")
                .detail(json!({
                    "suppressed": suppressed,
                    "what": "pre-authentication refusals, timeouts and refused connections",
                    "per": "minute",
                }));
            bastion.audit(ev).await;
        }
    }
}
