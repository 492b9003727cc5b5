//! File transfer sessions: `sftp -J bastion DEV` and `scp -J bastion FILE DEV:PATH` (which
//! OpenSSH 9 runs over SFTP) ask for the `sftp` subsystem on the inner server, which is
//! relayed to the device's own `sftp` subsystem over the bastion's login to it. Policy:
//! `file.upload` and `file.download` on the device; a session with neither is refused.
//! Each path the session then names is judged on its own ([`judge`]): path rules of the
//! policy (`file.download:/flash/`) may allow some files and not others.
//! Legacy `scp -O` (an `scp -t`/`scp -f` command on the device) is refused, naming it: its
//! files could only be audited by parsing the old rcp protocol, which the bastion does not.

use serde_json::json;

use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::inventory::{Device, DeviceKind};
use crate::policy::Action;

use super::sftp_audit::Dir;
use super::sftp_ops::Need;

/// What a transfer session may do, as policy decided it when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// `file.upload`.
    pub upload: bool,
    /// `file.download`.
    pub download: bool,
}

/// For a session starting as `start`: `Some` for a transfer (what it may do), `None` for
/// anything else; `Err` is the refusal for the admin (a denied transfer, legacy scp).
pub async fn check(
    bastion: &Bastion,
    id: &Identity,
    device: &Device,
    start: &super::Start,
) -> Result<Option<Allowed>, String> {
    if start.command.as_deref().is_some_and(is_legacy_scp) {
        return Err(LEGACY_SCP.into());
    }
    match &start.subsystem {
        Some(name) => decide(bastion, id, device, name).await.map(Some),
        None => Ok(None),
    }
}

/// Decides (audited) whether `id` may transfer files with `device` over `subsystem`;
/// `Err` is the message for the admin.
pub async fn decide(
    bastion: &Bastion,
    id: &Identity,
    device: &Device,
    subsystem: &str,
) -> Result<Allowed, String> {
    if subsystem != "sftp" {
        return Err(format!(
            "{} does not offer the {subsystem:?} subsystem through the bastion (only \"sftp\")",
            device.name
        ));
    }
    if device.kind != DeviceKind::Ssh {
        return Err(format!(
            "{} is a {} device: file transfer needs an SSH device",
            device.name,
            device.kind.as_str()
        ));
    }
    let mut reasons = Vec::new();
    let mut verdict = |allowed: bool, action: Action, reason: String| {
        if !allowed {
            reasons.push(format!("{action}: {reason}"));
        }
        allowed
    };
    let context = json!({ "via": "sftp" });
    let up = bastion
        .authz
        .decide_audited(id, &device.name, Action::FileUpload, context.clone())
        .await;
    let upload = verdict(up.allowed, Action::FileUpload, up.reason);
    let down = bastion
        .authz
        .decide_audited(id, &device.name, Action::FileDownload, context)
        .await;
    let download = verdict(down.allowed, Action::FileDownload, down.reason);
    if !upload && !download {
        return Err(format!(
            "file transfer with {} denied (neither file.upload nor file.download is allowed): {}",
            device.name,
            reasons.join("; ")
        ));
    }
    Ok(Allowed { upload, download })
}

/// Who asks about a path, and what the session was allowed at its start.
pub struct Asker<'a> {
    /// The bastion (its authorizer).
    pub bastion: &'a Bastion,
    /// The admin.
    pub id: &'a Identity,
    /// The device's name.
    pub device: &'a str,
    /// The session's actions.
    pub allowed: Allowed,
}

/// A path refused: which action, the line for the client, the reason for the audit.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The action refused (the audit event's kind).
    pub dir: Dir,
    /// For the client (no policy file names).
    pub message: String,
    /// For the audit log: the policy's reason.
    pub reason: String,
}

/// Whether the normalised `path` may be used as `need` says.
pub async fn judge(who: &Asker<'_>, need: Need, path: &str) -> Result<(), Refusal> {
    match need {
        Need::Upload => judge_one(who, Dir::Upload, path).await,
        Need::Download => judge_one(who, Dir::Download, path).await,
        Need::Both => {
            judge_one(who, Dir::Upload, path).await?;
            judge_one(who, Dir::Download, path).await
        }
        Need::Either => match judge_one(who, Dir::Upload, path).await {
            Ok(()) => Ok(()),
            Err(up) => judge_one(who, Dir::Download, path)
                .await
                .map_err(|down| Refusal {
                    dir: Dir::Download,
                    message: format!(
                        "neither file.upload nor file.download of {path} is allowed on {}",
                        who.device
                    ),
                    reason: format!("{}; {}", up.reason, down.reason),
                }),
        },
    }
}

async fn judge_one(who: &Asker<'_>, dir: Dir, path: &str) -> Result<(), Refusal> {
    let (session, action) = match dir {
        Dir::Upload => (who.allowed.upload, Action::FileUpload),
        Dir::Download => (who.allowed.download, Action::FileDownload),
    };
    if !session {
        let message = format!("{action} is not allowed on {}", who.device);
        return Err(Refusal {
            dir,
            reason: message.clone(),
            message,
        });
    }
    let v = who
        .bastion
        .authz
        .decide_path(who.id, who.device, action, path)
        .await;
    if v.allowed {
        return Ok(());
    }
    let message = format!("{action} of {path} is not allowed on {}", who.device);
    Err(Refusal {
        dir,
        reason: format!("{message}: {}", v.reason),
        message,
    })
}

/// Whether `command` is legacy scp's remote end (`scp -t` to receive, `scp -f` to send).
pub fn is_legacy_scp(command: &str) -> bool {
    let mut words = command.split_whitespace();
    if !words
        .next()
        .is_some_and(|w| w == "scp" || w.ends_with("/scp"))
    {
        return false;
    }
    words
        .any(|w| w.starts_with('-') && !w.starts_with("--") && (w.contains('t') || w.contains('f')))
}

/// The refusal for a legacy scp command.
pub const LEGACY_SCP: &str = "legacy scp (scp -O) is not relayed: its files cannot be \
    audited; run scp without -O (it then uses SFTP) or sftp";

#[cfg(test)]
mod tests {
    use super::is_legacy_scp;

    #[test]
    fn legacy_scp_commands_are_recognised() {
        assert!(is_legacy_scp("scp -t /tmp/"));
        assert!(is_legacy_scp("scp -v -f /etc/hosts"));
        assert!(is_legacy_scp("/usr/bin/scp -pt /tmp"));
        assert!(!is_legacy_scp("show running-config"));
        assert!(!is_legacy_scp("scpx -t"));
        assert!(!is_legacy_scp("scp"));
    }
}
