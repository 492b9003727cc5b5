//! The `[access]` section: limits of time-bound access and break-glass.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// Settings of access requests and break-glass (`[access]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// Longest duration a request may ask for.
    #[serde(default = "max_duration", with = "humantime_serde")]
    pub max_duration: Duration,
    /// A pending request nobody acted on expires after this.
    #[serde(default = "request_ttl", with = "humantime_serde")]
    pub request_ttl: Duration,
    /// Approvals (by distinct approvers, never the requester) a request needs.
    #[serde(default = "one")]
    pub approvals: u32,
    /// Members of this role (`role:NAME` principal) may use `breakglass`.
    #[serde(default = "breakglass_role")]
    pub breakglass_role: String,
    /// How long break-glass access lasts.
    #[serde(default = "breakglass_duration", with = "humantime_serde")]
    pub breakglass_duration: Duration,
    /// A device session with no byte either way for this long is closed (`0s`: never).
    #[serde(default, with = "humantime_serde")]
    pub session_idle: Duration,
    /// Stricter idle timeouts for some roles (`"role:contractor" = "10m"`); the smallest
    /// that applies to a user wins.
    #[serde(default)]
    pub session_idle_by_role: BTreeMap<String, humantime_serde::Serde<Duration>>,
}

fn max_duration() -> Duration {
    Duration::from_secs(8 * 3600)
}
fn request_ttl() -> Duration {
    Duration::from_secs(3600)
}
fn one() -> u32 {
    1
}
fn breakglass_role() -> String {
    "breakglass".into()
}
fn breakglass_duration() -> Duration {
    Duration::from_secs(3600)
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            max_duration: max_duration(),
            request_ttl: request_ttl(),
            approvals: one(),
            breakglass_role: breakglass_role(),
            breakglass_duration: breakglass_duration(),
            session_idle: Duration::ZERO,
            session_idle_by_role: BTreeMap::new(),
        }
    }
}

impl AccessConfig {
    /// Checks the values; the error is `(key, reason)`.
    pub fn validate(&self) -> std::result::Result<(), (String, String)> {
        let zero = |key: &str, d: Duration| {
            if d.is_zero() {
                Err((format!("access.{key}"), "must be more than 0s".to_string()))
            } else {
                Ok(())
            }
        };
        zero("max_duration", self.max_duration)?;
        zero("request_ttl", self.request_ttl)?;
        zero("breakglass_duration", self.breakglass_duration)?;
        if self.approvals == 0 || self.approvals > 10 {
            return Err(("access.approvals".into(), "must be between 1 and 10".into()));
        }
        for (role, d) in &self.session_idle_by_role {
            if !role.starts_with("role:") {
                return Err((
                    format!("access.session_idle_by_role.{role:?}"),
                    "keys are roles written role:NAME".into(),
                ));
            }
            if d.is_zero() {
                return Err((
                    format!("access.session_idle_by_role.{role:?}"),
                    "must be more than 0s".into(),
                ));
            }
        }
        let role = self.role_name();
        if role.len() <= 5 || role.contains(char::is_whitespace) {
            return Err((
                "access.breakglass_role".into(),
                format!("{:?} is not a role name", self.breakglass_role),
            ));
        }
        Ok(())
    }

    /// The idle timeout of a session by a user with `roles`, if any.
    pub fn idle_timeout(&self, roles: &[String]) -> Option<Duration> {
        let by_role = roles
            .iter()
            .filter_map(|r| self.session_idle_by_role.get(r).map(|d| **d));
        let default = (!self.session_idle.is_zero()).then_some(self.session_idle);
        by_role.chain(default).filter(|d| !d.is_zero()).min()
    }

    /// The break-glass role as it appears among an identity's roles (`role:NAME`).
    pub fn role_name(&self) -> String {
        if self.breakglass_role.starts_with("role:") {
            self.breakglass_role.clone()
        } else {
            format!("role:{}", self.breakglass_role)
        }
    }
}
