//! The console's JSON API (`/api/...`), for scripts and for the pages' buttons alike: every
//! call decides by policy itself, exactly as the pages and `ssh bastion` do; a POST needs
//! the login's CSRF token in `X-CSRF-Token`. Errors are `{"error": "..."}` with 401, 403,
//! 404 or 409.

use std::time::SystemTime;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::approvals::decide_request;
use super::browse::{visible_sessions, Filters};
use super::login::Viewer;
use super::App;
use crate::access::{shown_state, RequestsView};
use crate::frontdoor::commands::find_hits;

fn error(status: StatusCode, why: impl Into<String>) -> Response {
    (status, Json(json!({ "error": why.into() }))).into_response()
}

/// `GET /api/sessions?user=&device=&since=`.
pub(crate) async fn sessions(
    State(app): State<App>,
    viewer: Viewer,
    Query(f): Query<Filters>,
) -> Response {
    match visible_sessions(&app.bastion, &viewer.id, &f).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

/// `GET /api/search?q=&user=&device=&since=&what=`.
pub(crate) async fn search(
    State(app): State<App>,
    viewer: Viewer,
    Query(f): Query<Filters>,
) -> Response {
    let query = match f.query() {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match find_hits(&app.bastion, &viewer.id, &query).await {
        Ok(hits) => Json(
            hits.iter()
                .map(|h| {
                    json!({
                        "session": h.session.id, "user": h.session.user,
                        "device": h.session.device, "offset_ms": h.offset_ms,
                        "stream": h.stream.as_str(), "line": h.line,
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

/// `GET /api/requests`: the viewer's requests and those they may approve.
pub(crate) async fn requests(State(app): State<App>, viewer: Viewer) -> Response {
    let svc = &app.bastion.requests;
    let rows = match svc.visible(&viewer.id, RequestsView::All).await {
        Ok(r) => r,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let now = SystemTime::now();
    let mut out = Vec::new();
    for r in rows {
        let state = shown_state(&r, now);
        out.push(json!({
            "id": r.id, "requester": r.requester, "target": r.target.to_string(),
            "actions": r.actions_display(), "reason": r.reason, "state": state.as_str(),
            "may_approve": svc.may_approve(&viewer.id, &r).await,
        }));
    }
    Json(out).into_response()
}

/// The body of an API decision.
#[derive(Deserialize, Default)]
pub(crate) struct Note {
    #[serde(default)]
    note: String,
}

/// `POST /api/requests/N/approve|deny` with `X-CSRF-Token`.
pub(crate) async fn decide(
    State(app): State<App>,
    viewer: Viewer,
    headers: HeaderMap,
    Path((n, verb)): Path<(i64, String)>,
    body: Option<Json<Note>>,
) -> Response {
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !viewer.csrf_ok(token) {
        return error(
            StatusCode::FORBIDDEN,
            "X-CSRF-Token is missing or does not match the login",
        );
    }
    let note = body.map(|Json(b)| b.note).unwrap_or_default();
    match decide_request(&app, &viewer, n, &verb, &note).await {
        Ok(r) => Json(json!({ "id": r.id, "state": r.state.as_str() })).into_response(),
        Err((status, why)) => error(status, why),
    }
}
