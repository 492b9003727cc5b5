//! Web logins: a one-time link from `ssh bastion web` is exchanged for a login cookie
//! (`__Host-oobgate`, `HttpOnly; Secure; SameSite=Strict`) bound to the certificate's
//! identity. A login ends at the certificate's expiry or after `web.session_ttl`,
//! whichever comes first, and at the next request once the certificate is revoked (or the
//! revocation list is unusable: fail closed). Failed logins are counted per address and
//! minute; past `web.max_login_failures_per_minute` the address is refused until the
//! minute is over. Only SHA-256 digests of cookies are kept.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::answers::{message_page, Page};
use super::App;
use crate::access::{random_token, token_key};
use crate::audit::Event;
use crate::config::WebConfig;
use crate::identity::Identity;
use crate::store::{StoreError, Tokens};

/// The login cookie's name (`__Host-`: Secure, path `/`, no domain, set by this host only).
pub const COOKIE: &str = "__Host-oobgate";

/// The token kind of logins in the store.
const KIND: &str = "weblogin";

/// A login as the store keeps it (under the digest of its cookie, until it ends).
#[derive(Serialize, Deserialize)]
struct Login {
    id: Identity,
    csrf: String,
}

/// Logins in force (in the store's tokens: any node of several knows them) and this
/// node's failure counts; cheap to clone.
#[derive(Clone)]
pub(crate) struct Logins {
    tokens: Arc<dyn Tokens>,
    failures: Arc<Mutex<HashMap<IpAddr, (Instant, u32)>>>,
    ttl: Duration,
    max_failures: u32,
}

/// Whether two secrets are equal, in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

impl Logins {
    pub(crate) fn new(web: &WebConfig, tokens: Arc<dyn Tokens>) -> Logins {
        Logins {
            tokens,
            failures: Arc::default(),
            ttl: web.session_ttl,
            max_failures: web.max_login_failures_per_minute,
        }
    }

    fn refused(&self, ip: IpAddr) -> bool {
        let f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        matches!(f.get(&ip), Some((at, n)) if at.elapsed() < Duration::from_secs(60) && *n >= self.max_failures)
    }

    fn failed(&self, ip: IpAddr) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.retain(|_, (at, _)| at.elapsed() < Duration::from_secs(60));
        f.entry(ip).or_insert((Instant::now(), 0)).1 += 1;
    }

    /// A new login for `id`; returns the cookie value and when it ends.
    async fn open(&self, id: Identity) -> Result<(String, SystemTime), StoreError> {
        let mut expires = SystemTime::now() + self.ttl;
        if let Some(cert_end) = id.valid_before {
            expires = expires.min(cert_end);
        }
        let cookie = random_token();
        let login = Login {
            id,
            csrf: random_token(),
        };
        let value =
            serde_json::to_string(&login).map_err(|e| StoreError::Refused(e.to_string()))?;
        self.tokens
            .put(KIND, token_key(&cookie), &value, expires)
            .await?;
        Ok((cookie, expires))
    }

    /// The login of `cookie` while it is in force; `Err` when the store does not answer.
    async fn find(&self, cookie: &str) -> Result<Option<Login>, StoreError> {
        let value = self.tokens.get(KIND, token_key(cookie)).await?;
        Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// Whether `viewer`'s login is still in force (not ended, not past its end); a store
    /// that does not answer ends it.
    pub(crate) async fn still_open(&self, viewer: &Viewer) -> bool {
        matches!(self.find(&viewer.cookie).await, Ok(Some(_)))
    }

    async fn close(&self, cookie: &str) {
        if let Err(e) = self.tokens.remove(KIND, token_key(cookie)).await {
            tracing::error!(error = %e, "web login not removed from the store");
        }
    }
}

/// The logged-in caller of a request.
pub(crate) struct Viewer {
    /// The certificate identity, with the browser's address as its source.
    pub id: Identity,
    /// The token every POST of this login must carry.
    pub csrf: String,
    cookie: String,
}

impl Viewer {
    /// Whether `token` is this login's CSRF token.
    pub fn csrf_ok(&self, token: &str) -> bool {
        same(&self.csrf, token)
    }
}

/// Why a request has no viewer: an HTML page, or JSON under `/api/`.
pub(crate) struct NotLoggedIn {
    api: bool,
    why: String,
}

impl IntoResponse for NotLoggedIn {
    fn into_response(self) -> Response {
        if self.api {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({ "error": self.why })),
            )
                .into_response();
        }
        let body = message_page(
            "Not logged in",
            &format!(
                "{} Run `ssh bastion web` for a one-time login link.",
                self.why
            ),
        );
        (StatusCode::UNAUTHORIZED, body).into_response()
    }
}

