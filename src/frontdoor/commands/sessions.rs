//! `sessions` and the arguments of `replay`, shared by `ssh bastion` and the local CLI.
//! Who may see what is the policy's `replay` action on the session's device; a session
//! the caller may not see answers exactly like one that does not exist.

use std::fmt::Write as _;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::CommandOutput;
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::policy::Action;
use crate::store::{SessionFilter, SessionRow};

/// `sessions` filters.
#[derive(Debug, Clone, Args)]
pub struct SessionsArgs {
    /// Only this user's sessions.
    #[arg(long)]
    pub user: Option<String>,
    /// Only sessions on this device.
    #[arg(long)]
    pub device: Option<String>,
    /// Started at or after (RFC 3339 or a prefix such as 2026-11-23).
    #[arg(long)]
    pub since: Option<String>,
    /// Started before.
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Only sessions still running (with several nodes: on every node).
    #[arg(long)]
    pub live: bool,
}

impl SessionsArgs {
    /// The store filter these arguments ask for.
    pub fn filter(&self) -> SessionFilter {
        SessionFilter {
            user: self.user.clone(),
            device: self.device.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            limit: Some(self.limit),
            live: self.live,
        }
    }
}

/// `replay` options.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Session id (or a unique prefix), as `sessions` lists them.
    pub id: String,
    /// Speed factor.
    #[arg(long, default_value_t = 1.0, value_parser = speed)]
    pub speed: f64,
    /// Longest pause kept, in seconds (0 or `none`: keep all pauses).
    #[arg(long, default_value = "2", value_parser = idle_cap)]
    pub idle_cap: IdleCap,
    /// Start at this offset (90, 1m30s or 01:30).
    #[arg(long, value_parser = offset)]
    pub at: Option<Duration>,
    /// Print the output only, without timing.
    #[arg(long)]
    pub cat: bool,
}

/// The longest pause kept in a replay; `None` keeps every pause.
#[derive(Debug, Clone, Copy)]
pub struct IdleCap(pub Option<f64>);

fn speed(s: &str) -> Result<f64, String> {
    s.parse()
        .ok()
        .filter(|v: &f64| *v > 0.0 && v.is_finite())
        .ok_or_else(|| format!("{s:?} is not a positive number"))
}

fn idle_cap(s: &str) -> Result<IdleCap, String> {
    match s {
        "none" | "0" => Ok(IdleCap(None)),
        _ => s
            .parse()
            .ok()
            .filter(|v: &f64| *v > 0.0 && v.is_finite())
            .map(|v| IdleCap(Some(v)))
            .ok_or_else(|| format!("{s:?} is not a number of seconds")),
    }
}

fn offset(s: &str) -> Result<Duration, String> {
    parse_offset(s).ok_or_else(|| format!("{s:?} is not an offset like 90, 1m30s or 01:30"))
}

/// `90`, `90s`, `1m30s` or `01:30` → a duration.
pub fn parse_offset(s: &str) -> Option<Duration> {
    if let Ok(secs) = s.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs));
    }
    if s.contains(':') {
        let mut total = 0u64;
        for part in s.split(':') {
            total = total
                .checked_mul(60)?
                .checked_add(part.parse::<u64>().ok()?)?;
        }
        return Some(Duration::from_secs(total));
    }
    humantime::parse_duration(s).ok()
}

/// Finds a session the user may replay. The refusal reads the same for a session that
/// does not exist and for one the caller may not see.
pub async fn find_session(
    bastion: &Bastion,
    id: &Identity,
    session: &str,
) -> Result<SessionRow, String> {
    let missing =
        || format!("replay: no session {session:?} you may replay (or the prefix is ambiguous)");
    let row = bastion
        .stores
        .sessions
        .get(session)
        .await
        .map_err(|e| format!("replay: {e}"))?;
    let Some(row) = row else {
        return Err(missing());
    };
    let context = json!({ "via": "replay", "session": row.id });
    let v = bastion
        .authz
        .decide_audited(id, &row.device, Action::Replay, context)
        .await;
    if !v.allowed {
        return Err(missing());
    }
    Ok(row)
}

/// The sessions of `filter` that `id` may replay (policy `replay` on each session's
/// device), newest first. Shared by `sessions` and the web console.
pub async fn replayable(
    bastion: &Bastion,
    id: &Identity,
    filter: &SessionFilter,
) -> Result<Vec<SessionRow>, String> {
    let rows = bastion
        .stores
        .sessions
        .list(filter)
        .await
        .map_err(|e| e.to_string())?;
    let mut visible = Vec::new();
    for r in rows {
        if bastion
            .authz
            .decide(id, &r.device, Action::Replay)
            .await
            .allowed
        {
            visible.push(r);
        }
    }
    Ok(visible)
}

/// `sessions [--user U] [--device D] [--since T] [--until T] [--limit N]`.
pub(super) async fn sessions(
    bastion: &Bastion,
    id: &Identity,
    args: SessionsArgs,
) -> CommandOutput {
    let visible = match replayable(bastion, id, &args.filter()).await {
        Ok(r) => r,
        Err(e) => return CommandOutput::fail(format!("sessions: {e}\n"), 1),
    };
    if visible.is_empty() {
        return CommandOutput::ok("No sessions you may replay match.\n".into());
    }
    CommandOutput::ok(sessions_table(&visible))
}

/// The session list as a table (bastion command and local CLI).
pub fn sessions_table(rows: &[SessionRow]) -> String {
    // The node column shows only when several nodes share the store.
    let nodes = rows.iter().any(|r| r.node.is_some());
    let node = |n: &str| {
        if nodes {
            format!(" {n:<12}")
        } else {
            String::new()
        }
    };
    let mut s = format!(
        "{:<26} {:<12} {:<14} {:<20}{} {:>10} {:>5}  {}\n",
        "SESSION",
        "USER",
        "DEVICE",
        "STARTED",
        node("NODE"),
        "BYTES",
        "EXIT",
        "END"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<26} {:<12} {:<14} {:<20}{} {:>10} {:>5}  {}",
            r.id,
            r.user,
            r.device,
            r.started.get(..19).unwrap_or(&r.started),
            node(r.node.as_deref().unwrap_or("")),
            r.bytes_out,
            r.exit_status
                .map(|e| e.to_string())
                .unwrap_or_else(|| "-".into()),
            r.end_reason
                .as_deref()
                .unwrap_or(if r.ended.is_none() { "(live)" } else { "" })
        );
    }
    s
}
