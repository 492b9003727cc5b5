//! The optional webhook (`[webhook]`): access requests, approvals, denials, revocations and
//! break-glass are POSTed as JSON so teams can wire chat or ticketing. Delivery never blocks
//! a session: events go to a bounded queue drained by one task, which retries failures with
//! backoff and gives up (with a warning) after `retries`.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::metrics::Metrics;

/// Events that may wait for delivery; more are dropped (with a warning).
pub const QUEUE: usize = 1000;
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Settings of the webhook (`[webhook]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL to POST to.
    pub url: String,
    /// Per-attempt timeout.
    #[serde(default = "timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts after the first one failed.
    #[serde(default = "retries")]
    pub retries: u32,
    /// File (mode 0600) holding a shared secret: the body's HMAC-SHA256 is sent as
    /// `X-Oobgate-Signature: sha256=HEX`.
    pub secret_file: Option<PathBuf>,
}

fn timeout() -> Duration {
    Duration::from_secs(5)
}
fn retries() -> u32 {
    5
}

/// Errors in the webhook settings.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The URL is not an http(s) URL.
    #[error("webhook.url: {0:?} is not an http:// or https:// URL")]
    Url(String),
    /// The secret file is unusable.
    #[error("webhook.secret_file: {path}: {reason}")]
    Secret {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl NotifyError {
    /// The `[webhook]` setting at fault and what is wrong with it, for config errors.
    pub fn setting(&self) -> (&'static str, String) {
        match self {
            NotifyError::Url(url) => (
                "webhook.url",
                format!("{url:?} is not an http:// or https:// URL"),
            ),
            NotifyError::Secret { path, reason } => (
                "webhook.secret_file",
                format!("{}: {reason}", path.display()),
            ),
        }
    }
}

impl WebhookConfig {
    /// Checks the URL and the secret file (config load, `oobgate check`).
    pub fn validate(&self) -> Result<(), NotifyError> {
        self.load().map(|_| ())
    }

    /// Checks the URL and loads the secret.
    fn load(&self) -> Result<(url::Url, Option<Secret>), NotifyError> {
        let url = url::Url::parse(&self.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| NotifyError::Url(self.url.clone()))?;
        let secret = match &self.secret_file {
            None => None,
            Some(path) => {
                let bad = |reason: String| NotifyError::Secret {
                    path: path.clone(),
                    reason,
                };
                let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(bad(format!(
                        "mode {mode:04o} lets others read it; chmod 600 it"
                    )));
                }
                let text = Zeroizing::new(std::fs::read(path).map_err(|e| bad(e.to_string()))?);
                let trimmed = text.trim_ascii();
                if trimmed.is_empty() {
                    return Err(bad("is empty".into()));
                }
                Some(Zeroizing::new(trimmed.to_vec()))
            }
        };
        Ok((url, secret))
    }
}

/// The shared secret, wiped from memory when dropped.
type Secret = Zeroizing<Vec<u8>>;

/// Hands events to the webhook task; cheap to clone. Disabled when no webhook is set.
#[derive(Clone, Debug)]
pub struct Notifier {
    tx: Option<mpsc::Sender<String>>,
    bastion: String,
    metrics: Metrics,
}

impl Notifier {
    /// A notifier for `cfg` (`None`: one that drops everything). Must be called inside a
    /// tokio runtime when a webhook is configured.
    pub fn new(cfg: Option<&WebhookConfig>, bastion: &str) -> Result<Notifier, NotifyError> {
        Notifier::with_metrics(cfg, bastion, Metrics::default())
    }

    /// Like [`Notifier::new`], counting dropped events in `metrics`.
    pub fn with_metrics(
        cfg: Option<&WebhookConfig>,
        bastion: &str,
        metrics: Metrics,
    ) -> Result<Notifier, NotifyError> {
        let Some(cfg) = cfg else {
            return Ok(Notifier::disabled());
        };
        let (url, secret) = cfg.load()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifyError::Url(format!("{}: {e}", cfg.url)))?;
        let target = Target {
            client,
            url,
            secret,
            retries: cfg.retries,
        };
        tokio::spawn(deliver(target, rx, metrics.clone()));
        Ok(Notifier {
            tx: Some(tx),
            bastion: bastion.to_string(),
            metrics,
        })
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier {
            tx: None,
            bastion: String::new(),
            metrics: Metrics::default(),
        }
    }

    /// Events waiting for delivery now.
    pub fn queue_depth(&self) -> usize {
        self.tx
            .as_ref()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity())
    }

    /// Queues event `kind` with `payload`'s fields; never blocks, never fails.
    pub fn send(&self, kind: &str, payload: serde_json::Value) {
        let Some(tx) = &self.tx else {
            return;
        };
        let mut body = serde_json::json!({
            "kind": kind,
            "time": crate::audit::now_rfc3339(),
            "bastion": self.bastion,
        });
        if let (Some(b), serde_json::Value::Object(fields)) = (body.as_object_mut(), payload) {
            for (k, v) in fields {
                b.entry(k).or_insert(v);
            }
        }
        if tx.try_send(body.to_string()).is_err() {
            self.metrics.webhook_failed();
            tracing::warn!(kind, "webhook queue full or stopped: event dropped");
        }
    }
}

fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Where and how events are POSTed.
struct Target {
    client: reqwest::Client,
    url: url::Url,
    secret: Option<Secret>,
    retries: u32,
}

async fn deliver(target: Target, mut rx: mpsc::Receiver<String>, metrics: Metrics) {
    let Target {
        client,
        url,
        secret,
        retries,
    } = target;
    // Webhook URLs often carry a token (user info, query): logs name only the endpoint.
    let shown = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or("?"),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    ) + url.path();
    while let Some(body) = rx.recv().await {
        let mut backoff = Duration::from_millis(500);
        for attempt in 0..=retries {
            let mut req = client
                .post(url.clone())
                .header("content-type", "application/json")
                .body(body.clone());
            if let Some(s) = &secret {
                req = req.header("x-oobgate-signature", signature(s, body.as_bytes()));
            }
            let failure = match req.send().await {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => Some(format!("HTTP {}", r.status())),
                Err(e) => Some(e.without_url().to_string()),
            };
            let Some(why) = failure else {
                break;
            };
            if attempt == retries {
                metrics.webhook_failed();
                tracing::warn!(url = %shown, attempts = attempt + 1, "webhook delivery failed, event dropped: {why}");
                break;
            }
            tracing::debug!(url = %shown, "webhook delivery failed, retrying: {why}");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

#[cfg(test)]
#[path = "notify_tests.rs"]
mod tests;
