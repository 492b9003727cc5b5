//! The bastion's TOML configuration file: typed, strict (`deny_unknown_fields`), validated,
//! with errors that name the file, the key and the reason.
//!
//! Relative paths in the file are resolved against the directory holding the file, so a
//! config can be moved together with its keys and policies.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod limits;
mod web;
pub use limits::Limits;
pub use web::WebConfig;

/// Errors while loading or validating the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read config: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key is unknown, missing or of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// toml's message, which names the line, the column and the key.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("{path}: {key}: {reason}")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Dotted name of the offending key, e.g. `auth.trusted_user_ca[1]`.
        key: String,
        /// Why the value is rejected.
        reason: String,
    },
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, ConfigError>;

/// The file as written by the operator.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: String,
    data_dir: PathBuf,
    policy_dir: PathBuf,
    inventory: PathBuf,
    recording_dir: Option<PathBuf>,
    #[serde(default)]
    host_names: Vec<String>,
    #[serde(default = "default_host_cert_validity", with = "humantime_serde")]
    host_cert_validity: Duration,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    recording: RecordingConfig,
    #[serde(default)]
    secrets: crate::secrets::SecretsConfig,
    #[serde(default)]
    access: crate::access::AccessConfig,
    webhook: Option<crate::notify::WebhookConfig>,
    #[serde(default)]
    audit: crate::audit::AuditConfig,
    #[serde(default)]
    log_format: LogFormat,
    metrics: Option<crate::metrics::MetricsConfig>,
    web: Option<web::RawWeb>,
    #[serde(default)]
    media: crate::bmc::MediaConfig,
    #[serde(default)]
    store: crate::store::StoreConfig,
    #[serde(default)]
    node: crate::store::NodeConfig,
    #[serde(default)]
    alert: Vec<crate::console::AlertConfig>,
}

/// How `oobgate serve` writes its log to stderr (top-level `log_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (coloured only when stderr is a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(default)]
    trusted_user_ca: Vec<PathBuf>,
    #[serde(default = "yes")]
    trust_builtin_ca: bool,
    revoked: Option<PathBuf>,
    #[serde(default = "default_attempts")]
    max_auth_attempts: usize,
    #[serde(default = "default_auth_timeout", with = "humantime_serde")]
    auth_timeout: Duration,
    #[serde(default = "default_max_cert_ttl", with = "humantime_serde")]
    max_cert_ttl: Duration,
}

impl Default for RawAuth {
    fn default() -> Self {
        RawAuth {
            trusted_user_ca: Vec::new(),
            trust_builtin_ca: true,
            revoked: None,
            max_auth_attempts: default_attempts(),
            auth_timeout: default_auth_timeout(),
            max_cert_ttl: default_max_cert_ttl(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_attempts() -> usize {
    6
}
fn default_auth_timeout() -> Duration {
    Duration::from_secs(20)
}
fn default_max_cert_ttl() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_host_cert_validity() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

/// Recording settings (`[recording]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingConfig {
    /// Record what admins type (`i` events). On by default.
    #[serde(default = "yes")]
    pub input: bool,
    /// The most one session's recording may take on disk; a session that reaches it is
    /// closed with a message (it never goes on unrecorded). Default 8 GiB.
    #[serde(default = "default_recording_max")]
    pub max_size: u64,
    /// Ship recordings to S3-compatible storage (`[recording.s3]`), for several nodes.
    pub s3: Option<crate::store::objects::S3Config>,
}

fn default_recording_max() -> u64 {
    8 << 30
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            input: true,
            max_size: default_recording_max(),
            s3: None,
        }
    }
}

/// The validated configuration, with every path absolute.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from (for messages).
    pub path: PathBuf,
    /// Address the front door listens on.
    pub listen: SocketAddr,
    /// Directory for keys, CAs and the sqlite store (created on first start).
    pub data_dir: PathBuf,
    /// Directory holding `model.conf` and `policy.csv`.
    pub policy_dir: PathBuf,
    /// The inventory TOML file.
    pub inventory: PathBuf,
    /// Where session recordings are written.
    pub recording_dir: PathBuf,
    /// Names the bastion's host certificate is valid for; empty means any name.
    pub host_names: Vec<String>,
    /// How long the host certificates the bastion mints are valid (renewed at half-life).
    pub host_cert_validity: Duration,
    /// Authentication settings.
    pub auth: AuthConfig,
    /// Resource and time limits.
    pub limits: Limits,
    /// Recording settings.
    pub recording: RecordingConfig,
    /// Where device credentials come from.
    pub secrets: crate::secrets::SecretsConfig,
    /// Time-bound access and break-glass (`[access]`).
    pub access: crate::access::AccessConfig,
    /// Where access events are POSTed (`[webhook]`), if anywhere.
    pub webhook: Option<crate::notify::WebhookConfig>,
    /// Audit forwarding (`[audit]`).
    pub audit: crate::audit::AuditConfig,
    /// Log format of `oobgate serve`.
    pub log_format: LogFormat,
    /// Where the Prometheus endpoint listens (`[metrics] listen`); None: nowhere.
    pub metrics: Option<SocketAddr>,
    /// The auditor's web console (`[web]`); None: not served.
    pub web: Option<WebConfig>,
    /// Where virtual media and firmware images may come from (`[media]`).
    pub media: crate::bmc::MediaConfig,
    /// Where the shared state lives (`[store]`).
    pub store: crate::store::StoreConfig,
    /// This node's name (`[node] name`, default the host name).
    pub node_name: String,
    /// Where the other nodes reach this node's front door (`[node] address`, default
    /// `listen`).
    pub node_address: String,
    /// Console alert rules (`[[alert]]`), checked (every regex compiles).
    pub alerts: Vec<crate::console::AlertConfig>,
}

