//! `sessions` and `replay` on the bastion command surface: auditors list recorded sessions
//! and play them back over their SSH connection. Who may see what is the policy's `replay`
//! action on the session's device.

use std::fmt::Write as _;
use std::time::Duration;

use russh::server::Msg;
use russh::Channel;
use serde_json::json;

use super::{Bastion, CommandOutput};
use crate::audit::{Event, SessionFilter, SessionRow};
use crate::identity::Identity;
use crate::policy::Action;
use crate::recording::{PlayOptions, Recording};

/// Options shared by `ssh bastion replay` and `oobgate replay`.
#[derive(Debug, Clone)]
pub struct ReplayArgs {
    /// Session id (or unique prefix).
    pub id: String,
    /// Playback speed factor.
    pub speed: f64,
    /// Longest pause kept, in seconds.
    pub idle_cap: Option<f64>,
    /// Start this far into the recording.
    pub at: Duration,
    /// Print the output only, no timing.
    pub cat: bool,
}

/// Parses `ID [--speed X] [--idle-cap S] [--at T] [--cat]`.
pub fn parse_replay(args: &[String]) -> Result<ReplayArgs, String> {
    let mut out = ReplayArgs {
        id: String::new(),
        speed: 1.0,
        idle_cap: Some(2.0),
        at: Duration::ZERO,
        cat: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("replay: {name} needs a value"))
        };
        match a.as_str() {
            "--speed" => {
                let v = value("--speed")?;
                out.speed = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && s.is_finite())
                    .ok_or_else(|| format!("replay: --speed {v:?} is not a positive number"))?;
            }
            "--idle-cap" => {
                let v = value("--idle-cap")?;
                out.idle_cap = match v.as_str() {
                    "none" | "0" => None,
                    _ => Some(v.parse().map_err(|_| {
                        format!("replay: --idle-cap {v:?} is not a number of seconds")
                    })?),
                };
            }
            "--at" => {
                let v = value("--at")?;
                out.at = parse_offset(&v).ok_or_else(|| {
                    format!("replay: --at {v:?} is not an offset like 90, 1m30s or 01:30")
                })?;
            }
            "--cat" => out.cat = true,
            s if s.starts_with('-') => return Err(format!("replay: unknown option {s:?}")),
            s if out.id.is_empty() => out.id = s.to_string(),
            s => return Err(format!("replay: unexpected argument {s:?}")),
        }
    }
    if out.id.is_empty() {
        return Err("replay: which session? `sessions` lists them".into());
    }
    Ok(out)
}

/// `90`, `90s`, `1m30s` or `01:30` → a duration.
pub fn parse_offset(s: &str) -> Option<Duration> {
    if let Ok(secs) = s.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs));
    }
    if s.contains(':') {
        let mut total = 0u64;
        for part in s.split(':') {
            total = total * 60 + part.parse::<u64>().ok()?;
        }
        return Some(Duration::from_secs(total));
    }
    humantime::parse_duration(s).ok()
}

/// Finds a session the user may replay, or says why not.
pub async fn find_session(
    bastion: &Bastion,
    id: &Identity,
    session: &str,
) -> Result<SessionRow, String> {
    let row = bastion
        .audit
        .session(session)
        .map_err(|e| format!("replay: {e}"))?
        .ok_or_else(|| format!("replay: no session {session:?} (or the prefix is ambiguous)"))?;
    let d = bastion.authorize(id, &row.device, Action::Replay).await;
    bastion.audit(
        Event::new("policy.decision")
            .user(&id.user)
            .source(id.source.to_string())
            .device(&row.device)
            .action("replay")
            .outcome(if d.allowed { "allow" } else { "deny" })
            .detail(json!({ "session": row.id, "reason": d.reason, "rule": d.rule })),
    );
    if !d.allowed {
        return Err(format!("replay: access denied: {}", d.reason));
    }
    Ok(row)
}

