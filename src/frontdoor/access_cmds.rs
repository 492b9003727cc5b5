//! Time-bound access from plain OpenSSH: `request`, `requests`, `approve`, `deny`,
//! `revoke`, `cancel`, `grants` and `breakglass` as bastion commands.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::authorize::grant_label;
use super::commands::CommandOutput;
use super::Bastion;
use crate::access::{
    self, store, AccessError, AccessRequest, AccessTarget, NewRequest, State, Transition,
};
use crate::audit::{rfc3339, Event};
use crate::identity::Identity;
use crate::policy::Action;

/// The access commands with a one-line description, for `help`.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "request TARGET DURATION REASON [--ticket T] [--actions A,B]",
        "ask for time-bound access (TARGET: device, site=ams1,kind=ssh, or role:NAME)",
    ),
    (
        "requests [--mine|--pending]",
        "access requests: yours and those you may approve",
    ),
    ("approve ID [NOTE]", "approve someone else's request"),
    ("deny ID REASON", "refuse a request"),
    ("revoke ID [REASON]", "end a grant now (its sessions close)"),
    ("cancel ID", "withdraw your pending request"),
    (
        "grants [--all]",
        "grants in force: yours, or all you may revoke",
    ),
    (
        "breakglass DEVICE REASON",
        "immediate emergency access (break-glass role)",
    ),
];

/// Actions a request may ask for.
const GRANTABLE: [Action; 8] = [
    Action::Connect,
    Action::ConsoleRead,
    Action::ConsoleWrite,
    Action::ConsoleForce,
    Action::PowerStatus,
    Action::PowerControl,
    Action::Forward,
    Action::Replay,
];

/// Runs `cmd` if it is an access command.
pub async fn run(
    bastion: &Bastion,
    id: &Identity,
    cmd: &str,
    args: &[String],
) -> Option<CommandOutput> {
    let r = match cmd {
        "request" => request(bastion, id, args).await,
        "requests" => requests(bastion, id, args).await,
        "approve" => approve(bastion, id, args).await,
        "deny" => deny(bastion, id, args).await,
        "revoke" => revoke(bastion, id, args).await,
        "cancel" => cancel(bastion, id, args).await,
        "grants" => grants(bastion, id, args).await,
        "breakglass" => breakglass(bastion, id, args).await,
        _ => return None,
    };
    Some(match r {
        Ok(text) => CommandOutput::ok(text),
        Err(e) => {
            let exit = if matches!(e, AccessError::Forbidden(_)) {
                77
            } else {
                1
            };
            CommandOutput::fail(format!("{cmd}: {e}\n"), exit)
        }
    })
}

type Result<T> = std::result::Result<T, AccessError>;

fn invalid(msg: impl Into<String>) -> AccessError {
    AccessError::Invalid(msg.into())
}

/// Whether policy (not grants) allows `action` on every device of `target` (on `bastion`
/// for a role); the error names the first object refused.
async fn permitted(
    bastion: &Bastion,
    id: &Identity,
    target: &AccessTarget,
    action: Action,
) -> std::result::Result<(), String> {
    let inventory = bastion.policy.inventory();
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
        let d = bastion.policy.decide(&id.user, &id.roles, &o, action).await;
        if !d.allowed {
            return Err(format!("{action} on {o}: {}", d.reason));
        }
    }
    Ok(())
}