/// Authentication settings (`[auth]`).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Public-key files of external user CAs whose certificates are trusted.
    pub trusted_user_ca: Vec<PathBuf>,
    /// Whether the built-in user CA (in the data dir) is trusted.
    pub trust_builtin_ca: bool,
    /// Revocation list file (serials and key ids), reloaded when it changes.
    pub revoked: Option<PathBuf>,
    /// Authentication attempts allowed per connection.
    pub max_auth_attempts: usize,
    /// Time allowed from TCP accept to successful authentication.
    pub auth_timeout: Duration,
    /// Longest certificate `oobgate ca sign` issues.
    pub max_cert_ttl: Duration,
}

impl Config {
    /// Reads, parses and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates config text; `path` names it in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        let base = std::path::absolute(&base).unwrap_or(base);
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let listen: SocketAddr = raw.listen.parse().map_err(|e| {
            invalid(
                "listen",
                format!("{:?} is not an IP:port address ({e})", raw.listen),
            )
        })?;
        check(&raw).map_err(|(key, reason)| invalid(&key, reason))?;
        raw.access
            .validate()
            .map_err(|(key, reason)| invalid(&key, reason))?;
        raw.store
            .validate()
            .and_then(|_| raw.node.validate())
            .map_err(|(key, reason)| invalid(&key, reason))?;
        let abs = |p: &Path| base.join(p);
        let mut trusted = Vec::new();
        for (i, ca) in raw.auth.trusted_user_ca.iter().enumerate() {
            let p = abs(ca);
            crate::identity::load_public_key(&p)
                .map_err(|e| invalid(&format!("auth.trusted_user_ca[{i}]"), e.to_string()))?;
            trusted.push(p);
        }
        let policy_dir = abs(&raw.policy_dir);
        if !policy_dir.is_dir() {
            return Err(invalid(
                "policy_dir",
                format!("{} is not a directory", policy_dir.display()),
            ));
        }
        let inventory = abs(&raw.inventory);
        if !inventory.is_file() {
            return Err(invalid(
                "inventory",
                format!("{} does not exist", inventory.display()),
            ));
        }
        let data_dir = abs(&raw.data_dir);
        let recording_dir = raw
            .recording_dir
            .as_deref()
            .map(abs)
            .unwrap_or_else(|| data_dir.join("recordings"));
        Ok(Config {
            path: path.to_path_buf(),
            listen,
            data_dir,
            policy_dir,
            inventory,
            recording_dir,
            host_names: raw.host_names,
            host_cert_validity: raw.host_cert_validity,
            auth: AuthConfig {
                trusted_user_ca: trusted,
                trust_builtin_ca: raw.auth.trust_builtin_ca,
                revoked: raw.auth.revoked.as_deref().map(abs),
                max_auth_attempts: raw.auth.max_auth_attempts,
                auth_timeout: raw.auth.auth_timeout,
                max_cert_ttl: raw.auth.max_cert_ttl,
            },
            limits: raw.limits,
            recording: RecordingConfig {
                s3: match raw.recording.s3 {
                    Some(s3) => Some(s3.resolve(&base).map_err(|(k, r)| invalid(&k, r))?),
                    None => None,
                },
                ..raw.recording
            },
            secrets: raw
                .secrets
                .resolve(&base)
                .map_err(|(key, reason)| invalid(&key, reason))?,
            access: raw.access,
            webhook: match raw.webhook {
                None => None,
                Some(mut w) => {
                    w.secret_file = w.secret_file.as_deref().map(abs);
                    w.validate().map_err(|e| {
                        let (key, reason) = e.setting();
                        invalid(key, reason)
                    })?;
                    Some(w)
                }
            },
            audit: raw.audit,
            log_format: raw.log_format,
            metrics: raw
                .metrics
                .as_ref()
                .map(crate::metrics::MetricsConfig::address)
                .transpose()
                .map_err(|(key, reason)| invalid(&key, reason))?,
            web: raw
                .web
                .map(|w| w.resolve(&base))
                .transpose()
                .map_err(|(key, reason)| invalid(&key, reason))?,
            media: {
                raw.media
                    .validate()
                    .map_err(|(key, reason)| invalid(&key, reason))?;
                raw.media
            },
            node_name: raw.node.resolved_name(),
            node_address: raw
                .node
                .address
                .clone()
                .unwrap_or_else(|| listen.to_string()),
            store: raw.store,
            alerts: {
                crate::console::validate_alerts(&raw.alert)
                    .map_err(|(key, reason)| invalid(&key, reason))?;
                raw.alert
            },
        })
    }

    /// Path of the sqlite store inside the data dir.
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("oobgate.db")
    }

    /// Path of the full-text search index inside the data dir.
    pub fn search_index_path(&self) -> PathBuf {
        self.data_dir.join("search.db")
    }
}

