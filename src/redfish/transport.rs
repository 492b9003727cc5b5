//! HTTPS requests to one BMC: the pinned TLS client, authentication (session token or basic
//! auth), a timeout per request, bounded retries with backoff, error mapping, and decoding
//! answers with the path of any field at fault. Retries: connection errors always (nothing
//! was sent), timeouts and 5xx for GET and DELETE, only 503 for POST and PATCH (a 500 or a
//! timeout may mean the action ran), never a 4xx. reqwest's own retry layer has no backoff
//! and no per-try timeout, hence the small loop here.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;
use zeroize::Zeroizing;

use super::endpoint::Endpoint;
use super::model::ErrorBody;
use super::tls::PinVerifier;
use super::{RedfishError, Result};

/// How requests are authenticated.
pub(crate) enum Auth {
    /// Nothing yet (the service root is usually readable without a login).
    None,
    /// HTTP basic auth on every request.
    Basic,
    /// A SessionService session: its token and the path to delete at the end.
    Session {
        token: Zeroizing<String>,
        path: Option<String>,
    },
}

/// An answer: status, headers and body.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The connection to one BMC.
pub(crate) struct Transport {
    http: reqwest::Client,
    pub(crate) ep: Endpoint,
    pub(crate) auth: Auth,
    pub(crate) verifier: Arc<PinVerifier>,
}

const BACKOFF: Duration = Duration::from_millis(250);

impl Transport {
    /// A transport trusting what `verifier` trusts. Redirects are never followed.
    pub(crate) fn new(ep: Endpoint, verifier: Arc<PinVerifier>) -> Result<Transport> {
        let setup = |e: Box<dyn std::error::Error + Send + Sync>| RedfishError::Setup {
            bmc: ep.name.clone(),
            source: e,
        };
        let tls = verifier.client_config().map_err(|e| setup(e.into()))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(ep.timeout)
            .no_proxy()
            .build()
            .map_err(|e| setup(e.into()))?;
        Ok(Transport {
            http,
            ep,
            auth: Auth::None,
            verifier,
        })
    }

    /// The BMC's URL for `path`; only paths on the BMC itself (a link to another host is
    /// refused, so credentials never leave for elsewhere).
    pub(crate) fn url(&self, path: &str) -> Result<Url> {
        let off = || self.off_bmc(path);
        if !path.starts_with('/') || path.starts_with("//") {
            return Err(off());
        }
        let url = self.ep.url.join(path).map_err(|_| off())?;
        if url.origin() != self.ep.url.origin() {
            return Err(off());
        }
        Ok(url)
    }

