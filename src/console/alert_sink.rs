//! Where console alerts go once fired: the audit log (`console.alert`) and the webhook.
//!
//! Console tasks hand firings over with `try_send` on a bounded queue, so an alert never
//! holds up console output; this one task drains the queue. The hold-off of each rule
//! bounds how many firings a flood of output can make.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::audit::Event;
use crate::notify::Notifier;
use crate::store::AuditLog;

use super::matcher::Firing;

/// Firings that may wait for the audit log; more are dropped with a warning.
pub(crate) const ALERT_QUEUE: usize = 256;

/// One firing on one console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleAlert {
    /// The console.
    pub console: String,
    /// What fired.
    pub firing: Firing,
}

impl ConsoleAlert {
    /// The fields shared by the audit event and the webhook.
    fn detail(&self) -> serde_json::Value {
        serde_json::json!({
            "rule": self.firing.rule,
            "console": self.console,
            "line": self.firing.line,
            "suppressed": self.firing.suppressed,
        })
    }

    /// The continuous-log marker.
    pub(crate) fn marker(&self) -> String {
        let mut text = format!("alert {}: {}", self.firing.rule, self.firing.line);
        if self.firing.suppressed > 0 {
            text += &format!(" ({} more held back)", self.firing.suppressed);
        }
        text
    }
}

/// Records every alert from `rx` in `audit` and sends it to the webhook, until every
/// console is gone or `stop` is cancelled (alerts already queued are still recorded).
pub async fn forward(
    mut rx: mpsc::Receiver<ConsoleAlert>,
    audit: Arc<dyn AuditLog>,
    notifier: Notifier,
    stop: CancellationToken,
) {
    loop {
        let alert = tokio::select! {
            biased;
            alert = rx.recv() => alert,
            _ = stop.cancelled() => rx.try_recv().ok(),
        };
        let Some(alert) = alert else { break };
        let detail = alert.detail();
        notifier.send("console.alert", detail.clone());
        let ev = Event::new("console.alert")
            .device(alert.console.clone())
            .action(alert.firing.rule.clone())
            .outcome("fired")
            .detail(detail);
        if let Err(e) = audit.append(ev).await {
            tracing::error!(error = %e, console = %alert.console, "audit store write failed");
        }
    }
}
