//! Access decisions and time-bound access: every authorization the bastion makes
//! ([`Authorizer`]), requests, approvals, the grants they become and break-glass
//! ([`Requests`]), and the live sessions that depend on a grant or a certificate
//! ([`LiveSessions`]).
//!
//! A request names a target (one device, a label selector such as `site=ams1,kind=switch`,
//! or a role), a set of actions (default `connect`), a duration within
//! `access.max_duration` and a reason. Approvers are whoever policy allows `approve` on the
//! target; nobody approves their own request. Once it has its approvals, the request is a
//! grant from that moment for its duration. Every state change is an audit event (and a
//! webhook call), and requests live in the store, so grants survive a restart. A grant can
//! widen "no rule allows" into "allowed", never override a `deny` line.

mod authorize;
mod config;
mod live;
mod requests;
mod weblink;

pub use authorize::{grant_label, Authorizer, Verdict};
pub use config::AccessConfig;
pub use live::{revoked_reason, LiveSession, LiveSessions};
pub use requests::{shown_state, Ask, Requests, RequestsView, REQUESTABLE};
pub use weblink::{random_token, token_key, WebLinks, LINK_TTL};

pub use crate::store::{AccessRequest, AccessTarget, NewRequest, State, Transition};

use std::time::Duration;

use crate::inventory::Device;
use crate::policy::Action;
use crate::store::StoreError;

/// Errors of access requests (shown to the admin as they are).
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Bad command input: names what was wrong.
    #[error("{0}")]
    Invalid(String),
    /// The user may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such request.
    #[error("no access request {0}")]
    NotFound(i64),
    /// The request is not in a state that allows this.
    #[error("request {id} is {state}, it cannot be {verb}")]
    WrongState {
        /// The request.
        id: i64,
        /// Its current state.
        state: State,
        /// What was attempted (`approved`, `revoked`...).
        verb: &'static str,
    },
    /// The store failed.
    #[error("access store: {0}")]
    Store(#[source] StoreError),
}

impl From<StoreError> for AccessError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => AccessError::NotFound(id),
            StoreError::WrongState { id, state, verb } => {
                AccessError::WrongState { id, state, verb }
            }
            StoreError::Refused(why) => AccessError::Invalid(why),
            other => AccessError::Store(other),
        }
    }
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, AccessError>;

/// Whether a grant for `actions` covers `action`: `connect` on a console covers reading
/// and typing on it.
pub fn actions_cover(actions: &[Action], action: Action) -> bool {
    actions.contains(&action)
        || (actions.contains(&Action::Connect)
            && matches!(action, Action::ConsoleRead | Action::ConsoleWrite))
}

/// The active grant of `grants` that covers `action` on `device`, if any; role grants are
/// left to the caller, which re-runs policy with the extra role.
pub fn device_grant<'a>(
    grants: &'a [AccessRequest],
    device: &Device,
    action: Action,
) -> Option<&'a AccessRequest> {
    grants
        .iter()
        .filter(|g| !matches!(g.target, AccessTarget::Role(_)))
        .find(|g| g.target.matches(device) && actions_cover(&g.actions, action))
}

/// Parses a duration like `2h`, `90m`, `1h30m`; the error names the input.
pub fn parse_duration(s: &str) -> Result<Duration> {
    humantime::parse_duration(s)
        .map_err(|e| AccessError::Invalid(format!("{s:?} is not a duration like 2h or 30m ({e})")))
}
