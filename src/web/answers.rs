//! Pages for those not logged in and answers that are not a page of their own (403, 404,
//! 500), and the `<head>` every page shares: the stylesheet and the one script, never
//! inline ones.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

/// The `<head>`; `player` loads the player too.
pub(crate) fn head(title: &str, player: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · oobgate" }
            link rel="stylesheet" href="/assets/app.css";
            @if player {
                link rel="stylesheet" href="/assets/player.css";
                script src="/assets/player.js" defer {}
            }
            script src="/assets/app.js" defer {}
        }
    }
}

/// A page with a title and one paragraph, for those not logged in.
pub(crate) fn message_page(title: &str, text: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, false))
            body { main { h1 { (title) } p.message { (text) } } }
        }
    }
}

/// Answers that are not a page of their own.
pub(crate) struct Page;

impl Page {
    /// 403 with the reason.
    pub(crate) fn forbidden(why: &str) -> Response {
        (StatusCode::FORBIDDEN, message_page("Not allowed", why)).into_response()
    }

    /// 404 with the reason.
    pub(crate) fn not_found(why: &str) -> Response {
        (StatusCode::NOT_FOUND, message_page("Not found", why)).into_response()
    }

    /// 500 with the reason (a store error and the like).
    pub(crate) fn failed(why: &str) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            message_page("Something failed", why),
        )
            .into_response()
    }
}
