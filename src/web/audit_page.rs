//! The audit chain's state (`GET /audit`, policy `audit` on `bastion`): whether the hash
//! chain verifies end to end (and where it breaks if not), its head, and the latest events.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::json;

use super::layout::{page, when, Page};
use super::login::Viewer;
use super::App;
use crate::policy::Action;

/// `GET /audit`.
pub(crate) async fn page_of(State(app): State<App>, viewer: Viewer) -> Response {
    let bastion = &app.bastion;
    let v = bastion
        .authz
        .decide_audited(
            &viewer.id,
            "bastion",
            Action::Audit,
            json!({ "via": "web" }),
        )
        .await;
    if !v.allowed {
        return Page::forbidden(
            "The policy does not let you read the audit log (action audit on bastion).",
        );
    }
    let report = match bastion.stores.audit.verify().await {
        Ok(r) => r,
        Err(e) => return Page::failed(&format!("the audit chain cannot be read: {e}")),
    };
    let head = bastion.stores.audit.head().await.ok().flatten();
    let latest = bastion.stores.audit.tail(50).await.unwrap_or_default();
    let body = html! {
        @match &report.first_problem {
            None => p { span.badge.ok { "Chain intact" } " " (report.rows_checked) " events verified"
                @if let Some((id, hash)) = &head { ", head #" (id) " " code { (hash) } } },
            Some(p) => p { span.badge.bad { "Chain BROKEN at event #" (p.id) } " " (p.reason)
                " (" (report.rows_checked) " events checked)" },
        }
        h2 { "Latest events" }
        table.events {
            thead { tr { th { "#" } th { "Time" } th { "Kind" } th { "User" } th { "Device" } th { "Outcome" } th { "Detail" } } }
            tbody {
                @for e in latest.iter().rev() {
                    tr {
                        td.num { (e.id) }
                        td { (when(&e.ts)) }
                        td { (e.kind) }
                        td { (e.user.as_deref().unwrap_or("")) }
                        td { (e.device.as_deref().unwrap_or("")) }
                        td { (e.outcome.as_deref().unwrap_or("")) }
                        td { code { (e.detail.to_string()) } }
                    }
                }
            }
        }
    };
    page(&viewer, "Audit chain", false, body).into_response()
}
