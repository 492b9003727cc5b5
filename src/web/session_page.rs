//! A session's page (`GET /session?id=ID&t=SECONDS`): the player (opened at `t`, so a
//! search hit lands on its moment), a timeline of the recording's markers and the policy
//! decisions around the session, the session's audit events, and an integrity badge: the
//! recording's SHA-256 now against the value sealed into the audit chain at its end.
//! `GET /cast?id=ID` is the recording itself, for the player. Both need `replay` on the
//! session's device; a session the viewer may not see reads as one that does not exist.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::layout::{page, when, Page};
use super::login::Viewer;
use super::App;
use crate::audit::{EventFilter, EventRow};
use crate::frontdoor::commands::{find_session, format_offset};
use crate::recording::Recording;
use crate::store::SessionRow;

/// `?id=&t=`.
#[derive(Deserialize)]
pub(crate) struct At {
    id: String,
    t: Option<f64>,
}

/// What the integrity badge says.
enum Integrity {
    Intact,
    Tampered(String),
    Unsealed,
}

fn integrity(row: &SessionRow, bytes: &[u8]) -> Integrity {
    let now = hex::encode(Sha256::digest(bytes));
    match &row.recording_sha256 {
        None => Integrity::Unsealed,
        Some(sealed) if sealed.eq_ignore_ascii_case(&now) => Integrity::Intact,
        Some(_) => Integrity::Tampered(now),
    }
}

fn seconds_between(from: &str, to: &str) -> Option<f64> {
    use time::format_description::well_known::Rfc3339;
    let a = time::OffsetDateTime::parse(from, &Rfc3339).ok()?;
    let b = time::OffsetDateTime::parse(to, &Rfc3339).ok()?;
    Some((b - a).as_seconds_f64())
}

/// The audit events of the session: those naming it, and the decisions on its device by
/// its user from just before it started to its end.
async fn events_of(app: &App, row: &SessionRow) -> Vec<EventRow> {
    let filter = EventFilter {
        user: Some(row.user.clone()),
        since: Some(row.started.get(..17).unwrap_or(&row.started).to_string()),
        limit: Some(1000),
        ..Default::default()
    };
    let rows = app
        .bastion
        .stores
        .audit
        .query(&filter)
        .await
        .unwrap_or_default();
    let ended = row.ended.clone();
    let mut mine: Vec<EventRow> = rows
        .into_iter()
        .filter(|e| {
            let named = e.detail.get("session").and_then(|s| s.as_str()) == Some(&row.id);
            let around = e.kind == "policy.decision"
                && e.device.as_deref() == Some(&row.device)
                && ended.as_deref().is_none_or(|end| e.ts.as_str() <= end);
            named || around
        })
        .collect();
    mine.reverse();
    mine
}

fn badge(i: &Integrity, row: &SessionRow) -> Markup {
    html! {
        @match i {
            Integrity::Intact => span.badge.ok title=(row.recording_sha256.clone().unwrap_or_default()) {
                "Recording intact: SHA-256 matches the sealed value"
            },
            Integrity::Tampered(now) => span.badge.bad title=(now) {
                "Recording CHANGED: its SHA-256 differs from the sealed value"
            },
            Integrity::Unsealed => span.badge.none { "Not sealed yet (running, or ended abruptly)" },
        }
    }
}

fn timeline(rec: &Recording, events: &[EventRow], row: &SessionRow) -> Markup {
    let mut items: Vec<(f64, String, String)> = rec
        .events
        .iter()
        .filter(|e| e.code == 'm')
        .map(|e| {
            let label = String::from_utf8_lossy(&e.data).into_owned();
            (e.time, "marker".to_string(), label)
        })
        .collect();
    for e in events.iter().filter(|e| e.kind == "policy.decision") {
        let t = seconds_between(&row.started, &e.ts).unwrap_or(0.0).max(0.0);
        let what = format!(
            "{} {} on {}: {}",
            e.outcome.as_deref().unwrap_or(""),
            e.action.as_deref().unwrap_or(""),
            e.device.as_deref().unwrap_or(""),
            e.detail["reason"].as_str().unwrap_or("")
        );
        items.push((t, "decision".into(), what));
    }
    items.sort_by(|a, b| a.0.total_cmp(&b.0));
    html! {
        ol.timeline {
            @for (t, kind, label) in &items {
                li class=(kind) {
                    a.seek href="#" data-seek=(format!("{t:.1}")) { (format_offset((t * 1000.0) as u64)) }
                    " " span.kind { (kind) } " " (label)
                }
            }
        }
    }
}