/// `sessions [--user U] [--device D] [--since T] [--until T] [--limit N]`.
pub async fn sessions(bastion: &Bastion, id: &Identity, args: &[String]) -> CommandOutput {
    let mut f = SessionFilter {
        limit: Some(50),
        ..Default::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(v) = it.next().cloned() else {
            return CommandOutput::fail(format!("sessions: {a} needs a value\n"), 2);
        };
        match a.as_str() {
            "--user" => f.user = Some(v),
            "--device" => f.device = Some(v),
            "--since" => f.since = Some(v),
            "--until" => f.until = Some(v),
            "--limit" => match v.parse() {
                Ok(n) => f.limit = Some(n),
                Err(_) => return CommandOutput::fail(format!("sessions: bad --limit {v:?}\n"), 2),
            },
            other => {
                return CommandOutput::fail(format!("sessions: unknown option {other:?}\n"), 2)
            }
        }
    }
    let rows = match bastion.audit.sessions(&f) {
        Ok(r) => r,
        Err(e) => return CommandOutput::fail(format!("sessions: {e}\n"), 1),
    };
    let mut visible = Vec::new();
    for r in rows {
        if bastion
            .authorize(id, &r.device, Action::Replay)
            .await
            .allowed
        {
            visible.push(r);
        }
    }
    if visible.is_empty() {
        return CommandOutput::ok("No sessions you may replay match.\n".into());
    }
    CommandOutput::ok(sessions_table(&visible))
}

async fn fail(channel: Channel<Msg>, msg: String) {
    let _ = channel.data_bytes(format!("{msg}\r\n").into_bytes()).await;
    super::shell::finish(&channel, 1).await;
}

/// `replay ID ...` over the admin's channel: timed playback with keys, or `--cat`.
/// Ends the channel with the exit status.
pub async fn replay(bastion: &Bastion, id: &Identity, args: &[String], channel: Channel<Msg>) {
    let args = match parse_replay(args) {
        Ok(a) => a,
        Err(e) => return fail(channel, e).await,
    };
    let row = match find_session(bastion, id, &args.id).await {
        Ok(r) => r,
        Err(e) => return fail(channel, e).await,
    };
    let Some(path) = row.recording.clone() else {
        return fail(
            channel,
            format!("replay: session {} has no recording", row.id),
        )
        .await;
    };
    let rec = match Recording::open(std::path::Path::new(&path)) {
        Ok(r) => r,
        Err(e) => return fail(channel, format!("replay: {e}")).await,
    };
    bastion.audit(
        Event::new("replay")
            .user(&id.user)
            .source(id.source.to_string())
            .device(&row.device)
            .action("replay")
            .outcome("ok")
            .detail(json!({ "session": row.id, "cat": args.cat })),
    );
    if args.cat {
        let mut buf = Vec::new();
        if let Err(e) = rec.cat(&mut buf) {
            return fail(channel, format!("replay: {e}")).await;
        }
        let _ = channel.data_bytes(buf).await;
        return super::shell::finish(&channel, 0).await;
    }
    let opts = PlayOptions {
        speed: args.speed,
        idle_cap: args.idle_cap.map(Duration::from_secs_f64),
        start_at: args.at,
    };
    let (mut read, write) = channel.split();
    let out = write.make_writer();
    let (keys_tx, keys_rx) = tokio::io::duplex(64);
    let pump = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut keys_tx = keys_tx;
        while let Some(msg) = read.wait().await {
            match msg {
                russh::ChannelMsg::Data { data } if keys_tx.write_all(&data).await.is_err() => {
                    break
                }
                russh::ChannelMsg::Eof | russh::ChannelMsg::Close => break,
                _ => {}
            }
        }
    });
    let r = crate::recording::play(&rec, out, keys_rx, opts).await;
    pump.abort();
    let code = match r {
        Ok(()) => 0,
        Err(e) => {
            let _ = write
                .data_bytes(format!("\r\nreplay: {e}\r\n").into_bytes())
                .await;
            1
        }
    };
    let _ = write.exit_status(code).await;
    let _ = write.eof().await;
    let _ = write.close().await;
}

/// The session list as a table (bastion command and local CLI).
pub fn sessions_table(rows: &[SessionRow]) -> String {
    let mut s = format!(
        "{:<26} {:<12} {:<14} {:<20} {:>10} {:>5}  {}\n",
        "SESSION", "USER", "DEVICE", "STARTED", "BYTES", "EXIT", "END"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<26} {:<12} {:<14} {:<20} {:>10} {:>5}  {}",
            r.id,
            r.user,
            r.device,
            r.started.get(..19).unwrap_or(&r.started),
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
