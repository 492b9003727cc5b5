//! The session browser (`GET /`): recorded sessions the viewer may `replay`, filtered by
//! user, device and start time; with search text, the lines sessions showed or admins
//! typed that hold it (the index `ssh bastion search` uses), each opening the player at
//! its moment.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{page, session_href, when, Page};
use super::login::Viewer;
use super::App;
use crate::bastion::Bastion;
use crate::frontdoor::commands::{find_hits, format_offset, parse_since, replayable};
use crate::identity::Identity;
use crate::search::{Hit, Stream};
use crate::store::{SessionFilter, SessionRow};

/// The browser's filters, as the form sends them.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub device: String,
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub what: String,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

impl Filters {
    /// The search these filters ask for, or why they are wrong.
    pub(crate) fn query(&self) -> Result<crate::search::Query, String> {
        let mut q = crate::search::Query::new(self.q.trim());
        q.user = some(&self.user);
        q.device = some(&self.device);
        q.since = some(&self.since).map(|s| parse_since(&s)).transpose()?;
        q.stream = match self.what.as_str() {
            "typed" => Some(Stream::Typed),
            "shown" => Some(Stream::Shown),
            "" | "all" => None,
            other => return Err(format!("{other:?} is not typed, shown or all")),
        };
        Ok(q)
    }

    fn session_filter(&self) -> Result<SessionFilter, String> {
        let since = some(&self.since)
            .map(|s| parse_since(&s).map(crate::audit::rfc3339))
            .transpose()?;
        Ok(SessionFilter {
            user: some(&self.user),
            device: some(&self.device),
            since,
            until: None,
            limit: Some(200),
            live: false,
        })
    }
}

/// The sessions of `filters` that `id` may replay, newest first.
pub(crate) async fn visible_sessions(
    bastion: &Bastion,
    id: &Identity,
    filters: &Filters,
) -> Result<Vec<SessionRow>, String> {
    replayable(bastion, id, &filters.session_filter()?).await
}

fn form(f: &Filters) -> Markup {
    html! {
        form.filters method="get" action="/" {
            input type="search" name="q" value=(f.q) placeholder="text typed or shown, e.g. reload in 5";
            select name="what" {
                @for (v, label) in [("all", "typed and shown"), ("typed", "typed"), ("shown", "shown")] {
                    option value=(v) selected[f.what == v] { (label) }
                }
            }
            input name="user" value=(f.user) placeholder="user";
            input name="device" value=(f.device) placeholder="device";
            input name="since" value=(f.since) placeholder="since: 2026-11-23 or 2h";
            button type="submit" { "Find" }
        }
    }
}

fn sessions_table(rows: &[SessionRow]) -> Markup {
    html! {
        table.sessions {
            thead { tr { th { "Session" } th { "User" } th { "Device" } th { "Started" } th { "Bytes" } th { "Exit" } th { "End" } } }
            tbody {
                @for r in rows {
                    tr {
                        td { a href=(session_href(&r.id, None)) { code { (r.id) } } }
                        td { (r.user) }
                        td { (r.device) }
                        td { (when(&r.started)) }
                        td.num { (r.bytes_out) }
                        td.num { (r.exit_status.map(|e| e.to_string()).unwrap_or_else(|| "-".into())) }
                        td {
                            @match (&r.end_reason, &r.ended) {
                                (Some(e), _) => (e),
                                (None, None) => a.live href={ "/live/view?id=" (r.id) } { "live" },
                                (None, Some(_)) => "",
                            }
                        }
                    }
                }
            }
        }
    }
}

fn hits_table(hits: &[Hit]) -> Markup {
    html! {
        table.hits {
            thead { tr { th { "Session" } th { "User" } th { "Device" } th { "At" } th { "What" } th { "Line" } } }
            tbody {
                @for h in hits {
                    // The offset is cut to the millisecond: a millisecond on, the line is there.
                    @let at = (h.offset_ms + 1) as f64 / 1000.0;
                    tr {
                        td { a.hit href=(session_href(&h.session.id, Some(at))) { code { (h.session.id) } } }
                        td { (h.session.user) }
                        td { (h.session.device) }
                        td.num { (format_offset(h.offset_ms)) }
                        td { (h.stream.as_str()) }
                        td.line { code { (h.line.trim_end()) } }
                    }
                }
            }
        }
    }
}

/// `GET /?q=&user=&device=&since=&what=`: the sessions, or with `q` the search hits.
pub(crate) async fn show(
    State(app): State<App>,
    viewer: Viewer,
    Query(f): Query<Filters>,
) -> Response {
    let searching = !f.q.trim().is_empty();
    let body = if !searching {
        match visible_sessions(&app.bastion, &viewer.id, &f).await {
            Ok(rows) if rows.is_empty() => html! { p { "No sessions you may replay match." } },
            Ok(rows) => sessions_table(&rows),
            Err(e) => return Page::failed(&e),
        }
    } else {
        match f.query() {
            Err(e) => html! { p.error { (e) } },
            Ok(query) => match find_hits(&app.bastion, &viewer.id, &query).await {
                Ok(hits) if hits.is_empty() => {
                    html! { p { "No line you may see matches " code { (query.text) } "." } }
                }
                Ok(hits) => hits_table(&hits),
                Err(e) => html! { p.error { (e) } },
            },
        }
    };
    let title = if searching { "Search" } else { "Sessions" };
    page(&viewer, title, false, html! { (form(&f)) (body) }).into_response()
}