fn audit(bastion: &Bastion, id: &Identity, kind: &str, req: &AccessRequest, outcome: &str) {
    let device = match &req.target {
        AccessTarget::Device(d) => Some(d.clone()),
        _ => None,
    };
    let detail = payload(req);
    let mut ev = Event::new(kind)
        .user(&id.user)
        .source(id.source.to_string())
        .action(kind.trim_start_matches("access."))
        .outcome(outcome)
        .detail(detail.clone());
    if let Some(d) = device {
        ev = ev.device(d);
    }
    bastion.audit(ev);
    let mut hook = detail;
    if let Some(m) = hook.as_object_mut() {
        m.insert("by".into(), id.user.clone().into());
    }
    bastion.notifier.send(kind, hook);
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

fn parse_id(args: &[String], usage: &str) -> Result<(i64, String)> {
    let Some((first, rest)) = args.split_first() else {
        return Err(invalid(format!("usage: {usage}")));
    };
    let id = first
        .trim_start_matches('#')
        .parse()
        .map_err(|_| invalid(format!("{first:?} is not a request number; usage: {usage}")))?;
    Ok((id, rest.join(" ").trim().to_string()))
}

async fn request(bastion: &Bastion, id: &Identity, args: &[String]) -> Result<String> {
    const USAGE: &str = "request TARGET DURATION REASON [--ticket T] [--actions A,B]";
    let mut positional = Vec::new();
    let mut ticket = None;
    let mut actions = vec![Action::Connect];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--ticket" => {
                ticket = Some(
                    it.next()
                        .ok_or_else(|| invalid("--ticket needs a value"))?
                        .clone(),
                )
            }
            "--actions" => {
                let list = it.next().ok_or_else(|| invalid("--actions needs a list"))?;
                actions = Vec::new();
                for a in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                    let act: Action = a.parse().map_err(|e| invalid(format!("{e}")))?;
                    if !GRANTABLE.contains(&act) {
                        return Err(invalid(format!("{act} cannot be requested")));
                    }
                    if !actions.contains(&act) {
                        actions.push(act);
                    }
                }
                if actions.is_empty() {
                    return Err(invalid("--actions lists no action"));
                }
            }
            _ => positional.push(a.clone()),
        }
    }
    if positional.len() < 3 {
        return Err(invalid(format!("usage: {USAGE}")));
    }
    let inventory = bastion.policy.inventory();
    let target = AccessTarget::parse(&positional[0], &inventory)?;
    let duration = access::parse_duration(&positional[1])?;
    let max = bastion.config.access.max_duration;
    if duration.is_zero() || duration > max {
        return Err(invalid(format!(
            "duration {} is not between 1s and the maximum of {} (access.max_duration)",
            positional[1],
            humantime::format_duration(max)
        )));
    }
    let reason = positional[2..].join(" ").trim().to_string();
    if reason.is_empty() {
        return Err(invalid("a reason is required"));
    }
    permitted(bastion, id, &target, Action::Request)
        .await
        .map_err(|e| AccessError::Forbidden(format!("you may not request access: {e}")))?;
    let now = SystemTime::now();
    let req = store::insert(
        &bastion.audit,
        &NewRequest {
            requester: id.user.clone(),
            roles: id.roles.clone(),
            target,
            actions,
            duration,
            reason,
            ticket,
            approvals_needed: bastion.config.access.approvals,
            expires: now + bastion.config.access.request_ttl,
            breakglass: false,
        },
        now,
    )?;
    audit(bastion, id, "access.request", &req, "pending");
    Ok(format!(
        "request {} pending: {} on {} for {}, reason {:?}\n\
         needs {} approval(s) by someone allowed to approve it (they see it in `requests`);\n\
         expires unapproved at {}\n",
        req.id,
        req.actions_display(),
        req.target,
        humantime::format_duration(req.duration),
        req.reason,
        req.approvals_needed,
        rfc3339(req.expires),
    ))
}

/// The state a user sees: lapsed requests and grants read as expired before the sweep.
fn shown_state(r: &AccessRequest, now: SystemTime) -> State {
    match r.state {
        State::Pending if r.expires <= now => State::Expired,
        State::Approved if !r.active_at(now) => State::Expired,
        s => s,
    }
}

async fn may_approve(bastion: &Bastion, id: &Identity, r: &AccessRequest) -> bool {
    r.requester != id.user
        && permitted(bastion, id, &r.target, Action::Approve)
            .await
            .is_ok()
}

