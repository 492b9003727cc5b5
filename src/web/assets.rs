//! The console's static files, embedded in the binary at build time (the player from
//! npm's `asciinema-player`, found by `build.rs`; the console's own script and style), so
//! nothing is ever loaded from elsewhere.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const PLAYER_JS: &[u8] = include_bytes!(concat!(
    env!("OOBGATE_PLAYER_DIR"),
    "/asciinema-player.min.js"
));
const PLAYER_CSS: &[u8] =
    include_bytes!(concat!(env!("OOBGATE_PLAYER_DIR"), "/asciinema-player.css"));
const APP_JS: &[u8] = include_bytes!("../../web/assets/app.js");
const APP_CSS: &[u8] = include_bytes!("../../web/assets/app.css");

/// `GET /assets/NAME`.
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "player.js" => (PLAYER_JS, "text/javascript; charset=utf-8"),
        "player.css" => (PLAYER_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
