//! Live views of consoles: `/live/console?name=` shows a shared console read-only in the
//! player, fed by `/live/console/ws?name=` (the same `v2.asciicast` stream as a session's
//! live view): the console's backlog, then its output as it arrives, whether or not anyone
//! is attached. Policy `console.read` on the console; the viewer is attached read-only as
//! `NAME (web)`, so `ssh bastion consoles` and the other attachers see them, and the view
//! is audited as a `watch` event. A view never takes the write lock.

use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::layout::{page, Page};
use super::login::Viewer;
use super::stream::{end, frame, login_over, same_origin};
use super::App;
use crate::audit::Event;
use crate::console::{Attacher, Attachment};
use crate::identity::Identity;
use crate::inventory::Device;
use crate::policy::Action;

/// `?name=`.
#[derive(Deserialize)]
pub(crate) struct Named {
    name: String,
}

/// The consoles of the inventory `id` may read, by name.
pub(crate) async fn readable(app: &App, id: &Identity) -> Vec<Device> {
    let inventory = app.bastion.policy.inventory();
    let mut out = Vec::new();
    for d in inventory.devices().filter(|d| d.kind.is_console()) {
        if app
            .bastion
            .authz
            .decide(id, &d.name, Action::ConsoleRead)
            .await
            .allowed
        {
            out.push(d.clone());
        }
    }
    out
}

fn console_of(app: &App, name: &str) -> Option<Device> {
    app.bastion
        .policy
        .inventory()
        .get(name)
        .filter(|d| d.kind.is_console())
        .cloned()
}

/// `GET /live/console?name=`.
pub(crate) async fn view(
    State(app): State<App>,
    viewer: Viewer,
    Query(c): Query<Named>,
) -> Response {
    let missing = || Page::not_found(&format!("No console {:?} you may read.", c.name));
    let Some(device) = console_of(&app, &c.name) else {
        return missing();
    };
    let may = app
        .bastion
        .authz
        .decide(&viewer.id, &device.name, Action::ConsoleRead)
        .await;
    if !may.allowed {
        return missing();
    }
    let ws = format!("/live/console/ws?name={}", device.name);
    let body = html! {
        p { "Live, read-only: console " (device.name) " " (device.description.as_deref().unwrap_or("")) }
        div #player data-live=(ws) {}
    };
    page(&viewer, &format!("Console {}", device.name), true, body).into_response()
}

/// `GET /live/console/ws?name=`.
pub(crate) async fn socket(
    State(app): State<App>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(c): Query<Named>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return Page::forbidden("A live view opens only from this console's pages.");
    }
    let missing = || Page::not_found(&format!("No console {:?} you may read.", c.name));
    let Some(device) = console_of(&app, &c.name) else {
        return missing();
    };
    let context = json!({ "via": "web" });
    let v = app
        .bastion
        .authz
        .decide_audited(&viewer.id, &device.name, Action::ConsoleRead, context)
        .await;
    if !v.allowed {
        return missing();
    }
    if let Err(e) = crate::session::register_console(&app.bastion, &device) {
        return Page::failed(&format!("console {}: {e}", device.name));
    }
    let who = Attacher {
        user: format!("{} (web)", viewer.id.user),
        can_write: false,
        can_force: false,
    };
    let attachment = match app.bastion.consoles.attach(&device.name, who).await {
        Ok(a) => a,
        Err(e) => return Page::failed(&format!("cannot attach to {}: {e}", device.name)),
    };
    app.bastion
        .audit(
            Event::new("watch")
                .user(&viewer.id.user)
                .source(viewer.id.source.to_string())
                .device(&device.name)
                .action("watch")
                .outcome("ok")
                .detail(json!({ "console": device.name, "via": "web" })),
        )
        .await;
    upgrade
        .protocols(["v2.asciicast"])
        .on_upgrade(move |ws| stream(app, viewer, attachment, ws))
}

async fn stream(app: App, viewer: Viewer, mut attachment: Attachment, mut ws: WebSocket) {
    let header = json!({ "version": 2, "width": 80, "height": 24 });
    let started = Instant::now();
    let mut ok = ws
        .send(Message::Text(header.to_string().into()))
        .await
        .is_ok();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let why = loop {
        if !ok {
            break None;
        }
        tokio::select! {
            out = attachment.output.recv() => match out {
                Some(bytes) => {
                    let t = started.elapsed().as_secs_f64();
                    ok = ws.send(frame(t, 'o', &bytes)).await.is_ok();
                }
                None => break Some(format!("console {} stopped", attachment.console())),
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
    let _ = attachment.detach().await;
    end(&mut ws, why).await;
}
