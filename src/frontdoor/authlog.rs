//! Sees the certificate refusals that russh makes before our handler runs.
//!
//! russh checks a certificate's validity window and signature itself and rejects the attempt
//! without calling the handler, so those refusals would leave no audit row. It reports them
//! only as `log` warnings. This module installs the process's `log` logger: it forwards
//! every record to `tracing` and, for those two warnings, finds the connection they belong
//! to by the tokio task id (russh runs each connection's protocol loop, our handler calls
//! included, in one task) and hands the reason to that connection's callback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::task::Id;

/// Called with the refusal reason, from inside the connection's task.
pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;

fn registry() -> &'static Mutex<HashMap<Id, Notify>> {
    static REG: OnceLock<Mutex<HashMap<Id, Notify>>> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The russh warnings that mean "certificate refused before the handler saw it".
const SIGNALS: &[(&str, &str)] = &[
    (
        "Certificate is expired or not yet valid",
        "certificate expired or not yet valid",
    ),
    (
        "Certificate signature is invalid",
        "certificate signature is invalid",
    ),
];

struct Bridge;

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if record.target().starts_with("russh") {
            let msg = record.args().to_string();
            if let Some((_, reason)) = SIGNALS.iter().find(|(s, _)| msg.contains(s)) {
                let notify = tokio::task::try_id().and_then(|id| {
                    registry()
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&id)
                        .cloned()
                });
                if let Some(n) = notify {
                    n(reason);
                    return;
                }
            }
        }
        tracing_log::format_trace(record).ok();
    }

    fn flush(&self) {}
}

/// Installs the bridge as the process's `log` logger (once; later calls do nothing).
pub fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if log::set_logger(&Bridge).is_ok() {
            log::set_max_level(log::LevelFilter::Warn);
        }
    });
}

/// Registers the current task's connection; dropping the guard unregisters it.
pub fn register(notify: Notify) -> Option<Registration> {
    let id = tokio::task::try_id()?;
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, notify);
    Some(Registration(id))
}

/// Keeps a connection registered while alive.
pub struct Registration(Id);

impl Drop for Registration {
    fn drop(&mut self) {
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}
