//! The bastion's authenticated session with Vault: client, login, token renewal.
//!
//! [`VaultSession`] holds the current client (swapped atomically after a re-login),
//! knows how to log in with a token or AppRole, and [`run_renewal`] keeps the token alive
//! in a background task: renew-self at two thirds of the TTL, AppRole re-login when
//! renewal fails or stops extending the token. It also turns `vaultrs` errors into
//! [`SecretsError`]s without ever formatting a response body.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vaultrs::client::{Client, VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

use super::error::{Result, SecretsError};
use super::vault_config::{VaultAuth, VaultConfig};

/// A token's remaining life as Vault reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lease {
    /// Remaining TTL; zero means the token never expires.
    pub(crate) ttl: Duration,
    /// Whether renew-self can extend it.
    pub(crate) renewable: bool,
}

/// Below this remaining TTL after a renewal, AppRole logs in afresh instead.
const MIN_USEFUL_TTL: Duration = Duration::from_secs(10);
/// Pause between attempts while Vault is unreachable during renewal.
const RETRY_PAUSE: Duration = Duration::from_secs(5);

/// The configuration plus the client carrying the current token.
pub(crate) struct VaultSession {
    pub(crate) config: VaultConfig,
    client: RwLock<Arc<VaultClient>>,
}

impl VaultSession {
    /// Builds the client and authenticates (AppRole login, or token lookup-self).
    pub(crate) async fn establish(config: VaultConfig) -> Result<(Self, Lease)> {
        let initial = match &config.auth {
            VaultAuth::Token(token) => token.expose().to_owned(),
            VaultAuth::AppRole { .. } => String::new(),
        };
        let client = build_client(&config, &initial)?;
        let session = Self {
            config,
            client: RwLock::new(Arc::new(client)),
        };
        let lease = match &session.config.auth {
            VaultAuth::Token(_) => session.lookup().await?,
            VaultAuth::AppRole { .. } => session.login().await?,
        };
        Ok((session, lease))
    }

