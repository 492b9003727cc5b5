//! Time-bound access from plain OpenSSH: `request`, `requests`, `approve`, `deny`,
//! `revoke`, `cancel`, `grants` and `breakglass`, parsed here, run by the access service,
//! rendered here.

use std::fmt::Write as _;
use std::time::SystemTime;

use clap::Subcommand;

use super::{CommandOutput, EXIT_FORBIDDEN};
use crate::access::State;
use crate::access::{grant_label, shown_state, AccessError, AccessRequest, Ask, RequestsView};
use crate::audit::{printable, rfc3339};
use crate::bastion::Bastion;
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

/// A request number as typed (`42` or `#42`).
fn request_number(s: &str) -> Result<i64, String> {
    s.trim_start_matches('#')
        .parse()
        .map_err(|_| format!("{s:?} is not a request number"))
}

/// A list of actions as typed (`connect,console.write`).
#[derive(Debug, Clone)]
pub struct Actions(Vec<Action>);

fn action_list(s: &str) -> Result<Actions, String> {
    let actions: Vec<Action> = s
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| a.parse().map_err(|e| format!("{e}")))
        .collect::<Result<_, _>>()?;
    if actions.is_empty() {
        return Err("--actions lists no action".into());
    }
    Ok(Actions(actions))
}

/// The access commands.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Ask for time-bound access.
    Request {
        /// A device, a selector like site=ams1,kind=ssh, or role:NAME.
        target: String,
        /// How long, like 2h or 30m.
        #[arg(value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
        /// Why.
        #[arg(required = true, num_args = 1..)]
        reason: Vec<String>,
        /// A ticket id.
        #[arg(long)]
        ticket: Option<String>,
        /// The actions (default connect).
        #[arg(long, value_parser = action_list)]
        actions: Option<Actions>,
    },
    /// Access requests: yours and those you may approve.
    Requests {
        /// Only yours.
        #[arg(long, conflicts_with = "pending")]
        mine: bool,
        /// Only pending ones you may approve.
        #[arg(long)]
        pending: bool,
    },
    /// Approve someone else's request.
    Approve {
        /// The request.
        #[arg(value_parser = request_number)]
        id: i64,
        /// A note.
        note: Vec<String>,
    },
    /// Refuse a request.
    Deny {
        /// The request.
        #[arg(value_parser = request_number)]
        id: i64,
        /// Why.
        reason: Vec<String>,
    },
    /// End a grant now.
    Revoke {
        /// The grant.
        #[arg(value_parser = request_number)]
        id: i64,
        /// Why.
        reason: Vec<String>,
    },
    /// Withdraw your pending request.
    Cancel {
        /// The request.
        #[arg(value_parser = request_number)]
        id: i64,
    },
    /// Grants in force.
    Grants {
        /// Every grant you may revoke, not only yours.
        #[arg(long)]
        all: bool,
    },
    /// Immediate emergency access.
    Breakglass {
        /// The device.
        device: String,
        /// Why.
        reason: Vec<String>,
    },
}

impl AccessCommand {
    fn name(&self) -> &'static str {
        match self {
            AccessCommand::Request { .. } => "request",
            AccessCommand::Requests { .. } => "requests",
            AccessCommand::Approve { .. } => "approve",
            AccessCommand::Deny { .. } => "deny",
            AccessCommand::Revoke { .. } => "revoke",
            AccessCommand::Cancel { .. } => "cancel",
            AccessCommand::Grants { .. } => "grants",
            AccessCommand::Breakglass { .. } => "breakglass",
        }
    }
}

/// Runs an access command and renders its result.
pub(super) async fn run(bastion: &Bastion, id: &Identity, cmd: AccessCommand) -> CommandOutput {
    let name = cmd.name();
    match apply(bastion, id, cmd).await {
        Ok(text) => CommandOutput::ok(text),
        Err(e) => {
            let exit = if matches!(e, AccessError::Forbidden(_)) {
                EXIT_FORBIDDEN
            } else {
                1
            };
            CommandOutput::fail(format!("{name}: {e}\n"), exit)
        }
    }
}

