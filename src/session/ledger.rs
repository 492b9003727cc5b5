//! A session's start and end in the stores: its row in the session ledger and its
//! `session.start` / `session.end` events, written the same way for device sessions and
//! console attaches.

use serde_json::json;

use crate::audit::Event;
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::inventory::Device;
use crate::store::{SessionEnd, SessionStart};

/// Writes the start of session `session_id`; `action` is what was authorized and `detail`
/// adds to the event's detail.
pub(super) async fn started(
    bastion: &Bastion,
    id: &Identity,
    device: &Device,
    session_id: &str,
    action: &str,
    mut detail: serde_json::Value,
) {
    let recording = bastion.stores.recordings.location(session_id);
    if let Some(map) = detail.as_object_mut() {
        map.insert("session".into(), json!(session_id));
        map.insert("recording".into(), json!(recording));
    }
    bastion
        .audit(
            Event::new("session.start")
                .user(&id.user)
                .source(id.source.to_string())
                .device(&device.name)
                .action(action)
                .outcome("ok")
                .detail(detail),
        )
        .await;
    let row = SessionStart {
        id: session_id.to_string(),
        user: id.user.clone(),
        roles: id.roles.clone(),
        device: device.name.clone(),
        kind: device.kind.as_str().to_string(),
        source: id.source.to_string(),
        recording: Some(recording),
    };
    if let Err(e) = bastion.stores.sessions.start(&row).await {
        tracing::error!(error = %e, "cannot store session start");
    }
}

/// Writes the end of session `session_id`; `recording_error` is why the recording could
/// not be sealed, if it could not.
pub(super) async fn ended(
    bastion: &Bastion,
    id: &Identity,
    device: &Device,
    session_id: &str,
    end: &SessionEnd,
    clean: bool,
    recording_error: Option<String>,
) {
    if let Err(e) = bastion.stores.sessions.end(session_id, end).await {
        tracing::error!(error = %e, "cannot store session end");
    }
    bastion
        .audit(
            Event::new("session.end")
                .user(&id.user)
                .source(id.source.to_string())
                .device(&device.name)
                .outcome(if clean && recording_error.is_none() {
                    "ok"
                } else {
                    "error"
                })
                .detail(json!({
                    "session": session_id,
                    "reason": end.end_reason,
                    "exit_status": end.exit_status,
                    "bytes_in": end.bytes_in,
                    "bytes_out": end.bytes_out,
                    "recording_sha256": end.recording_sha256,
                    "recording_error": recording_error,
                })),
        )
        .await;
}
