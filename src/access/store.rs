//! Access requests in sqlite (the audit store's file). Every state change is one
//! conditional `UPDATE ... WHERE state = ...` under the store's lock, so concurrent
//! approve / revoke / cancel calls are serialised and never both succeed on a stale state.

use std::fmt;
use std::time::{Duration, SystemTime};

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{from_unix, unix, AccessError, AccessTarget, Result};
use crate::audit::AuditStore;
use crate::policy::Action;

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

    fn parse(s: &str) -> State {
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

const COLUMNS: &str =
    "id, requester, roles, target, actions, duration_secs, reason, ticket, state, \
     created, expires, approvals_needed, granted_at, grant_end, closed_by, close_note, breakglass";

fn from_row(r: &Row<'_>) -> rusqlite::Result<AccessRequest> {
    let roles: String = r.get(2)?;
    let target: String = r.get(3)?;
    let actions: String = r.get(4)?;
    Ok(AccessRequest {
        id: r.get(0)?,
        requester: r.get(1)?,
        roles: roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        // Stored targets were validated on the way in; a damaged one matches nothing.
        target: AccessTarget::parse_unchecked(&target)
            .unwrap_or(AccessTarget::Device(format!("(invalid target {target:?})"))),
        actions: actions.split(',').filter_map(|a| a.parse().ok()).collect(),
        duration: Duration::from_secs(r.get::<_, i64>(5)?.max(0) as u64),
        reason: r.get(6)?,
        ticket: r.get(7)?,
        state: State::parse(&r.get::<_, String>(8)?),
        created: from_unix(r.get(9)?),
        expires: from_unix(r.get(10)?),
        approvals_needed: r.get::<_, i64>(11)?.max(0) as u32,
        approvers: Vec::new(),
        granted_at: r.get::<_, Option<i64>>(12)?.map(from_unix),
        grant_end: r.get::<_, Option<i64>>(13)?.map(from_unix),
        closed_by: r.get(14)?,
        close_note: r.get(15)?,
        breakglass: r.get::<_, i64>(16)? != 0,
    })
}

fn load_approvers(conn: &Connection, req: &mut AccessRequest) -> rusqlite::Result<()> {
    let mut st = conn.prepare_cached(
        "SELECT approver FROM access_approvals WHERE request_id = ?1 ORDER BY at, rowid",
    )?;
    req.approvers = st
        .query_map([req.id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(())
}

fn get(conn: &Connection, id: i64) -> Result<AccessRequest> {
    let mut req = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM access_requests WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?
        .ok_or(AccessError::NotFound(id))?;
    load_approvers(conn, &mut req)?;
    Ok(req)
}

/// Stores a new request; a break-glass one is approved at once. Returns it.
pub fn insert(store: &AuditStore, new: &NewRequest, now: SystemTime) -> Result<AccessRequest> {
    store.on_conn(|conn| {
        let (state, granted, end) = if new.breakglass {
            (State::Approved, Some(unix(now)), Some(unix(now + new.duration)))
        } else {
            (State::Pending, None, None)
        };
        let actions: Vec<&str> = new.actions.iter().map(|a| a.as_str()).collect();
        conn.execute(
            "INSERT INTO access_requests (requester, roles, target, actions, duration_secs, reason,
                ticket, state, created, expires, approvals_needed, granted_at, grant_end, breakglass)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                new.requester,
                new.roles.join(","),
                new.target.to_string(),
                actions.join(","),
                new.duration.as_secs() as i64,
                new.reason,
                new.ticket,
                state.as_str(),
                unix(now),
                unix(new.expires),
                new.approvals_needed as i64,
                granted,
                end,
                new.breakglass as i64,
            ],
        )?;
        get(conn, conn.last_insert_rowid())
    })
}

/// One request by id.
pub fn request(store: &AuditStore, id: i64) -> Result<AccessRequest> {
    store.on_conn(|conn| get(conn, id))
}

/// Requests, newest first: of `requester` if given, in `state` if given, at most `limit`.
pub fn list(
    store: &AuditStore,
    requester: Option<&str>,
    state: Option<State>,
    limit: usize,
) -> Result<Vec<AccessRequest>> {
    store.on_conn(|conn| {
        let mut st = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM access_requests
             WHERE (?1 IS NULL OR requester = ?1) AND (?2 IS NULL OR state = ?2)
             ORDER BY id DESC LIMIT ?3"
        ))?;
        let mut v = st
            .query_map(
                params![requester, state.map(State::as_str), limit as i64],
                from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for r in &mut v {
            load_approvers(conn, r)?;
        }
        Ok(v)
    })
}

