//! The pages' frame for a logged-in viewer (navigation, the logout form) and the small
//! pieces every page uses. Every value goes through maud, which escapes it: nothing a recording, a device or
//! a certificate holds can become markup. Pages carry no inline script or style; what
//! needs script reads `data-` attributes from `/assets/app.js`.

use maud::{html, Markup, DOCTYPE};

use super::answers::head;
use super::login::Viewer;

pub(crate) use super::answers::Page;

/// A whole page for a logged-in viewer, with the navigation; `player` loads the player.
pub(crate) fn page(viewer: &Viewer, title: &str, player: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, player))
            body {
                nav {
                    a.brand href="/" { "oobgate" }
                    a href="/" { "Sessions" }
                    a href="/live" { "Live" }
                    a href="/requests" { "Requests" }
                    a href="/audit" { "Audit" }
                    span.who { (viewer.id.user) " (" (viewer.id.roles_display()) ")" }
                    form.logout method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        button type="submit" { "Log out" }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// `2026-12-02T10:11:12Z` → `2026-12-02 10:11:12`.
pub(crate) fn when(rfc3339: &str) -> String {
    rfc3339.get(..19).unwrap_or(rfc3339).replacen('T', " ", 1)
}

/// A session page link, at `at_secs` when given.
pub(crate) fn session_href(id: &str, at_secs: Option<f64>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("id", id);
    if let Some(t) = at_secs {
        q.append_pair("t", &format!("{t:.3}"));
    }
    format!("/session?{}", q.finish())
}