async fn apply(
    bastion: &Bastion,
    id: &Identity,
    cmd: AccessCommand,
) -> Result<String, AccessError> {
    let svc = &bastion.requests;
    match cmd {
        AccessCommand::Request {
            target,
            duration,
            reason,
            ticket,
            actions,
        } => {
            let ask = Ask {
                target,
                duration,
                reason: reason.join(" "),
                ticket,
                actions: actions
                    .map(|a| a.0)
                    .unwrap_or_else(|| vec![Action::Connect]),
            };
            Ok(requested(&svc.request(id, ask).await?))
        }
        AccessCommand::Requests { mine, pending } => {
            let view = match (mine, pending) {
                (true, _) => RequestsView::Mine,
                (_, true) => RequestsView::Pending,
                _ => RequestsView::All,
            };
            let rows = svc.visible(id, view).await?;
            if rows.is_empty() {
                return Ok("no access requests to show\n".into());
            }
            Ok(table(&rows, SystemTime::now()))
        }
        AccessCommand::Approve { id: n, .. } => Ok(approved(&svc.approve(id, n).await?)),
        AccessCommand::Deny { id: n, reason } => {
            let reason = reason.join(" ");
            svc.deny(id, n, &reason).await?;
            Ok(format!("request {n} denied: {}\n", reason.trim()))
        }
        AccessCommand::Revoke { id: n, reason } => {
            let (_, ended) = svc.revoke(id, n, &reason.join(" ")).await?;
            Ok(format!(
                "grant {n} revoked; {ended} live session(s) ended\n"
            ))
        }
        AccessCommand::Cancel { id: n } => {
            svc.cancel(id, n).await?;
            Ok(format!("request {n} cancelled\n"))
        }
        AccessCommand::Grants { all } => {
            let rows = svc.grants(id, all).await?;
            if rows.is_empty() {
                return Ok("no grants in force\n".into());
            }
            let mut s = table(&rows, SystemTime::now());
            for g in &rows {
                let _ = writeln!(s, "  #{}: {}", g.id, grant_label(g));
            }
            Ok(s)
        }
        AccessCommand::Breakglass { device, reason } => {
            let g = svc.breakglass(id, &device, &reason.join(" ")).await?;
            Ok(format!(
                "BREAK-GLASS grant #{}: you may connect to {device} until {} ({}).\n\
                 This is recorded loudly in the audit log and in your session recordings.\n",
                g.id,
                g.grant_end.map(rfc3339).unwrap_or_default(),
                humantime::format_duration(g.duration)
            ))
        }
    }
}

fn requested(req: &AccessRequest) -> String {
    format!(
        "request {} pending: {} on {} for {}, reason \"{}\"\n\
         needs {} approval(s) by someone allowed to approve it (they see it in `requests`);\n\
         expires unapproved at {}\n",
        req.id,
        req.actions_display(),
        req.target,
        humantime::format_duration(req.duration),
        printable(&req.reason),
        req.approvals_needed,
        rfc3339(req.expires),
    )
}

fn approved(after: &AccessRequest) -> String {
    let n = after.id;
    if after.state == State::Approved {
        format!(
            "request {n} approved: {} may {} on {} until {} ({})\n",
            after.requester,
            after.actions_display(),
            after.target,
            after.grant_end.map(rfc3339).unwrap_or_default(),
            humantime::format_duration(after.duration)
        )
    } else {
        format!(
            "approval {} of {} recorded for request {n}; {} more needed\n",
            after.approvers.len(),
            after.approvals_needed,
            (after.approvals_needed as usize).saturating_sub(after.approvers.len())
        )
    }
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
        // Reasons and tickets are typed by users: shown escaped to everyone else.
        let mut reason = printable(&r.reason);
        if let Some(t) = &r.ticket {
            let _ = write!(reason, " [{}]", printable(t));
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