    /// The path of `link` (a path, or a full URL on the BMC itself, as `Location` headers
    /// often are); a link elsewhere is refused.
    pub(crate) fn path_of(&self, link: &str) -> Result<String> {
        let url = match Url::parse(link) {
            Ok(u) if u.origin() == self.ep.url.origin() => u,
            Ok(_) => return Err(self.off_bmc(link)),
            Err(_) => self.url(link)?,
        };
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        })
    }

    fn off_bmc(&self, link: &str) -> RedfishError {
        RedfishError::Unsupported {
            bmc: self.ep.name.clone(),
            message: format!("refusing a link off the BMC: {link:?}"),
        }
    }

    /// Sends a request with retries; any status other than 2xx is an error.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply> {
        let reply = self.send_raw(method.clone(), path, body).await?;
        if reply.status.is_success() {
            return Ok(reply);
        }
        Err(self.status_error(&method, path, &reply))
    }

    /// Sends a request with retries and returns whatever status came back.
    pub(crate) async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply> {
        let url = self.url(path)?;
        let safe = matches!(method, Method::GET | Method::DELETE);
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .timeout(self.ep.timeout)
                .header("Accept", "application/json")
                .header("OData-Version", "4.0");
            req = match &self.auth {
                Auth::None => req,
                Auth::Basic => req.basic_auth(&self.ep.username, Some(&*self.ep.password)),
                Auth::Session { token, .. } => {
                    let mut v = HeaderValue::from_str(token).map_err(|_| self.bad_token())?;
                    v.set_sensitive(true);
                    req.header("X-Auth-Token", v)
                }
            };
            if let Some(b) = body {
                req = req
                    .header("Content-Type", "application/json")
                    .body(serde_json::to_vec(b).unwrap_or_default());
            }
            let retry = attempt < self.ep.retries;
            match req.send().await {
                Ok(resp) if retry && retryable(resp.status(), safe) => {}
                Ok(resp) => return self.read(resp, &method, path).await,
                Err(e) => {
                    let again = e.is_connect() || (e.is_timeout() && safe);
                    if !(again && retry) || self.verifier.mismatch().is_some() {
                        return Err(self.request_error(e, &method, path));
                    }
                }
            }
            attempt += 1;
            tracing::debug!(bmc = %self.ep.name, %method, path, attempt, "retrying Redfish request");
            tokio::time::sleep(BACKOFF * 2u32.saturating_pow(attempt - 1)).await;
        }
    }

    async fn read(&self, resp: reqwest::Response, method: &Method, path: &str) -> Result<Reply> {
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.request_error(e, method, path))?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    fn bad_token(&self) -> RedfishError {
        RedfishError::Unsupported {
            bmc: self.ep.name.clone(),
            message: "the session token is not a valid header value".into(),
        }
    }

    /// GET `path` and decode it as `what`.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &'static str,
    ) -> Result<T> {
        let reply = self.send(Method::GET, path, None).await?;
        self.decode(what, path, &reply.body)
    }

    /// Decodes `body`, naming the field at fault on error.
    pub(crate) fn decode<T: DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
        body: &[u8],
    ) -> Result<T> {
        decode(&self.ep.name, what, path, body).map_err(|e| match e {
            RedfishError::Decode {
                bmc,
                what,
                path,
                field,
                message,
                source,
            } => RedfishError::Decode {
                bmc,
                what,
                path,
                field,
                message: self.redact(&message),
                source,
            },
            other => other,
        })
    }

    /// The error for a non-2xx answer, with the BMC's own message (password redacted).
    pub(crate) fn status_error(&self, method: &Method, path: &str, reply: &Reply) -> RedfishError {
        if reply.status == StatusCode::UNAUTHORIZED {
            return RedfishError::AuthFailed {
                bmc: self.ep.name.clone(),
            };
        }
        let message = serde_json::from_slice::<ErrorBody>(&reply.body)
            .ok()
            .map(|b| {
                let mut parts: Vec<String> = b.error.message.into_iter().collect();
                parts.extend(b.error.extended.into_iter().filter_map(|m| m.message));
                parts.join("; ")
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).trim().to_string());
        let message: String = self.redact(&message).chars().take(300).collect();
        RedfishError::Status {
            bmc: self.ep.name.clone(),
            request: format!("{method} {path}"),
            status: reply.status.as_u16(),
            message: if message.is_empty() {
                reply
                    .status
                    .canonical_reason()
                    .unwrap_or("no message")
                    .into()
            } else {
                message
            },
        }
    }

    /// `text` with the password replaced, should a BMC echo it.
    pub(crate) fn redact(&self, text: &str) -> String {
        if self.ep.password.is_empty() {
            text.to_string()
        } else {
            text.replace(self.ep.password.as_str(), "***")
        }
    }

    fn request_error(&self, e: reqwest::Error, method: &Method, path: &str) -> RedfishError {
        let bmc = self.ep.name.clone();
        if let Some((pinned, presented)) = self.verifier.mismatch() {
            return RedfishError::CertificateChanged {
                bmc,
                pinned,
                presented,
            };
        }
        if e.is_timeout() {
            return RedfishError::Timeout {
                bmc,
                address: self.ep.address(),
                what: format!("{method} {path}"),
                seconds: self.ep.timeout.as_secs_f64(),
            };
        }
        RedfishError::Unreachable {
            bmc,
            address: self.ep.address(),
            message: self.redact(&innermost(&e)),
            source: e,
        }
    }
}

/// Whether an answer with `status` is worth another try: any 5xx for a safe request
/// (GET, DELETE); for an action or a change only 503, which says it was not carried out
/// (a 500 may have been, and a power action must not run twice). Never a 4xx.
fn retryable(status: StatusCode, safe: bool) -> bool {
    status == StatusCode::SERVICE_UNAVAILABLE || (safe && status.is_server_error())
}

/// The innermost cause of `e` (`Connection refused (os error 111)`), or its own text.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// Decodes `body` as `what` (from `path` of `bmc`), naming the field at fault on error.
pub(crate) fn decode<T: DeserializeOwned>(
    bmc: &str,
    what: &'static str,
    path: &str,
    body: &[u8],
) -> Result<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let source = e.into_inner();
        RedfishError::Decode {
            bmc: bmc.to_string(),
            what,
            path: path.to_string(),
            field,
            message: source.to_string(),
            source,
        }
    })
}
