//! Time-bound access as operations: ask, approve, deny, revoke, cancel, list, break-glass.
//! Each checks the approval rules (policy `request` / `approve` on every device of the
//! target; nobody approves their own request), applies the store transition, and records
//! the change as an audit event and a webhook call. Parsing and rendering are the front
//! end's business.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::{AccessConfig, AccessError, AccessRequest, AccessTarget, Authorizer, LiveSessions};
use super::{NewRequest, Result, State, Transition};
use crate::audit::{rfc3339, Event};
use crate::identity::Identity;
use crate::notify::Notifier;
use crate::policy::Action;
use crate::store::{AccessStore, AuditLog};

/// Actions a request may ask for.
pub const REQUESTABLE: [Action; 8] = [
    Action::Connect,
    Action::ConsoleRead,
    Action::ConsoleWrite,
    Action::ConsoleForce,
    Action::PowerStatus,
    Action::PowerControl,
    Action::Forward,
    Action::Replay,
];

/// Which requests `requests` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestsView {
    /// Yours, and those you may approve.
    All,
    /// Yours only.
    Mine,
    /// Pending ones you may approve.
    Pending,
}

/// The access request service.
#[derive(Clone)]
pub struct Requests {
    authz: Authorizer,
    store: Arc<dyn AccessStore>,
    audit: Arc<dyn AuditLog>,
    notifier: Notifier,
    live: LiveSessions,
    config: AccessConfig,
}

/// A request as asked for.
#[derive(Debug, Clone)]
pub struct Ask {
    /// `sw1`, `site=ams1,kind=ssh` or `role:NAME`.
    pub target: String,
    /// How long the grant should last.
    pub duration: Duration,
    /// Why.
    pub reason: String,
    /// A ticket id.
    pub ticket: Option<String>,
    /// The actions (default `connect`).
    pub actions: Vec<Action>,
}

impl Requests {
    /// Requests stored in `store`, decided with `authz`, recorded in `audit`, announced by
    /// `notifier`; revocations end sessions registered in `live`.
    pub fn new(
        authz: Authorizer,
        store: Arc<dyn AccessStore>,
        audit: Arc<dyn AuditLog>,
        notifier: Notifier,
        live: LiveSessions,
        config: AccessConfig,
    ) -> Requests {
        Requests {
            authz,
            store,
            audit,
            notifier,
            live,
            config,
        }
    }

    /// The `[access]` settings.
    pub fn config(&self) -> &AccessConfig {
        &self.config
    }

    /// Whether policy (not grants) allows `action` on every device of `target` (on
    /// `bastion` for a role); the error names the first object refused.
    async fn permitted(
        &self,
        id: &Identity,
        target: &AccessTarget,
        action: Action,
    ) -> std::result::Result<(), String> {
        let inventory = self.authz.policy().inventory();
        let objects: Vec<String> = match target {
            AccessTarget::Role(_) => vec!["bastion".into()],
            _ => target
                .devices(&inventory)
                .iter()
                .map(|d| d.name.clone())
                .collect(),
        };
        if objects.is_empty() {
            return Err(format!("{target} matches no device"));
        }
        for o in objects {
            let d = self
                .authz
                .policy()
                .decide(&id.user, &id.roles, &o, action)
                .await;
            if !d.allowed {
                return Err(format!("{action} on {o}: {}", d.reason));
            }
        }
        Ok(())
    }

    /// Whether `id` may approve `r` (policy `approve` on its target, and not their own).
    pub async fn may_approve(&self, id: &Identity, r: &AccessRequest) -> bool {
        r.requester != id.user && self.permitted(id, &r.target, Action::Approve).await.is_ok()
    }

    async fn record(&self, id: &Identity, kind: &str, req: &AccessRequest, outcome: &str) {
        let detail = payload(req);
        let mut ev = Event::new(kind)
            .user(&id.user)
            .source(id.source.to_string())
            .action(kind.trim_start_matches("access."))
            .outcome(outcome)
            .detail(detail.clone());
        if let AccessTarget::Device(d) = &req.target {
            ev = ev.device(d);
        }
        if let Err(e) = self.audit.append(ev).await {
            tracing::error!(error = %e, "cannot record an access event");
        }
        let mut hook = detail;
        if let Some(m) = hook.as_object_mut() {
            m.insert("by".into(), id.user.clone().into());
        }
        self.notifier.send(kind, hook);
    }