impl FromRequestParts<App> for Viewer {
    type Rejection = NotLoggedIn;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Viewer, NotLoggedIn> {
        let api = parts.uri.path().starts_with("/api/");
        let refuse = |why: &str| NotLoggedIn {
            api,
            why: why.to_string(),
        };
        let jar = CookieJar::from_headers(&parts.headers);
        let cookie = jar
            .get(COOKIE)
            .map(|c| c.value().to_string())
            .ok_or_else(|| refuse("You are not logged in."))?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let Login { mut id, csrf } = match app.logins.find(&cookie).await {
            Ok(Some(login)) => login,
            Ok(None) => {
                return Err(refuse(
                    "Your web login has ended (logout, certificate expiry or session_ttl).",
                ))
            }
            Err(e) => {
                tracing::error!(error = %e, "web login not checked: the store does not answer");
                return Err(refuse(
                    "The bastion cannot check your login now (its store does not answer).",
                ));
            }
        };
        if let Some(p) = peer.filter(|p| !id.admits_from(p.ip())) {
            return Err(refuse(&format!(
                "Your certificate may not be used from {} (its source-address).",
                p.ip()
            )));
        }
        let revocation = app.bastion.validator.revocation_list();
        if let Some(r) = revocation.check(id.serial, &id.key_id) {
            app.logins.close(&cookie).await;
            tracing::warn!(user = %id.user, reason = ?r, "web login ended: certificate revoked");
            return Err(refuse(
                "Your certificate was revoked; the web login has ended.",
            ));
        }
        if let Some(p) = peer {
            id.source = p;
        }
        Ok(Viewer { id, csrf, cookie })
    }
}

/// `GET /login/TOKEN`: exchanges a one-time link for a login.
pub(crate) async fn redeem(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
) -> Response {
    if app.logins.refused(peer.ip()) {
        let body = message_page(
            "Too many failed logins",
            "Too many failed logins from your address; wait a minute.",
        );
        return (StatusCode::TOO_MANY_REQUESTS, body).into_response();
    }
    let bastion = &app.bastion;
    let revoked = |id: &Identity| {
        bastion
            .validator
            .revocation_list()
            .check(id.serial, &id.key_id)
            .is_some()
    };
    let expired = |id: &Identity| id.valid_before.is_some_and(|t| t <= SystemTime::now());
    // A certificate's source-address holds here too: a link opened from elsewhere is
    // refused (and used up) like a bad one.
    let Some(mut id) = bastion
        .weblinks
        .redeem(&token)
        .await
        .filter(|id| !revoked(id) && !expired(id) && id.admits_from(peer.ip()))
    else {
        app.logins.failed(peer.ip());
        bastion
            .audit(
                Event::new("web.login")
                    .source(peer.to_string())
                    .action("web.login")
                    .outcome("deny")
                    .detail(json!({ "reason": "unknown, used or expired link" })),
            )
            .await;
        let body = message_page(
            "This link does not log you in",
            "The link was already used, is more than a minute old, or was mistyped. \
             Run `ssh bastion web` for a new one.",
        );
        return (StatusCode::FORBIDDEN, body).into_response();
    };
    id.source = peer;
    let (user, serial) = (id.user.clone(), id.serial);
    let (cookie, expires) = match app.logins.open(id).await {
        Ok(opened) => opened,
        Err(e) => {
            tracing::error!(error = %e, "web login not kept: the store does not answer");
            let body = message_page(
                "Not logged in",
                "The bastion cannot keep your login now (its store does not answer). \
                 Run `ssh bastion web` for a new link and try again.",
            );
            return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
        }
    };
    let until = crate::audit::rfc3339(expires);
    bastion
        .audit(
            Event::new("web.login")
                .user(&user)
                .source(peer.to_string())
                .action("web.login")
                .outcome("ok")
                .detail(json!({ "serial": serial, "until": until })),
        )
        .await;
    let max_age = expires
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .as_secs() as i64;
    let c = Cookie::build((COOKIE, cookie))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(max_age))
        .build();
    ([(header::SET_COOKIE, c.to_string())], Redirect::to("/")).into_response()
}

/// The form of a POST: its CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    pub csrf: String,
}

/// `POST /logout`: ends the login.
pub(crate) async fn logout(
    State(app): State<App>,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return Page::forbidden("The form's CSRF token does not match your login.");
    }
    app.logins.close(&viewer.cookie).await;
    app.bastion
        .audit(
            Event::new("web.logout")
                .user(&viewer.id.user)
                .source(viewer.id.source.to_string())
                .action("web.logout")
                .outcome("ok"),
        )
        .await;
    let gone = Cookie::build((COOKIE, ""))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::ZERO)
        .build();
    (
        [(header::SET_COOKIE, gone.to_string())],
        message_page("Logged out", "Your web login has ended."),
    )
        .into_response()
}
