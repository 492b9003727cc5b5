//! The auditor's web console (`[web]`): where it listens, its TLS certificate (a
//! self-signed one kept in the data dir when none is given), how long a login lasts, and
//! the address the one-time links of `ssh bastion web` point at.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// `[web]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeb {
    listen: String,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    #[serde(default = "default_ttl", with = "humantime_serde")]
    session_ttl: Duration,
    public_url: Option<String>,
    #[serde(default = "default_login_failures")]
    max_login_failures_per_minute: u32,
}

fn default_ttl() -> Duration {
    Duration::from_secs(8 * 3600)
}

fn default_login_failures() -> u32 {
    10
}

/// The web console's settings (`[web]`).
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Address the HTTPS server listens on.
    pub listen: SocketAddr,
    /// PEM certificate chain and private key; `None`: a self-signed pair in the data dir.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Longest a web login lasts (it also ends at the certificate's expiry).
    pub session_ttl: Duration,
    /// The console's address as admins reach it, e.g. `https://bastion.example:8443`
    /// (default: `https://` and the listen address).
    pub public_url: String,
    /// Failed logins (bad, used or expired links) allowed per address and minute.
    pub max_login_failures_per_minute: u32,
}

impl RawWeb {
    /// Checks the values and resolves the paths against `base`; the error names the key.
    pub(super) fn resolve(self, base: &Path) -> Result<WebConfig, (String, String)> {
        let listen: SocketAddr = self.listen.parse().map_err(|e| {
            (
                "web.listen".to_string(),
                format!("{:?} is not an IP:port address ({e})", self.listen),
            )
        })?;
        let tls = match (self.cert, self.key) {
            (None, None) => None,
            (Some(c), Some(k)) => Some((base.join(c), base.join(k))),
            (Some(_), None) => return Err(("web.key".into(), "web.cert needs a key".into())),
            (None, Some(_)) => return Err(("web.cert".into(), "web.key needs a cert".into())),
        };
        if self.session_ttl < Duration::from_secs(60) {
            return Err(("web.session_ttl".into(), "must be at least 1m".into()));
        }
        if self.max_login_failures_per_minute == 0 {
            return Err((
                "web.max_login_failures_per_minute".into(),
                "must be at least 1".into(),
            ));
        }
        let public_url = match self.public_url {
            None => format!("https://{listen}"),
            Some(u) => {
                let parsed = url::Url::parse(&u)
                    .map_err(|e| ("web.public_url".to_string(), format!("{u:?}: {e}")))?;
                if parsed.scheme() != "https" || parsed.host().is_none() {
                    return Err((
                        "web.public_url".into(),
                        format!("{u:?} is not an https:// address"),
                    ));
                }
                u.trim_end_matches('/').to_string()
            }
        };
        Ok(WebConfig {
            listen,
            tls,
            session_ttl: self.session_ttl,
            public_url,
            max_login_failures_per_minute: self.max_login_failures_per_minute,
        })
    }
}