    /// The client with the current token.
    pub(crate) fn client(&self) -> Arc<VaultClient> {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs one Vault call under the configured timeout.
    pub(crate) async fn timed<T>(
        &self,
        operation: impl FnOnce() -> String,
        call: impl Future<Output = std::result::Result<T, ClientError>>,
    ) -> Result<std::result::Result<T, ClientError>> {
        tokio::time::timeout(self.config.timeout, call)
            .await
            .map_err(|_| SecretsError::Timeout {
                address: self.config.address.clone(),
                operation: operation(),
                timeout: self.config.timeout,
            })
    }

    /// Looks up the current token (lookup-self).
    async fn lookup(&self) -> Result<Lease> {
        let client = self.client();
        let info = self
            .timed(|| "token lookup-self".to_owned(), client.lookup())
            .await?
            .map_err(|e| self.login_error(e))?;
        Ok(Lease {
            ttl: Duration::from_secs(info.ttl),
            renewable: info.renewable.unwrap_or(false),
        })
    }

    /// AppRole login; installs the new token. With token auth this is an error.
    pub(crate) async fn login(&self) -> Result<Lease> {
        let VaultAuth::AppRole {
            role_id,
            secret_id,
            mount,
        } = &self.config.auth
        else {
            return Err(self.login_error_text("a static token cannot log in again".to_owned()));
        };
        let client = self.client();
        let auth = self
            .timed(
                || "approle login".to_owned(),
                vaultrs::auth::approle::login(&*client, mount, role_id, secret_id.expose()),
            )
            .await?
            .map_err(|e| self.login_error(e))?;
        let fresh = build_client(&self.config, &auth.client_token)?;
        *self.client.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(Lease {
            ttl: Duration::from_secs(auth.lease_duration),
            renewable: auth.renewable,
        })
    }

    /// Renews the current token (renew-self).
    async fn renew(&self) -> Result<Lease> {
        let client = self.client();
        let auth = self
            .timed(|| "token renew-self".to_owned(), client.renew(None))
            .await?
            .map_err(|e| self.login_error(e))?;
        Ok(Lease {
            ttl: Duration::from_secs(auth.lease_duration),
            renewable: auth.renewable,
        })
    }

    fn login_error(&self, error: ClientError) -> SecretsError {
        match classify(error) {
            Failure::Unreachable(reason) => SecretsError::Unreachable {
                address: self.config.address.clone(),
                reason,
            },
            Failure::Api { detail, .. } | Failure::Other(detail) => self.login_error_text(detail),
        }
    }

    fn login_error_text(&self, detail: String) -> SecretsError {
        SecretsError::Login {
            method: self.config.auth.method(),
            address: self.config.address.clone(),
            detail,
        }
    }
}

/// A `vaultrs` error reduced to what may be shown: never a response body.
pub(crate) enum Failure {
    /// The request never got an HTTP answer.
    Unreachable(String),
    /// Vault answered with an error status.
    Api {
        /// HTTP status code.
        code: u16,
        /// Status code and Vault's error strings.
        detail: String,
    },
    /// Anything else (unexpected response shape, client setup).
    Other(String),
}

/// Classifies a `vaultrs` error. Response contents are deliberately dropped: a body that
/// failed to parse may well be a secret.
pub(crate) fn classify(error: ClientError) -> Failure {
    use rustify::errors::ClientError as Http;
    match error {
        ClientError::APIError { code, errors } => Failure::Api {
            code,
            detail: if errors.is_empty() {
                format!("HTTP {code}")
            } else {
                format!("HTTP {code}: {}", errors.join("; "))
            },
        },
        ClientError::RestClientError { source } => match source {
            Http::ServerResponseError { code, .. } => Failure::Api {
                code,
                detail: format!("HTTP {code}"),
            },
            Http::RequestError { source, .. } | Http::ResponseError { source } => {
                Failure::Unreachable(chain(source.as_ref()))
            }
            Http::ResponseParseError { .. } | Http::ResponseConversionError { .. } => {
                Failure::Other("unexpected response from the server".to_owned())
            }
            other => Failure::Other(other.to_string()),
        },
        ClientError::JsonParseError { .. }
        | ClientError::ResponseEmptyError
        | ClientError::ResponseDataEmptyError
        | ClientError::ResponseWrapError => {
            Failure::Other("unexpected response from the server".to_owned())
        }
        other => Failure::Other(other.to_string()),
    }
}

/// An error and its sources, joined with `: `.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}

/// Builds a `vaultrs` client for `config` carrying `token`. Nothing is taken from the
/// environment (`VAULT_*` variables are ignored): the configuration is the only input.
fn build_client(config: &VaultConfig, token: &str) -> Result<VaultClient> {
    let url = url::Url::parse(&config.address).map_err(|e| {
        SecretsError::Config(format!("address {:?} is not a URL: {e}", config.address))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SecretsError::Config(format!(
            "address {:?} must start with http:// or https://",
            config.address
        )));
    }
    let ca_certs = match &config.ca_cert {
        Some(path) => vec![path.to_string_lossy().into_owned()],
        None => Vec::new(),
    };
    let mut builder = VaultClientSettingsBuilder::default();
    builder
        .address(url.as_str())
        .token(token)
        .verify(true)
        .ca_certs(ca_certs)
        .identity(None)
        .namespace(config.namespace.clone());
    let settings = builder
        .build()
        .map_err(|e| SecretsError::Config(e.to_string()))?;
    VaultClient::new(settings).map_err(|e| SecretsError::Config(e.to_string()))
}

/// Keeps the session's token alive until `cancel` fires.
///
/// Tokens that never expire (TTL 0) need nothing. Otherwise the token is renewed at two
/// thirds of its TTL; with AppRole, a failed renewal, a non-renewable token or one close
/// to its maximum TTL leads to a fresh login. Failures are logged and retried.
pub(crate) async fn run_renewal(
    session: Arc<VaultSession>,
    lease: Lease,
    cancel: CancellationToken,
) {
    let approle = matches!(session.config.auth, VaultAuth::AppRole { .. });
    let mut lease = lease;
    loop {
        if lease.ttl.is_zero() || (!lease.renewable && !approle) {
            return;
        }
        let wait = (lease.ttl * 2 / 3).max(Duration::from_millis(500));
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        match refresh(&session, lease, approle).await {
            Ok(fresh) => lease = fresh,
            Err(error) => {
                tracing::warn!(%error, "vault token refresh failed; retrying");
                lease = Lease {
                    ttl: RETRY_PAUSE * 3 / 2,
                    renewable: lease.renewable,
                };
            }
        }
    }
}

/// One renewal step: renew-self, falling back to AppRole login.
async fn refresh(session: &VaultSession, lease: Lease, approle: bool) -> Result<Lease> {
    if lease.renewable {
        match session.renew().await {
            Ok(fresh) if !approle || fresh.ttl >= (lease.ttl / 2).min(MIN_USEFUL_TTL) => {
                return Ok(fresh)
            }
            Ok(_) => tracing::debug!("vault token near its maximum TTL; logging in again"),
            Err(error) if approle => {
                tracing::warn!(%error, "vault token renewal failed; logging in again")
            }
            Err(error) => return Err(error),
        }
    }
    session.login().await
}
