//! What both live views (a session's and a console's) share: the check that a WebSocket
//! upgrade comes from the console's own pages, one event of the player's `v2.asciicast`
//! stream protocol, and whether the viewer's login still holds (checked every second, so
//! an expiry or a revocation ends an open view at once).

use std::time::SystemTime;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::{header, HeaderMap};
use serde_json::json;

use super::login::Viewer;
use super::App;

/// Whether the upgrade comes from a page of this console (no cross-site WebSocket).
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
    match (host, origin) {
        (Some(h), Some(o)) => o.strip_prefix("https://") == Some(h),
        _ => false,
    }
}

/// One event of the stream: `[time, code, data]`.
pub(super) fn frame(t: f64, code: char, data: &[u8]) -> Message {
    let text = String::from_utf8_lossy(data);
    Message::Text(json!([t, code.to_string(), text]).to_string().into())
}

/// Why the viewer's login no longer holds, if it does not.
pub(super) async fn login_over(app: &App, viewer: &Viewer) -> Option<String> {
    let id = &viewer.id;
    if !app.logins.still_open(viewer).await {
        return Some("your web login ended".into());
    }
    if id.valid_before.is_some_and(|t| t <= SystemTime::now()) {
        return Some("your certificate expired".into());
    }
    app.bastion
        .validator
        .revocation_list()
        .check(id.serial, &id.key_id)
        .map(|_| "your certificate was revoked".into())
}

/// Ends a live view: with `why`, a normal close the player shows as the stream's end.
pub(super) async fn end(ws: &mut WebSocket, why: Option<String>) {
    if let Some(reason) = why {
        let close = CloseFrame {
            code: 1000,
            reason: reason.into(),
        };
        let _ = ws.send(Message::Close(Some(close))).await;
    }
}