/// Grants of `user` in force at `now`.
pub fn active_grants(
    store: &AuditStore,
    user: &str,
    now: SystemTime,
) -> Result<Vec<AccessRequest>> {
    store.on_conn(|conn| {
        let mut st = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM access_requests
             WHERE requester = ?1 AND state = 'approved' AND grant_end > ?2 ORDER BY id"
        ))?;
        let v = st
            .query_map(params![user, unix(now)], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    })
}

/// Adds `approver`'s approval to a pending, unexpired request; with enough approvals it
/// becomes a grant from `now`. Returns the request after the change.
pub fn approve(
    store: &AuditStore,
    id: i64,
    approver: &str,
    now: SystemTime,
) -> Result<AccessRequest> {
    store.on_conn(|conn| {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let req = get(&tx, id)?;
        if req.state != State::Pending || req.expires <= now {
            let state = if req.state == State::Pending {
                State::Expired
            } else {
                req.state
            };
            return Err(AccessError::WrongState {
                id,
                state,
                verb: "approved",
            });
        }
        if req.approvers.iter().any(|a| a == approver) {
            return Err(AccessError::Invalid(format!(
                "you already approved request {id}"
            )));
        }
        tx.execute(
            "INSERT INTO access_approvals (request_id, approver, at) VALUES (?1, ?2, ?3)",
            params![id, approver, unix(now)],
        )?;
        if req.approvers.len() as u32 + 1 >= req.approvals_needed {
            tx.execute(
                "UPDATE access_requests SET state = 'approved', granted_at = ?2, grant_end = ?3
                 WHERE id = ?1 AND state = 'pending'",
                params![id, unix(now), unix(now + req.duration)],
            )?;
        }
        let after = get(&tx, id)?;
        tx.commit()?;
        Ok(after)
    })
}

/// A state change of a request: deny, revoke, cancel.
#[derive(Debug, Clone, Copy)]
pub struct Transition<'a> {
    /// States it may start from.
    pub from: &'a [State],
    /// The new state.
    pub to: State,
    /// What it is called in errors (`revoked`).
    pub verb: &'static str,
    /// Who does it.
    pub by: &'a str,
    /// Their note.
    pub note: Option<&'a str>,
}

/// Applies `t` to request `id`, recording who and why; fails naming the current state
/// otherwise. A grant whose end passed counts as expired.
pub fn close(
    store: &AuditStore,
    id: i64,
    t: Transition<'_>,
    now: SystemTime,
) -> Result<AccessRequest> {
    let Transition {
        from,
        to,
        verb,
        by,
        note,
    } = t;
    store.on_conn(|conn| {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let req = get(&tx, id)?;
        let lapsed = match req.state {
            State::Pending => req.expires <= now,
            State::Approved => req.grant_end.is_none_or(|e| e <= now),
            _ => false,
        };
        if lapsed || !from.contains(&req.state) {
            let state = if lapsed { State::Expired } else { req.state };
            return Err(AccessError::WrongState { id, state, verb });
        }
        tx.execute(
            "UPDATE access_requests SET state = ?2, closed_by = ?3, close_note = ?4 WHERE id = ?1",
            params![id, to.as_str(), by, note],
        )?;
        let after = get(&tx, id)?;
        tx.commit()?;
        Ok(after)
    })
}

/// Marks pending requests past their expiry and grants past their end as expired;
/// returns them (for the audit log and for ending sessions).
pub fn sweep(store: &AuditStore, now: SystemTime) -> Result<Vec<AccessRequest>> {
    store.on_conn(|conn| {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let ids: Vec<i64> = {
            let mut st = tx.prepare_cached(
                "SELECT id FROM access_requests
                 WHERE (state = 'pending' AND expires <= ?1) OR (state = 'approved' AND grant_end <= ?1)",
            )?;
            let ids = st
                .query_map([unix(now)], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            ids
        };
        let mut out = Vec::new();
        for id in ids {
            tx.execute(
                "UPDATE access_requests SET state = 'expired' WHERE id = ?1",
                [id],
            )?;
            out.push(get(&tx, id)?);
        }
        tx.commit()?;
        Ok(out)
    })
}
