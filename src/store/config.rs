//! The `[store]` and `[node]` sections: where shared state lives, and the name this node
//! writes under.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// `[store]`: the embedded sqlite file by default; `postgres = "postgres://..."` moves the
/// audit chain, sessions, access requests and host keys to PostgreSQL shared by several
/// nodes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The PostgreSQL connection URL (libpq form), if the state is shared.
    pub postgres: Option<PostgresUrl>,
    /// How long a node's lease lasts without renewal (renewed every third of it); when it
    /// lapses another node closes the lost node's sessions and takes over its consoles.
    /// Default 6s.
    #[serde(default = "default_lease", with = "humantime_serde")]
    pub node_lease: Duration,
}

fn default_lease() -> Duration {
    Duration::from_secs(6)
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            postgres: None,
            node_lease: default_lease(),
        }
    }
}

/// A PostgreSQL URL; shown without its password.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// The URL as written (with the password, for connecting only).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::postgres::redact(&self.0))
    }
}

impl StoreConfig {
    /// Checks the URL; the error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if let Some(url) = &self.postgres {
            let ok = url::Url::parse(url.expose())
                .map(|u| matches!(u.scheme(), "postgres" | "postgresql"))
                .unwrap_or(false);
            if !ok {
                return Err((
                    "store.postgres".into(),
                    "is not a postgres://user@host:port/database URL".into(),
                ));
            }
        }
        if self.node_lease < Duration::from_secs(1) {
            return Err(("store.node_lease".into(), "must be at least 1s".into()));
        }
        Ok(())
    }
}

/// `[node]`: this bastion node among several.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's name in audit events and sessions; default the host name.
    pub name: Option<String>,
    /// Where the other nodes reach this node's front door (`HOST:PORT`), when `listen`
    /// is not that address (a wildcard, a NAT); default `listen`.
    pub address: Option<String>,
}

impl NodeConfig {
    /// The configured name, else the host name, else `oobgate`.
    pub fn resolved_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "oobgate".to_string())
        })
    }

    /// Checks the name; the error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        match &self.name {
            Some(n) if n.is_empty() || n.len() > 64 || n.contains(char::is_whitespace) => Err((
                "node.name".into(),
                format!("{n:?} is not a node name (1 to 64 characters, no spaces)"),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_checked_and_never_shown_with_its_password() {
        let c: StoreConfig =
            toml::from_str("postgres = \"postgres://oob:s3cret@db1:5432/oobgate\"").unwrap();
        c.validate().unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db1:5432/oobgate"), "{shown}");
        let bad: StoreConfig = toml::from_str("postgres = \"mysql://db1/x\"").unwrap();
        assert_eq!(bad.validate().unwrap_err().0, "store.postgres");
    }

    #[test]
    fn the_node_name_defaults_to_the_host_name() {
        let n = NodeConfig::default();
        assert!(!n.resolved_name().is_empty());
        let n: NodeConfig = toml::from_str("name = \"bastion-a\"").unwrap();
        assert_eq!(n.resolved_name(), "bastion-a");
        let bad: NodeConfig = toml::from_str("name = \"a b\"").unwrap();
        assert_eq!(bad.validate().unwrap_err().0, "node.name");
    }
}