fn table(rows: &[AccessRequest], now: SystemTime) -> String {
    let mut s = format!(
        "{:<5} {:<10} {:<12} {:<22} {:<16} {:<8} {:<21} {}\n",
        "ID", "STATE", "USER", "TARGET", "ACTIONS", "FOR", "UNTIL", "REASON"
    );
    for r in rows {
        let state = shown_state(r, now);
        let until = match state {
            State::Pending => format!("(asks until {})", rfc3339(r.expires)),
            _ => r.grant_end.map(rfc3339).unwrap_or_else(|| "-".into()),
        };
        let mut reason = r.reason.clone();
        if let Some(t) = &r.ticket {
            let _ = write!(reason, " [{t}]");
        }
        if r.breakglass {
            reason = format!("BREAK-GLASS: {reason}");
        }
        let _ = writeln!(
            s,
            "{:<5} {:<10} {:<12} {:<22} {:<16} {:<8} {:<21} {}",
            r.id,
            state.as_str(),
            r.requester,
            r.target.to_string(),
            r.actions_display(),
            humantime::format_duration(r.duration).to_string(),
            until,
            reason
        );
    }
    s
}

async fn requests(bastion: &Bastion, id: &Identity, args: &[String]) -> Result<String> {
    let (mine, pending) = match args.first().map(String::as_str) {
        None => (false, false),
        Some("--mine") => (true, false),
        Some("--pending") => (false, true),
        Some(other) => {
            return Err(invalid(format!(
                "unknown option {other:?} (--mine, --pending)"
            )))
        }
    };
    let now = SystemTime::now();
    let rows = store::list(
        &bastion.audit,
        mine.then_some(id.user.as_str()),
        pending.then_some(State::Pending),
        200,
    )?;
    let mut shown = Vec::new();
    for r in rows {
        if pending && shown_state(&r, now) != State::Pending {
            continue;
        }
        let visible = if r.requester == id.user {
            !pending
        } else {
            may_approve(bastion, id, &r).await
        };
        if visible {
            shown.push(r);
        }
    }
    if shown.is_empty() {
        return Ok("no access requests to show\n".into());
    }
    Ok(table(&shown, now))
}

async fn approve(bastion: &Bastion, id: &Identity, args: &[String]) -> Result<String> {
    let (n, _note) = parse_id(args, "approve ID [NOTE]")?;
    let req = store::request(&bastion.audit, n)?;
    if req.requester == id.user {
        return Err(AccessError::Forbidden(format!(
            "you cannot approve your own request {n}"
        )));
    }
    permitted(bastion, id, &req.target, Action::Approve)
        .await
        .map_err(|e| AccessError::Forbidden(format!("you may not approve request {n}: {e}")))?;
    let after = store::approve(&bastion.audit, n, &id.user, SystemTime::now())?;
    audit(bastion, id, "access.approve", &after, "ok");
    if after.state == State::Approved {
        audit(bastion, id, "access.grant", &after, "ok");
        Ok(format!(
            "request {n} approved: {} may {} on {} until {} ({})\n",
            after.requester,
            after.actions_display(),
            after.target,
            after.grant_end.map(rfc3339).unwrap_or_default(),
            humantime::format_duration(after.duration)
        ))
    } else {
        Ok(format!(
            "approval {} of {} recorded for request {n}; {} more needed\n",
            after.approvers.len(),
            after.approvals_needed,
            after.approvals_needed as usize - after.approvers.len()
        ))
    }
}

async fn deny(bastion: &Bastion, id: &Identity, args: &[String]) -> Result<String> {
    let (n, reason) = parse_id(args, "deny ID REASON")?;
    if reason.is_empty() {
        return Err(invalid("say why: deny ID REASON"));
    }
    let req = store::request(&bastion.audit, n)?;
    permitted(bastion, id, &req.target, Action::Approve)
        .await
        .map_err(|e| AccessError::Forbidden(format!("you may not deny request {n}: {e}")))?;
    let t = Transition {
        from: &[State::Pending],
        to: State::Denied,
        verb: "denied",
        by: &id.user,
        note: Some(&reason),
    };
    let after = store::close(&bastion.audit, n, t, SystemTime::now())?;
    audit(bastion, id, "access.deny", &after, "ok");
    Ok(format!("request {n} denied: {reason}\n"))
}

