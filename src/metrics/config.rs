//! The `[metrics]` section: where the Prometheus endpoint listens.

use std::net::SocketAddr;

use serde::Deserialize;

/// Settings of the metrics endpoint (`[metrics]`); without the section nothing listens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `IP:port` of the HTTP endpoint serving `/metrics`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Allow a non-loopback `listen` address (the endpoint has no authentication).
    #[serde(default)]
    pub allow_remote: bool,
}

fn default_listen() -> String {
    "127.0.0.1:9464".into()
}

impl MetricsConfig {
    /// The listen address, checked: an `IP:port`, loopback unless `allow_remote`. The
    /// error names the key and the reason.
    pub fn address(&self) -> Result<SocketAddr, (String, String)> {
        let addr: SocketAddr = self.listen.parse().map_err(|e| {
            (
                "metrics.listen".to_string(),
                format!("{:?} is not an IP:port address ({e})", self.listen),
            )
        })?;
        if !addr.ip().is_loopback() && !self.allow_remote {
            return Err((
                "metrics.listen".into(),
                format!(
                    "{addr} is not a loopback address; the metrics endpoint has no \
                     authentication, so set metrics.allow_remote = true to serve it there"
                ),
            ));
        }
        Ok(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(listen: &str, allow_remote: bool) -> MetricsConfig {
        MetricsConfig {
            listen: listen.into(),
            allow_remote,
        }
    }

    #[test]
    fn remote_needs_allow_remote() {
        assert!(cfg("127.0.0.1:9464", false).address().is_ok());
        assert!(cfg("[::1]:9464", false).address().is_ok());
        let (key, reason) = cfg("0.0.0.0:9464", false).address().unwrap_err();
        assert_eq!(key, "metrics.listen");
        assert!(reason.contains("allow_remote"), "{reason}");
        assert!(cfg("0.0.0.0:9464", true).address().is_ok());
        assert!(cfg("localhost", false).address().is_err());
    }
}