/// Checks the values that need no file system; the error names the key and the reason.
fn check(raw: &RawConfig) -> std::result::Result<(), (String, String)> {
    if raw.auth.max_auth_attempts == 0 || raw.auth.max_auth_attempts > 100 {
        return Err((
            "auth.max_auth_attempts".into(),
            "must be between 1 and 100".into(),
        ));
    }
    if raw.auth.auth_timeout.is_zero() {
        return Err(("auth.auth_timeout".into(), "must be more than 0s".into()));
    }
    if raw.auth.max_cert_ttl.is_zero() {
        return Err(("auth.max_cert_ttl".into(), "must be more than 0s".into()));
    }
    if raw.limits.max_connections == 0 {
        return Err(("limits.max_connections".into(), "must be at least 1".into()));
    }
    if raw.limits.max_session.is_zero() {
        return Err(("limits.max_session".into(), "must be more than 0s".into()));
    }
    for (key, n) in [
        ("limits.max_unauthenticated", raw.limits.max_unauthenticated),
        (
            "limits.max_unauthenticated_per_source",
            raw.limits.max_unauthenticated_per_source,
        ),
        (
            "limits.max_failures_per_source_per_minute",
            raw.limits.max_failures_per_source_per_minute,
        ),
    ] {
        if n == 0 {
            return Err((key.into(), "must be at least 1".into()));
        }
    }
    if raw.limits.stall_timeout.is_zero() {
        return Err(("limits.stall_timeout".into(), "must be more than 0s".into()));
    }
    if raw.limits.reload_interval.is_zero() {
        return Err((
            "limits.reload_interval".into(),
            "must be more than 0s".into(),
        ));
    }
    if !raw.auth.trust_builtin_ca && raw.auth.trusted_user_ca.is_empty() {
        return Err((
            "auth.trusted_user_ca".into(),
            "no user CA is trusted: list at least one CA public-key file or set trust_builtin_ca = true".into(),
        ));
    }
    if raw.host_cert_validity < Duration::from_secs(10) {
        return Err((
            "host_cert_validity".into(),
            "must be at least 10s (the bastion renews its host certificates at half-life)".into(),
        ));
    }
    for (i, name) in raw.host_names.iter().enumerate() {
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains(',') {
            return Err((
                format!("host_names[{i}]"),
                format!("{name:?} is not a host name"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("policies")).unwrap();
        std::fs::write(d.path().join("inventory.toml"), "").unwrap();
        d
    }

    const BASE: &str = "listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\npolicy_dir = \"policies\"\ninventory = \"inventory.toml\"\n";

    #[test]
    fn minimal_config_resolves_relative_paths() {
        let d = dir();
        let p = d.path().join("oobgate.toml");
        let c = Config::parse(BASE, &p).unwrap();
        assert_eq!(c.data_dir, d.path().join("data"));
        assert_eq!(c.recording_dir, d.path().join("data/recordings"));
        assert_eq!(c.auth.max_auth_attempts, 6);
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let d = dir();
        let p = d.path().join("oobgate.toml");
        let text = format!("{BASE}[auth]\nmax_auth_atempts = 3\n");
        let e = Config::parse(&text, &p).unwrap_err().to_string();
        assert!(e.contains("max_auth_atempts"), "{e}");
        assert!(e.contains("line 6"), "{e}");
        assert!(e.contains("oobgate.toml"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let d = dir();
        let p = d.path().join("oobgate.toml");
        let e = Config::parse(&BASE.replace("127.0.0.1:0", "localhost"), &p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen") && e.contains("not an IP:port"), "{e}");
        let e = Config::parse(&format!("{BASE}[limits]\nmax_session = \"soon\"\n"), &p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_session"), "{e}");
        let e = Config::parse(
            &format!("{BASE}[auth]\ntrusted_user_ca = [\"nope.pub\"]\n"),
            &p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("auth.trusted_user_ca[0]"), "{e}");
    }
}
