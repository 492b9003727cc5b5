//! The auditor's web console, served on `[web] listen` over HTTPS beside the front door:
//! a session browser with filters and text search, a session page with the player, its
//! markers, policy decisions, audit events and integrity badge, live views of running
//! sessions, pending access requests with approve/deny, and the audit chain's state.
//!
//! There are no passwords: `ssh bastion web` hands out a one-time link
//! ([`crate::access::WebLinks`]) that logs the browser in as the certificate's identity
//! until the certificate expires, `web.session_ttl` passes or the certificate is revoked.
//! Every page and API call decides by policy itself (never only by hiding a button), every
//! value from a recording, a device or a certificate is escaped by the templates (maud),
//! the CSP allows no inline script, cookies are `__Host-`, `HttpOnly; Secure;
//! SameSite=Strict`, and every POST carries the login's CSRF token.

mod answers;
mod api;
mod approvals;
mod assets;
mod audit_page;
mod browse;
mod console_view;
mod layout;
mod live;
mod login;
mod session_page;
mod stream;
mod tls;

pub use tls::{certificate_fingerprint, TLS_DIR};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::bastion::Bastion;

/// Errors that stop the web console from starting.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The listen address could not be bound.
    #[error("web console: cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    /// The TLS certificate or key is unusable.
    #[error("web console: {0}")]
    Tls(String),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, WebError>;

/// What every handler reads.
#[derive(Clone)]
pub(crate) struct App {
    pub bastion: Arc<Bastion>,
    pub logins: login::Logins,
}

/// Serves `[web]`, if configured, until the bastion shuts down; the listener is bound
/// before this returns, so a bad address or certificate stops the start.
pub fn start(bastion: &Arc<Bastion>) -> Result<()> {
    let Some(web) = bastion.config.web.clone() else {
        return Ok(());
    };
    let tls = tls::server_config(&web, &bastion.config.data_dir)?;
    let listener =
        std::net::TcpListener::bind(web.listen).map_err(|e| WebError::Listen(web.listen, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| WebError::Listen(web.listen, e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| WebError::Listen(web.listen, e))?;
    // Without a public_url, links point at the address as bound (port 0: the free port
    // the system chose).
    let defaulted = web.public_url == format!("https://{}", web.listen);
    bastion.weblinks.set_base(if defaulted {
        format!("https://{bound}")
    } else {
        web.public_url.clone()
    });
    let app = App {
        bastion: bastion.clone(),
        logins: login::Logins::new(&web, bastion.stores.tokens.clone()),
    };
    let handle = axum_server::Handle::new();
    let stop = handle.clone();
    let shutdown = bastion.shutdown.clone();
    bastion.tasks.spawn(async move {
        shutdown.cancelled().await;
        stop.graceful_shutdown(Some(std::time::Duration::from_secs(2)));
    });
    let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
    let server = axum_server::from_tcp_rustls(listener, tls)
        .map_err(|e| WebError::Listen(web.listen, e))?
        .handle(handle);
    tracing::info!(listen = %bound, "web console listening");
    bastion.tasks.spawn(async move {
        if let Err(e) = server.serve(service).await {
            tracing::error!(error = %e, "web console stopped");
        }
    });
    Ok(())
}

fn router(app: App) -> Router {
    Router::new()
        .route("/", get(browse::show))
        .route("/login/{token}", get(login::redeem))
        .route("/logout", post(login::logout))
        .route("/session", get(session_page::page_of))
        .route("/cast", get(session_page::cast))
        .route("/live", get(live::list))
        .route("/live/view", get(live::view))
        .route("/live/ws", get(live::socket))
        .route("/live/console", get(console_view::view))
        .route("/live/console/ws", get(console_view::socket))
        .route("/requests", get(approvals::page_of))
        .route("/requests/{n}/{verb}", post(approvals::decide))
        .route("/audit", get(audit_page::page_of))
        .route("/api/sessions", get(api::sessions))
        .route("/api/search", get(api::search))
        .route("/api/requests", get(api::requests))
        .route("/api/requests/{n}/{verb}", post(api::decide))
        .route("/assets/{name}", get(assets::serve))
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .layer(axum::middleware::from_fn_with_state(app.clone(), headers))
        .with_state(app)
}

/// The headers every answer carries: a strict CSP (scripts only from the bastion; the
/// player's terminal is WebAssembly), no framing, no sniffing, no caching of pages.
async fn headers(State(_): State<App>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let csp = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
               style-src 'self'; img-src 'self' data:; font-src 'self' data:; \
               connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; \
               form-action 'self'; frame-ancestors 'none'";
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}