    /// Asks for access; returns the pending request.
    pub async fn request(&self, id: &Identity, ask: Ask) -> Result<AccessRequest> {
        let inventory = self.authz.policy().inventory();
        let target = AccessTarget::parse(&ask.target, &inventory).map_err(AccessError::Invalid)?;
        let max = self.config.max_duration;
        if ask.duration.is_zero() || ask.duration > max {
            return Err(AccessError::Invalid(format!(
                "duration {} is not between 1s and the maximum of {} (access.max_duration)",
                humantime::format_duration(ask.duration),
                humantime::format_duration(max)
            )));
        }
        let reason = ask.reason.trim().to_string();
        if reason.is_empty() {
            return Err(AccessError::Invalid("a reason is required".into()));
        }
        if let Some(a) = ask.actions.iter().find(|a| !REQUESTABLE.contains(a)) {
            return Err(AccessError::Invalid(format!("{a} cannot be requested")));
        }
        self.permitted(id, &target, Action::Request)
            .await
            .map_err(|e| AccessError::Forbidden(format!("you may not request access: {e}")))?;
        let now = SystemTime::now();
        let mut actions: Vec<Action> = Vec::new();
        for a in ask.actions {
            if !actions.contains(&a) {
                actions.push(a);
            }
        }
        if actions.is_empty() {
            actions.push(Action::Connect);
        }
        let new = NewRequest {
            requester: id.user.clone(),
            roles: id.roles.clone(),
            target,
            actions,
            duration: ask.duration,
            reason,
            ticket: ask.ticket,
            approvals_needed: self.config.approvals,
            expires: now + self.config.request_ttl,
            breakglass: false,
        };
        let req = self.store.insert(&new, now).await?;
        self.record(id, "access.request", &req, "pending").await;
        Ok(req)
    }

    /// Approves request `n`; the result is a grant once it has its approvals.
    pub async fn approve(&self, id: &Identity, n: i64) -> Result<AccessRequest> {
        let req = self.store.get(n).await?;
        if req.requester == id.user {
            return Err(AccessError::Forbidden(format!(
                "you cannot approve your own request {n}"
            )));
        }
        // Said as `requests` shows it: a lapsed request or grant is expired before the sweep.
        let shown = shown_state(&req, SystemTime::now());
        if shown != State::Pending && shown != req.state {
            return Err(AccessError::WrongState {
                id: n,
                state: shown,
                verb: "approved",
            });
        }
        self.permitted(id, &req.target, Action::Approve)
            .await
            .map_err(|e| AccessError::Forbidden(format!("you may not approve request {n}: {e}")))?;
        let after = self.store.approve(n, &id.user, SystemTime::now()).await?;
        self.record(id, "access.approve", &after, "ok").await;
        if after.state == State::Approved {
            self.record(id, "access.grant", &after, "ok").await;
        }
        Ok(after)
    }

    /// Refuses request `n`, saying why.
    pub async fn deny(&self, id: &Identity, n: i64, reason: &str) -> Result<AccessRequest> {
        if reason.trim().is_empty() {
            return Err(AccessError::Invalid("say why: deny ID REASON".into()));
        }
        let req = self.store.get(n).await?;
        self.permitted(id, &req.target, Action::Approve)
            .await
            .map_err(|e| AccessError::Forbidden(format!("you may not deny request {n}: {e}")))?;
        let t = Transition {
            from: &[State::Pending],
            to: State::Denied,
            verb: "denied",
            by: id.user.clone(),
            note: Some(reason.trim().to_string()),
        };
        let after = self.store.close(n, t, SystemTime::now()).await?;
        self.record(id, "access.deny", &after, "ok").await;
        Ok(after)
    }

    /// Ends grant `n` now; returns it and how many live sessions it ended.
    pub async fn revoke(
        &self,
        id: &Identity,
        n: i64,
        reason: &str,
    ) -> Result<(AccessRequest, usize)> {
        let req = self.store.get(n).await?;
        if req.requester != id.user {
            self.permitted(id, &req.target, Action::Approve)
                .await
                .map_err(|e| {
                    AccessError::Forbidden(format!("you may not revoke grant {n}: {e}"))
                })?;
        }
        let reason = reason.trim();
        let t = Transition {
            from: &[State::Approved],
            to: State::Revoked,
            verb: "revoked",
            by: id.user.clone(),
            note: (!reason.is_empty()).then(|| reason.to_string()),
        };
        let after = self.store.close(n, t, SystemTime::now()).await?;
        let why = super::revoked_reason(n, &id.user, Some(reason));
        let ended = self.live.end_grant(n, &why);
        self.record(id, "access.revoke", &after, "ok").await;
        Ok((after, ended))
    }

    /// Withdraws the caller's own pending request `n`.
    pub async fn cancel(&self, id: &Identity, n: i64) -> Result<AccessRequest> {
        let req = self.store.get(n).await?;
        if req.requester != id.user {
            return Err(AccessError::Forbidden(format!(
                "request {n} is {}'s; only they can cancel it",
                req.requester
            )));
        }
        let t = Transition {
            from: &[State::Pending],
            to: State::Cancelled,
            verb: "cancelled",
            by: id.user.clone(),
            note: None,
        };
        let after = self.store.close(n, t, SystemTime::now()).await?;
        self.record(id, "access.cancel", &after, "ok").await;
        Ok(after)
    }

