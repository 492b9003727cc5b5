//! The `[access]` section: limits of time-bound access and break-glass.

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
        let role = self.role_name();
        if role.len() <= 5 || role.contains(char::is_whitespace) {
            return Err((
                "access.breakglass_role".into(),
                format!("{:?} is not a role name", self.breakglass_role),
            ));
        }
        Ok(())
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