async fn revoke(bastion: &Bastion, id: &Identity, args: &[String]) -> Result<String> {
    let (n, reason) = parse_id(args, "revoke ID [REASON]")?;
    let req = store::request(&bastion.audit, n)?;
    if req.requester != id.user {
        permitted(bastion, id, &req.target, Action::Approve)
            .await
            .map_err(|e| AccessError::Forbidden(format!("you may not revoke grant {n}: {e}")))?;
    }
    let t = Transition {
        from: &[State::Approved],
        to: State::Revoked,
        verb: "revoked",
        by: &id.user,
        note: (!reason.is_empty()).then_some(reason.as_str()),
    };
    let after = store::close(&bastion.audit, n, t, SystemTime::now())?;
    let why = if reason.is_empty() {
        format!("access grant #{n} revoked by {}", id.user)
    } else {
        format!("access grant #{n} revoked by {}: {reason}", id.user)
    };
    let ended = bastion.live.end_grant(n, &why);
    audit(bastion, id, "access.revoke", &after, "ok");
    Ok(format!(
        "grant {n} revoked; {ended} live session(s) ended\n"
    ))
}

async fn cancel(bastion: &Bastion, id: &Identity, args: &[String]) -> Result<String> {
    let (n, _) = parse_id(args, "cancel ID")?;
    let req = store::request(&bastion.audit, n)?;
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
        by: &id.user,
        note: None,
    };
    let after = store::close(&bastion.audit, n, t, SystemTime::now())?;
    audit(bastion, id, "access.cancel", &after, "ok");
    Ok(format!("request {n} cancelled\n"))
}

async fn grants(bastion: &Bastion, id: &Identity, args: &[String]) -> Result<String> {
    let all = match args.first().map(String::as_str) {
        None => false,
        Some("--all") => true,
        Some(other) => return Err(invalid(format!("unknown option {other:?} (--all)"))),
    };
    let now = SystemTime::now();
    let rows = store::list(
        &bastion.audit,
        (!all).then_some(id.user.as_str()),
        Some(State::Approved),
        500,
    )?;
    let mut shown = Vec::new();
    for r in rows.into_iter().filter(|r| r.active_at(now)) {
        if r.requester == id.user || may_approve(bastion, id, &r).await {
            shown.push(r);
        }
    }
    if shown.is_empty() {
        return Ok("no grants in force\n".into());
    }
    let mut s = table(&shown, now);
    for g in &shown {
        let _ = writeln!(s, "  #{}: {}", g.id, grant_label(g));
    }
    Ok(s)
}

async fn breakglass(bastion: &Bastion, id: &Identity, args: &[String]) -> Result<String> {
    let role = bastion.config.access.role_name();
    if !id.roles.contains(&role) {
        return Err(AccessError::Forbidden(format!(
            "breakglass is for members of {role}"
        )));
    }
    let Some((device, rest)) = args.split_first() else {
        return Err(invalid("usage: breakglass DEVICE REASON"));
    };
    let reason = rest.join(" ").trim().to_string();
    if reason.is_empty() {
        return Err(invalid("a reason is required: breakglass DEVICE REASON"));
    }
    let inventory = bastion.policy.inventory();
    let target = AccessTarget::parse(device, &inventory)?;
    if !matches!(target, AccessTarget::Device(_)) {
        return Err(invalid("breakglass takes one device name"));
    }
    let duration: Duration = bastion.config.access.breakglass_duration;
    let now = SystemTime::now();
    let req = store::insert(
        &bastion.audit,
        &NewRequest {
            requester: id.user.clone(),
            roles: id.roles.clone(),
            target,
            actions: vec![Action::Connect, Action::ConsoleWrite, Action::ConsoleForce],
            duration,
            reason,
            ticket: None,
            approvals_needed: 0,
            expires: now,
            breakglass: true,
        },
        now,
    )?;
    tracing::warn!(user = %id.user, device = %device, grant = req.id, "BREAK-GLASS access taken: {}", req.reason);
    audit(bastion, id, "access.breakglass", &req, "alert");
    Ok(format!(
        "BREAK-GLASS grant #{}: you may connect to {device} until {} ({}).\n\
         This is recorded loudly in the audit log and in your session recordings.\n",
        req.id,
        req.grant_end.map(rfc3339).unwrap_or_default(),
        humantime::format_duration(duration)
    ))
}