    /// The requests `id` may see in `view`, newest first.
    pub async fn visible(&self, id: &Identity, view: RequestsView) -> Result<Vec<AccessRequest>> {
        let now = SystemTime::now();
        let rows = self
            .store
            .list(
                (view == RequestsView::Mine).then_some(id.user.as_str()),
                (view == RequestsView::Pending).then_some(State::Pending),
                200,
            )
            .await?;
        let mut shown = Vec::new();
        for r in rows {
            if view == RequestsView::Pending && shown_state(&r, now) != State::Pending {
                continue;
            }
            let visible = if r.requester == id.user {
                view != RequestsView::Pending
            } else {
                self.may_approve(id, &r).await
            };
            if visible {
                shown.push(r);
            }
        }
        Ok(shown)
    }

    /// Grants in force: the caller's, or with `all` every grant the caller may revoke.
    pub async fn grants(&self, id: &Identity, all: bool) -> Result<Vec<AccessRequest>> {
        let now = SystemTime::now();
        let rows = self
            .store
            .list(
                (!all).then_some(id.user.as_str()),
                Some(State::Approved),
                500,
            )
            .await?;
        let mut shown = Vec::new();
        for r in rows.into_iter().filter(|r| r.active_at(now)) {
            if r.requester == id.user || self.may_approve(id, &r).await {
                shown.push(r);
            }
        }
        Ok(shown)
    }

    /// Expires lapsed pending requests and grants, ending the sessions of every grant
    /// that ran out; each expiry is an audit event.
    pub async fn sweep(&self) -> Result<usize> {
        let lapsed = self.store.sweep(SystemTime::now()).await?;
        for r in &lapsed {
            let was_grant = r.grant_end.is_some();
            if was_grant {
                self.live
                    .end_grant(r.id, &format!("access grant #{} ended", r.id));
            }
            let ev = Event::new("access.expire")
                .user(&r.requester)
                .action("expire")
                .outcome("ok")
                .detail(json!({
                    "request": r.id,
                    "target": r.target.to_string(),
                    "was": if was_grant { "grant" } else { "pending request" },
                }));
            if let Err(e) = self.audit.append(ev).await {
                tracing::error!(error = %e, "cannot record an expiry");
            }
        }
        Ok(lapsed.len())
    }

    /// Immediate emergency access to `device` for members of the break-glass role.
    pub async fn breakglass(
        &self,
        id: &Identity,
        device: &str,
        reason: &str,
    ) -> Result<AccessRequest> {
        let role = self.config.role_name();
        if !id.roles.contains(&role) {
            return Err(AccessError::Forbidden(format!(
                "breakglass is for members of {role}"
            )));
        }
        let reason = reason.trim().to_string();
        if reason.is_empty() {
            return Err(AccessError::Invalid(
                "a reason is required: breakglass DEVICE REASON".into(),
            ));
        }
        let inventory = self.authz.policy().inventory();
        let target = AccessTarget::parse(device, &inventory).map_err(AccessError::Invalid)?;
        if !matches!(target, AccessTarget::Device(_)) {
            return Err(AccessError::Invalid(
                "breakglass takes one device name".into(),
            ));
        }
        let now = SystemTime::now();
        let new = NewRequest {
            requester: id.user.clone(),
            roles: id.roles.clone(),
            target,
            actions: vec![Action::Connect, Action::ConsoleWrite, Action::ConsoleForce],
            duration: self.config.breakglass_duration,
            reason,
            ticket: None,
            approvals_needed: 0,
            expires: now,
            breakglass: true,
        };
        let req = self.store.insert(&new, now).await?;
        tracing::warn!(user = %id.user, device = %device, grant = req.id, "BREAK-GLASS access taken: {}", req.reason);
        self.record(id, "access.breakglass", &req, "alert").await;
        Ok(req)
    }
}

/// The state a user sees: lapsed requests and grants read as expired before the sweep.
pub fn shown_state(r: &AccessRequest, now: SystemTime) -> State {
    match r.state {
        State::Pending if r.expires <= now => State::Expired,
        State::Approved if !r.active_at(now) => State::Expired,
        s => s,
    }
}

/// The request as audit detail (and webhook payload).
fn payload(req: &AccessRequest) -> serde_json::Value {
    json!({
        "request": req.id,
        "requester": req.requester,
        "target": req.target.to_string(),
        "actions": req.actions_display(),
        "duration": humantime::format_duration(req.duration).to_string(),
        "reason": req.reason,
        "ticket": req.ticket,
        "state": req.state.as_str(),
        "approvers": req.approvers,
        "grant_end": req.grant_end.map(rfc3339),
        "closed_by": req.closed_by,
        "note": req.close_note,
        "breakglass": req.breakglass,
    })
}
