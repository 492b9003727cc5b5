//! Live views: `GET /live` lists the running sessions the viewer may `watch`;
//! `/live/view?id=` is the player fed by `/live/ws?id=`, a WebSocket speaking the
//! player's `v2.asciicast` stream protocol: a header, the session's last screen, then each
//! event as the recorder writes it. Like `ssh bastion watch`, the watch is audited and the
//! watched session's recording gets `watched by NAME (web)` markers. The socket closes
//! when the session ends, and when the viewer's login ends or their certificate is revoked.

use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::layout::{page, when, Page};
use super::login::Viewer;
use super::stream::{end, frame, login_over, same_origin};
use super::App;
use crate::audit::Event;
use crate::identity::Identity;
use crate::policy::Action;
use crate::recording::{last_screen, Feed, FeedEvent, Recording};

/// `?id=`.
#[derive(Deserialize)]
pub(crate) struct Which {
    id: String,
}

async fn may_watch(app: &App, id: &Identity, feed: &Feed) -> bool {
    app.bastion
        .authz
        .decide(id, &feed.device, Action::Watch)
        .await
        .allowed
}

/// `GET /live`: running sessions, then consoles.
pub(crate) async fn list(State(app): State<App>, viewer: Viewer) -> Response {
    let mut rows = Vec::new();
    for f in app.bastion.feeds.list() {
        if may_watch(&app, &viewer.id, &f).await {
            rows.push(f);
        }
    }
    let consoles = super::console_view::readable(&app, &viewer.id).await;
    let body = html! {
        @if rows.is_empty() {
            p { "No running session you may watch." }
        } @else {
            table.live {
                thead { tr { th { "Session" } th { "User" } th { "Device" } th { "Since" } } }
                tbody {
                    @for f in &rows {
                        tr {
                            td { a href={ "/live/view?id=" (f.session) } { code { (f.session) } } }
                            td { (f.user) }
                            td { (f.device) }
                            td { (when(f.session.split('/').next().unwrap_or(""))) }
                        }
                    }
                }
            }
        }
        h2 { "Consoles" }
        @if consoles.is_empty() {
            p { "No console you may read." }
        } @else {
            table.consoles {
                thead { tr { th { "Console" } th { "Link" } th { "Attached" } th { "About" } } }
                tbody {
                    @for d in &consoles {
                        @let status = app.bastion.consoles.status(&d.name);
                        tr {
                            td { a href={ "/live/console?name=" (d.name) } { (d.name) } }
                            td { (status.as_ref().map(|s| s.link.name()).unwrap_or("idle")) }
                            td { (status.as_ref().map(|s| s.attached.iter().map(|a| a.user.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                            td { (d.description.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    };
    page(&viewer, "Live sessions", false, body).into_response()
}

/// `GET /live/view?id=`.
pub(crate) async fn view(
    State(app): State<App>,
    viewer: Viewer,
    Query(w): Query<Which>,
) -> Response {
    let missing = || Page::not_found(&format!("No running session {:?} you may watch.", w.id));
    let Some(feed) = app.bastion.feeds.find(&w.id) else {
        return missing();
    };
    if !may_watch(&app, &viewer.id, &feed).await {
        return missing();
    }
    let ws = format!("/live/ws?id={}", feed.session);
    let body = html! {
        p { "Live, read-only: " (feed.user) "@" (feed.device) }
        div #player data-live=(ws) {}
    };
    page(&viewer, &format!("Live {}", feed.session), true, body).into_response()
}

/// `GET /live/ws?id=`.
pub(crate) async fn socket(
    State(app): State<App>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(w): Query<Which>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return Page::forbidden("A live view opens only from this console's pages.");
    }
    let missing = || Page::not_found(&format!("No running session {:?} you may watch.", w.id));
    let Some(feed) = app.bastion.feeds.find(&w.id) else {
        return missing();
    };
    let context = json!({ "via": "web", "session": feed.session });
    let v = app
        .bastion
        .authz
        .decide_audited(&viewer.id, &feed.device, Action::Watch, context)
        .await;
    if !v.allowed {
        return missing();
    }
    upgrade
        .protocols(["v2.asciicast"])
        .on_upgrade(move |ws| stream(app, viewer, feed, ws))
}

async fn stream(app: App, viewer: Viewer, feed: Feed, mut ws: WebSocket) {
    let user = viewer.id.user.clone();
    let (session, device, admin) = (feed.session.clone(), feed.device.clone(), feed.user.clone());
    let (path, size, recorder) = (feed.path.clone(), feed.size, feed.recorder.clone());
    recorder.marker(format!("watched by {user} (web)")).await;
    app.bastion
        .audit(
            Event::new("watch")
                .user(&user)
                .source(viewer.id.source.to_string())
                .device(&device)
                .action("watch")
                .outcome("ok")
                .detail(json!({ "session": session, "admin": admin, "via": "web" })),
        )
        .await;
    let mut events = feed.follow();
    let caught_up = tokio::task::spawn_blocking(move || match Recording::open(&path) {
        Ok(rec) => (
            rec.events.len() as u64,
            last_screen(&rec, size),
            rec.had_terminal(),
        ),
        Err(e) => (
            0,
            format!("[the recording so far cannot be read: {e}]\r\n").into_bytes(),
            true,
        ),
    });
    let (seen, screen, terminal) = caught_up.await.unwrap_or((0, Vec::new(), true));
    let header = json!({ "version": 2, "width": size.0.max(2), "height": size.1.max(2) });
    let started = Instant::now();
    let mut ok = ws
        .send(Message::Text(header.to_string().into()))
        .await
        .is_ok()
        && ws.send(frame(0.0, 'o', &screen)).await.is_ok();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let why = loop {
        if !ok {
            break None;
        }
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) => {
                    let ev: FeedEvent = ev;
                    let (seq, e) = &*ev;
                    if *seq >= seen && matches!(e.code, 'o' | 'r') {
                        // Without a terminal, output as the admin's terminal showed it.
                        let data = match (terminal, e.code) {
                            (false, 'o') => crate::recording::text::crlf(&e.data),
                            _ => std::borrow::Cow::Borrowed(e.data.as_slice()),
                        };
                        ok = ws.send(frame(started.elapsed().as_secs_f64(), e.code, &data)).await.is_ok();
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break Some(format!("session {session} ended")),
            },
            msg = ws.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                _ => {}
            },
            _ = tick.tick() => {
                if let Some(why) = login_over(&app, &viewer).await {
                    break Some(why);
                }
            }
            _ = app.bastion.shutdown.cancelled() => break Some("the bastion is shutting down".into()),
        }
    };
    recorder
        .marker(format!("no longer watched by {user} (web)"))
        .await;
    end(&mut ws, why).await;
}
