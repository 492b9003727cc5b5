//! Access requests as stored: their states, the grants they become, what they target, and
//! the store trait. The rules (who may approve, what a grant allows) are the `access`
//! module's; this is the data and its transitions, each applied atomically by the store
//! so concurrent approve / revoke / cancel calls never both succeed on a stale state.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::Result;
use crate::inventory::{Device, Inventory};
use crate::policy::Action;

/// Access requests, approvals and grants.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Stores a new request; a break-glass one is approved at once. Returns it.
    async fn insert(&self, new: &NewRequest, now: SystemTime) -> Result<AccessRequest>;
    /// One request by number.
    async fn get(&self, id: i64) -> Result<AccessRequest>;
    /// Requests, newest first: of `requester` if given, in `state` if given, at most
    /// `limit`.
    async fn list(
        &self,
        requester: Option<&str>,
        state: Option<State>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>>;
    /// Grants of `user` in force at `now`.
    async fn active_grants(&self, user: &str, now: SystemTime) -> Result<Vec<AccessRequest>>;
    /// Adds `approver`'s approval to a pending, unexpired request; with enough approvals
    /// it becomes a grant from `now`. Returns the request after the change.
    async fn approve(&self, id: i64, approver: &str, now: SystemTime) -> Result<AccessRequest>;
    /// Applies `t` to request `id`, recording who and why; fails naming the current state
    /// otherwise. A grant whose end passed counts as expired.
    async fn close(&self, id: i64, t: Transition, now: SystemTime) -> Result<AccessRequest>;
    /// Marks pending requests past their expiry and grants past their end as expired;
    /// returns them (for the audit log and for ending sessions).
    async fn sweep(&self, now: SystemTime) -> Result<Vec<AccessRequest>>;
}

/// Seconds since the epoch (the store's time unit).
pub fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs().min(i64::MAX as u64) as i64)
        .unwrap_or(0)
}

/// The time `secs` seconds after the epoch.
pub fn from_unix(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64)
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for approvals.
    Pending,
    /// Approved: a grant until its end.
    Approved,
    /// Refused by an approver.
    Denied,
    /// Nobody acted in time, or the grant ran out.
    Expired,
    /// The grant was withdrawn before its end.
    Revoked,
    /// The requester withdrew it while pending.
    Cancelled,
}

impl State {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Denied => "denied",
            State::Expired => "expired",
            State::Revoked => "revoked",
            State::Cancelled => "cancelled",
        }
    }

    /// The state stored as `s` (anything unknown reads as expired, which grants nothing).
    pub fn parse(s: &str) -> State {
        match s {
            "pending" => State::Pending,
            "approved" => State::Approved,
            "denied" => State::Denied,
            "revoked" => State::Revoked,
            "cancelled" => State::Cancelled,
            _ => State::Expired,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request as stored.
#[derive(Debug, Clone)]
pub struct AccessRequest {
    /// Its number (`approve 42`).
    pub id: i64,
    /// Who asked.
    pub requester: String,
    /// The requester's roles when asking.
    pub roles: Vec<String>,
    /// What for.
    pub target: AccessTarget,
    /// Which actions.
    pub actions: Vec<Action>,
    /// How long, from approval.
    pub duration: Duration,
    /// Why.
    pub reason: String,
    /// Optional ticket id.
    pub ticket: Option<String>,
    /// Current state.
    pub state: State,
    /// When asked.
    pub created: SystemTime,
    /// When a pending request expires.
    pub expires: SystemTime,
    /// Approvals needed.
    pub approvals_needed: u32,
    /// Who approved, in order.
    pub approvers: Vec<String>,
    /// When the grant started.
    pub granted_at: Option<SystemTime>,
    /// When the grant ends.
    pub grant_end: Option<SystemTime>,
    /// Who denied, revoked or cancelled it.
    pub closed_by: Option<String>,
    /// Their note.
    pub close_note: Option<String>,
    /// Break-glass access (self-granted by a break-glass role member).
    pub breakglass: bool,
}

impl AccessRequest {
    /// Whether this is a grant in force at `now`.
    pub fn active_at(&self, now: SystemTime) -> bool {
        self.state == State::Approved && self.grant_end.is_some_and(|end| end > now)
    }

    /// The actions as written on the command line (`connect,console.write`).
    pub fn actions_display(&self) -> String {
        let v: Vec<&str> = self.actions.iter().map(|a| a.as_str()).collect();
        v.join(",")
    }
}

/// A new request (or a break-glass grant).
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// Who asks.
    pub requester: String,
    /// Their roles.
    pub roles: Vec<String>,
    /// What for.
    pub target: AccessTarget,
    /// Which actions.
    pub actions: Vec<Action>,
    /// How long.
    pub duration: Duration,
    /// Why.
    pub reason: String,
    /// Optional ticket id.
    pub ticket: Option<String>,
    /// Approvals needed.
    pub approvals_needed: u32,
    /// When a pending request expires.
    pub expires: SystemTime,
    /// Granted at once (break-glass).
    pub breakglass: bool,
}

/// A state change of a request: deny, revoke, cancel.
#[derive(Debug, Clone)]
pub struct Transition {
    /// States it may start from.
    pub from: &'static [State],
    /// The new state.
    pub to: State,
    /// What it is called in errors (`revoked`).
    pub verb: &'static str,
    /// Who does it.
    pub by: String,
    /// Their note.
    pub note: Option<String>,
}

/// The target of an access request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessTarget {
    /// One inventory device by name.
    Device(String),
    /// Every device whose labels (or `kind`, or `name`) match all `key=value` pairs.
    Selector(Vec<(String, String)>),
    /// A role (`role:NAME`) added to the user's roles while the grant lasts.
    Role(String),
}

