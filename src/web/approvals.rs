//! Access requests in the browser (`GET /requests`): the viewer's own and those they may
//! approve, with approve and deny buttons only where policy allows `approve` on the
//! target. The buttons are a convenience: `POST /requests/N/approve|deny` (and its API
//! twin) goes through the same access service as `ssh bastion approve`, which decides by
//! policy and refuses one's own request, and every POST must carry the login's CSRF token.

use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::layout::{page, Page};
use super::login::Viewer;
use super::App;
use crate::access::{shown_state, AccessError, AccessRequest, RequestsView, State as ReqState};
use crate::audit::rfc3339;

/// The form of an approve or deny button.
#[derive(Deserialize)]
pub(crate) struct Decision {
    csrf: String,
    #[serde(default)]
    note: String,
}

/// Approves or denies request `n` as `viewer`; the error is the status and why.
pub(crate) async fn decide_request(
    app: &App,
    viewer: &Viewer,
    n: i64,
    verb: &str,
    note: &str,
) -> Result<AccessRequest, (StatusCode, String)> {
    let svc = &app.bastion.requests;
    let done = match verb {
        "approve" => svc.approve(&viewer.id, n).await,
        "deny" => {
            let reason = if note.trim().is_empty() {
                "denied in the web console"
            } else {
                note
            };
            svc.deny(&viewer.id, n, reason).await
        }
        other => return Err((StatusCode::NOT_FOUND, format!("no action {other:?}"))),
    };
    done.map_err(|e| {
        let status = match e {
            AccessError::Forbidden(_) => StatusCode::FORBIDDEN,
            AccessError::NotFound(_) => StatusCode::NOT_FOUND,
            AccessError::Invalid(_) | AccessError::WrongState { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, e.to_string())
    })
}

/// `GET /requests`.
pub(crate) async fn page_of(State(app): State<App>, viewer: Viewer) -> Response {
    let svc = &app.bastion.requests;
    let rows = match svc.visible(&viewer.id, RequestsView::All).await {
        Ok(r) => r,
        Err(e) => return Page::failed(&e.to_string()),
    };
    let now = SystemTime::now();
    let mut shown = Vec::new();
    for r in rows {
        let state = shown_state(&r, now);
        let can = state == ReqState::Pending && svc.may_approve(&viewer.id, &r).await;
        shown.push((r, state, can));
    }
    let body = html! {
        @if shown.is_empty() {
            p { "No access requests of yours or for you to approve." }
        } @else {
            table.requests {
                thead { tr { th { "#" } th { "Requester" } th { "Target" } th { "Actions" } th { "For" } th { "Reason" } th { "State" } th {} } }
                tbody {
                    @for (r, state, can) in &shown {
                        tr data-request=(r.id) {
                            td.num { (r.id) }
                            td { (r.requester) }
                            td { (r.target.to_string()) }
                            td { (r.actions_display()) }
                            td { (humantime::format_duration(r.duration)) }
                            td { (r.reason) @if let Some(t) = &r.ticket { " [" (t) "]" } }
                            td { (state.as_str())
                                 @if let Some(end) = r.grant_end { " until " (rfc3339(end)) } }
                            td {
                                @if *can {
                                    form.inline method="post" action={ "/requests/" (r.id) "/approve" } {
                                        input type="hidden" name="csrf" value=(viewer.csrf);
                                        button.approve type="submit" { "Approve" }
                                    }
                                    form.inline method="post" action={ "/requests/" (r.id) "/deny" } {
                                        input type="hidden" name="csrf" value=(viewer.csrf);
                                        input name="note" placeholder="why" required;
                                        button.deny type="submit" { "Deny" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&viewer, "Access requests", false, body).into_response()
}

/// `POST /requests/N/approve|deny` from the page's buttons.
pub(crate) async fn decide(
    State(app): State<App>,
    viewer: Viewer,
    Path((n, verb)): Path<(i64, String)>,
    Form(form): Form<Decision>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return Page::forbidden("The form's CSRF token does not match your login.");
    }
    match decide_request(&app, &viewer, n, &verb, &form.note).await {
        Ok(_) => Redirect::to("/requests").into_response(),
        Err((StatusCode::FORBIDDEN, why)) => Page::forbidden(&why),
        Err((status, why)) => {
            let mut r = Page::failed(&why);
            *r.status_mut() = status;
            r
        }
    }
}
