//! `search TEXT [--user U] [--device D] [--since T] [--typed|--shown] [-n N]`: the lines
//! sessions showed or admins typed that contain TEXT (one phrase), newest first, only from
//! sessions on devices the policy lets the caller `replay`. Audited as `search`.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use clap::Args;
use serde_json::json;

use super::CommandOutput;
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::policy::Action;
use crate::search::{Hit, Query, Stream, MAX_LIMIT};

/// `search` arguments.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// The words to find, in this order (quote them: 'reload in 5').
    #[arg(required = true, num_args = 1..)]
    pub text: Vec<String>,
    /// Only this user's sessions.
    #[arg(long)]
    pub user: Option<String>,
    /// Only sessions on this device.
    #[arg(long)]
    pub device: Option<String>,
    /// Only lines from this time on: RFC 3339, a date (2026-11-23) or an age (2h, 3d).
    #[arg(long, value_parser = since)]
    pub since: Option<SystemTime>,
    /// Only what admins typed.
    #[arg(long, conflicts_with = "shown")]
    pub typed: bool,
    /// Only what devices showed.
    #[arg(long)]
    pub shown: bool,
    /// At most this many hits.
    #[arg(short = 'n', long = "limit", default_value_t = 50, value_parser = limit)]
    pub limit: usize,
}

fn limit(s: &str) -> Result<usize, String> {
    s.parse()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| format!("{s:?} is not a number of hits from 1 to {MAX_LIMIT}"))
}

/// `--since`: RFC 3339, a date (midnight UTC) or an age before now.
pub fn since(s: &str) -> Result<SystemTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.into());
    }
    let date = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, &date) {
        return Ok(d.midnight().assume_utc().into());
    }
    if let Ok(age) = humantime::parse_duration(s) {
        return Ok(SystemTime::now()
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH));
    }
    Err(format!(
        "{s:?} is not a time: use RFC 3339, a date like 2026-11-23, or an age like 2h"
    ))
}

impl SearchArgs {
    fn query(&self) -> Query {
        Query {
            text: self.text.join(" "),
            user: self.user.clone(),
            device: self.device.clone(),
            since: self.since,
            stream: match (self.typed, self.shown) {
                (true, _) => Some(Stream::Typed),
                (_, true) => Some(Stream::Shown),
                _ => None,
            },
            limit: self.limit,
        }
    }
}

/// Runs a search for `id`.
pub(super) async fn search(bastion: &Bastion, id: &Identity, args: SearchArgs) -> CommandOutput {
    let query = args.query();
    let hits = match find(bastion, id, &query).await {
        Ok(h) => h,
        Err(e) => return CommandOutput::fail(format!("search: {e}\n"), 1),
    };
    if hits.is_empty() {
        return CommandOutput::ok(format!("No line you may see matches {:?}.\n", query.text));
    }
    CommandOutput::ok(hits_table(&hits))
}

/// The hits of `query` that `id` may see (policy `replay` on each session's device),
/// newest first; the search is audited. Shared by `ssh bastion search` and the web console.
pub async fn find(bastion: &Bastion, id: &Identity, query: &Query) -> Result<Vec<Hit>, String> {
    let hits = run_query(bastion, id, query).await?;
    let stream = query.stream.map(Stream::as_str);
    bastion
        .audit(
            Event::new("search")
                .user(&id.user)
                .source(id.source.to_string())
                .action("search")
                .outcome("ok")
                .detail(json!({
                    "query": query.text, "user": query.user, "device": query.device,
                    "since": query.since.map(crate::audit::rfc3339), "stream": stream,
                    "hits": hits.len(),
                })),
        )
        .await;
    Ok(hits)
}

async fn run_query(bastion: &Bastion, id: &Identity, query: &Query) -> Result<Vec<Hit>, String> {
    let index = bastion
        .search
        .as_ref()
        .ok_or("the search index is not available on this bastion (its log says why)")?;
    crate::search::phrase(&query.text).map_err(|e| e.to_string())?;
    let reader = index.reader();
    let devices = reader.devices().await.map_err(|e| e.to_string())?;
    let mut allowed = HashSet::new();
    for d in devices {
        if bastion.authz.decide(id, &d, Action::Replay).await.allowed {
            allowed.insert(d);
        }
    }
    reader
        .query(query.clone(), allowed)
        .await
        .map_err(|e| e.to_string())
}

/// `mm:ss` (or `h:mm:ss` past an hour) from the session's start.
pub fn offset(ms: u64) -> String {
    let secs = Duration::from_millis(ms).as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

/// The hits as a table; control characters in a line are shown as `?`, so a recorded
/// line can never drive the auditor's terminal.
pub fn hits_table(hits: &[Hit]) -> String {
    let mut s = format!(
        "{:<26} {:<12} {:<14} {:>8} {:<5}  {}\n",
        "SESSION", "USER", "DEVICE", "OFFSET", "WHAT", "LINE"
    );
    for h in hits {
        let line: String = h
            .line
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        let _ = writeln!(
            s,
            "{:<26} {:<12} {:<14} {:>8} {:<5}  {}",
            h.session.id,
            h.session.user,
            h.session.device,
            offset(h.offset_ms),
            h.stream.as_str(),
            line.trim_end()
        );
    }
    s
}