fn events_table(events: &[EventRow]) -> Markup {
    html! {
        table.events {
            thead { tr { th { "#" } th { "Time" } th { "Kind" } th { "Outcome" } th { "Action" } th { "Detail" } } }
            tbody {
                @for e in events {
                    tr {
                        td.num { (e.id) }
                        td { (when(&e.ts)) }
                        td { (e.kind) }
                        td { (e.outcome.as_deref().unwrap_or("")) }
                        td { (e.action.as_deref().unwrap_or("")) }
                        td { code { (e.detail.to_string()) } }
                    }
                }
            }
        }
    }
}

fn markers_json(rec: &Recording) -> String {
    let m: Vec<serde_json::Value> = rec
        .events
        .iter()
        .filter(|e| e.code == 'm')
        .map(|e| serde_json::json!([e.time, String::from_utf8_lossy(&e.data)]))
        .collect();
    serde_json::Value::Array(m).to_string()
}

/// `GET /session?id=&t=`.
pub(crate) async fn page_of(
    State(app): State<App>,
    viewer: Viewer,
    Query(at): Query<At>,
) -> Response {
    let row = match find_session(&app.bastion, &viewer.id, &at.id).await {
        Ok(r) => r,
        Err(e) => return Page::not_found(&e),
    };
    let bytes = match app.bastion.stores.recordings.raw(&row.id).await {
        Ok(b) => b,
        Err(e) => return Page::failed(&format!("the recording cannot be read: {e}")),
    };
    let check = integrity(&row, &bytes);
    let path = std::path::PathBuf::from(app.bastion.stores.recordings.location(&row.id));
    let rec = match Recording::parse(&bytes, &path) {
        Ok(r) => r,
        Err(e) => return Page::failed(&format!("the recording cannot be parsed: {e}")),
    };
    let events = events_of(&app, &row).await;
    let start = at.t.filter(|t| t.is_finite() && *t >= 0.0).unwrap_or(0.0);
    let cast = format!(
        "/cast?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("id", &row.id)
            .finish()
    );
    let body = html! {
        p { (badge(&check, &row)) }
        table.meta {
            tr { th { "User" } td { (row.user) " (" (row.roles) ")" } th { "Device" } td { (row.device) " (" (row.kind) ")" } }
            tr { th { "Started" } td { (when(&row.started)) } th { "Ended" } td { (row.ended.as_deref().map(when).unwrap_or_else(|| "(running)".into())) } }
            tr { th { "From" } td { (row.source) } th { "End" } td { (row.end_reason.as_deref().unwrap_or("")) } }
        }
        div #player data-cast=(cast) data-start=(format!("{start:.3}")) data-markers=(markers_json(&rec)) {}
        h2 { "Timeline" }
        (timeline(&rec, &events, &row))
        h2 { "Audit events" }
        (events_table(&events))
    };
    page(&viewer, &format!("Session {}", row.id), true, body).into_response()
}

/// `GET /cast?id=`: the recording, for the player.
pub(crate) async fn cast(State(app): State<App>, viewer: Viewer, Query(at): Query<At>) -> Response {
    let row = match find_session(&app.bastion, &viewer.id, &at.id).await {
        Ok(r) => r,
        Err(e) => return Page::not_found(&e),
    };
    match app.bastion.stores.recordings.raw(&row.id).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/x-asciicast"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            // A session without a terminal as the admin saw it, not as a staircase.
            crate::recording::for_display(&bytes).into_owned(),
        )
            .into_response(),
        Err(e) => Page::failed(&format!("the recording cannot be read: {e}")),
    }
}
