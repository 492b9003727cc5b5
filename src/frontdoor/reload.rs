//! A reload (SIGHUP): what can change live is re-read now, the policy and inventory
//! through the same path as the file watcher and the revocation list through its own; a
//! file that does not load keeps the last good version. What the running bastion cannot
//! take live (listen address, data dir, stores, CAs, limits...) is compared with the
//! config file and named as needing a restart. The outcome is logged and audited as
//! `config.reloaded`.

use serde_json::json;

use crate::audit::Event;
use crate::bastion::Bastion;
use crate::config::Config;

/// What one reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// What was reloaded and is in force now.
    pub reloaded: Vec<&'static str>,
    /// What could not be reloaded and why (the last good version stays in force).
    pub failed: Vec<(&'static str, String)>,
    /// Config keys changed in the file that take effect only at a restart.
    pub need_restart: Vec<&'static str>,
}

/// Reloads policy, inventory and revocation list, and reports.
pub async fn reload(bastion: &Bastion) -> ReloadReport {
    let mut report = ReloadReport::default();
    let running = &bastion.config;
    match bastion
        .policy
        .reload_files(&running.policy_dir, &running.inventory)
        .await
    {
        Ok(_) => report.reloaded.extend(["policy", "inventory"]),
        Err(e) => report.failed.push(("policy and inventory", e.to_string())),
    }
    if running.auth.revoked.is_some() {
        match bastion.validator.revocation_list().reload() {
            Ok(()) => report.reloaded.push("revocation list"),
            Err(e) => report.failed.push(("revocation list", e)),
        }
    }
    match Config::load(&running.path) {
        Ok(file) => report.need_restart = changed_keys(running, &file),
        Err(e) => report.failed.push(("config file", e.to_string())),
    }
    let detail = json!({
        "reloaded": report.reloaded,
        "failed": report.failed.iter().map(|(what, why)| json!({ "what": what, "error": why })).collect::<Vec<_>>(),
        "restart_needed": report.need_restart,
    });
    if report.failed.is_empty() {
        tracing::info!(reloaded = ?report.reloaded, restart_needed = ?report.need_restart, "reloaded");
    } else {
        tracing::error!(
            reloaded = ?report.reloaded,
            failed = ?report.failed,
            restart_needed = ?report.need_restart,
            "reload incomplete: what failed keeps its last good version"
        );
    }
    let outcome = if report.failed.is_empty() {
        "ok"
    } else {
        "error"
    };
    bastion
        .audit(
            Event::new("config.reloaded")
                .outcome(outcome)
                .detail(detail),
        )
        .await;
    report
}

/// The config keys whose values differ between the running config and the file; none of
/// them is taken live.
fn changed_keys(running: &Config, file: &Config) -> Vec<&'static str> {
    let same =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") == format!("{b:?}");
    let pairs: [(&'static str, bool); 17] = [
        ("listen", running.listen == file.listen),
        ("data_dir", running.data_dir == file.data_dir),
        ("policy_dir", running.policy_dir == file.policy_dir),
        ("inventory", running.inventory == file.inventory),
        ("recording_dir", running.recording_dir == file.recording_dir),
        ("host_names", running.host_names == file.host_names),
        ("auth", same(&running.auth, &file.auth)),
        ("limits", same(&running.limits, &file.limits)),
        ("recording", same(&running.recording, &file.recording)),
        ("secrets", same(&running.secrets, &file.secrets)),
        ("access", same(&running.access, &file.access)),
        ("webhook", same(&running.webhook, &file.webhook)),
        ("audit", same(&running.audit, &file.audit)),
        ("log_format", running.log_format == file.log_format),
        ("metrics", running.metrics == file.metrics),
        ("web", same(&running.web, &file.web)),
        ("alert", same(&running.alerts, &file.alerts)),
    ];
    pairs
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(key, _)| key)
        .collect()
}