impl AccessTarget {
    /// Parses `sw1`, `site=ams1,kind=switch` or `role:netops`; a device must exist and a
    /// selector must match at least one device.
    pub fn parse(s: &str, inventory: &Inventory) -> std::result::Result<AccessTarget, String> {
        let target = Self::parse_unchecked(s)?;
        match &target {
            AccessTarget::Device(name) if inventory.get(name).is_none() => {
                Err(format!("no device {name:?} in the inventory"))
            }
            AccessTarget::Selector(_) if target.devices(inventory).is_empty() => {
                Err(format!("selector {s:?} matches no device in the inventory"))
            }
            _ => Ok(target),
        }
    }

    /// Parses without looking at the inventory (stored requests).
    pub fn parse_unchecked(s: &str) -> std::result::Result<AccessTarget, String> {
        let s = s.trim();
        if let Some(role) = s.strip_prefix("role:") {
            if role.is_empty() || role.contains(|c: char| c.is_whitespace() || c == ',') {
                return Err(format!("{s:?} is not a role name"));
            }
            return Ok(AccessTarget::Role(s.to_string()));
        }
        if s.contains('=') {
            let mut pairs = Vec::new();
            for part in s.split(',') {
                let Some((k, v)) = part.split_once('=') else {
                    return Err(format!("selector part {part:?} is not key=value"));
                };
                let (k, v) = (k.trim(), v.trim());
                if k.is_empty() || v.is_empty() {
                    return Err(format!("selector part {part:?} is not key=value"));
                }
                pairs.push((k.to_string(), v.to_string()));
            }
            return Ok(AccessTarget::Selector(pairs));
        }
        if s.is_empty() || s.contains(char::is_whitespace) {
            return Err(format!(
                "{s:?} is not a device, a selector like site=ams1,kind=switch, or role:NAME"
            ));
        }
        Ok(AccessTarget::Device(s.to_string()))
    }

    /// Whether `device` is covered (a role target covers no device by itself).
    pub fn matches(&self, device: &Device) -> bool {
        match self {
            AccessTarget::Device(name) => &device.name == name,
            AccessTarget::Selector(pairs) => pairs.iter().all(|(k, v)| match k.as_str() {
                "name" => &device.name == v,
                "kind" => device.kind.as_str() == v || device.labels.get("kind") == Some(v),
                _ => device.labels.get(k) == Some(v),
            }),
            AccessTarget::Role(_) => false,
        }
    }

    /// The inventory devices covered, sorted by name.
    pub fn devices<'a>(&self, inventory: &'a Inventory) -> Vec<&'a Device> {
        let mut v: Vec<&Device> = inventory.devices().filter(|d| self.matches(d)).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

impl fmt::Display for AccessTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessTarget::Device(n) => f.write_str(n),
            AccessTarget::Role(r) => f.write_str(r),
            AccessTarget::Selector(pairs) => {
                let s: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                f.write_str(&s.join(","))
            }
        }
    }
}

/// Whether `approver` may approve `req` now: it must be pending and unexpired (a lapsed
/// one is reported as expired even before the sweep has marked it), and not already
/// approved by them. The same rule for every backend.
pub(crate) fn check_approvable(
    req: &AccessRequest,
    approver: &str,
    now: std::time::SystemTime,
) -> super::Result<()> {
    if req.state != State::Pending || req.expires <= now {
        let state = if req.state == State::Pending {
            State::Expired
        } else {
            req.state
        };
        return Err(super::StoreError::WrongState {
            id: req.id,
            state,
            verb: "approved",
        });
    }
    if req.approvers.iter().any(|a| a == approver) {
        return Err(super::StoreError::Refused(format!(
            "you already approved request {}",
            req.id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory() -> Inventory {
        Inventory::parse(
            "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"127.0.0.1:1\"\n\
             labels = { site = \"ams1\", type = \"switch\" }\n\
             [[device]]\nname = \"sw2\"\nkind = \"ssh\"\naddress = \"127.0.0.1:1\"\n\
             labels = { site = \"fra1\", type = \"switch\" }\n",
            std::path::Path::new("inventory.toml"),
        )
        .unwrap()
    }

    #[test]
    fn targets_parse_match_and_name_bad_input() {
        let inv = inventory();
        let sel = AccessTarget::parse("site=ams1,kind=ssh", &inv).unwrap();
        assert_eq!(sel.to_string(), "site=ams1,kind=ssh");
        let names: Vec<_> = sel.devices(&inv).iter().map(|d| d.name.clone()).collect();
        assert_eq!(names, ["sw1"]);
        let all = AccessTarget::parse("type=switch", &inv).unwrap();
        assert_eq!(all.devices(&inv).len(), 2);
        assert_eq!(
            AccessTarget::parse("role:netops", &inv).unwrap(),
            AccessTarget::Role("role:netops".into())
        );
        let e = AccessTarget::parse("sw9", &inv).unwrap_err().to_string();
        assert!(e.contains("no device \"sw9\""), "{e}");
        let e = AccessTarget::parse("site=lon1", &inv)
            .unwrap_err()
            .to_string();
        assert!(e.contains("matches no device"), "{e}");
        let e = AccessTarget::parse("site=,x", &inv)
            .unwrap_err()
            .to_string();
        assert!(e.contains("key=value"), "{e}");
        assert!(AccessTarget::parse("role:", &inv).is_err());
    }
}
