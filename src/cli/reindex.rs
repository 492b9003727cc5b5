//! `oobgate reindex [--since T]`: rebuilds the search index from the recordings on disk
//! (recordings older than the index, or a lost index). Each session's lines are replaced,
//! so running it twice gives the same index. Sessions still running are left to the live
//! index of the serving bastion.

use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, Result};
use oobgate::config::Config;
use oobgate::search::{open_index, reindex_file, SessionInfo};
use oobgate::store::{SessionFilter, SessionRow};

use super::stores::with_stores;

/// `oobgate reindex`.
pub fn reindex(config: &Path, since: Option<String>) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let filter = SessionFilter {
        since,
        ..SessionFilter::default()
    };
    let rows = with_stores(&config, |stores| async move {
        anyhow::Ok(stores.sessions.list(&filter).await?)
    })?;
    let index_path = config.search_index_path();
    let mut conn = open_index(&index_path)
        .with_context(|| format!("search index {}", index_path.display()))?;
    let (mut sessions, mut lines, mut failed) = (0usize, 0usize, 0usize);
    for row in rows.iter().filter(|r| r.ended.is_some()) {
        let path = config.recording_dir.join(format!("{}.cast", row.id));
        match reindex_file(&mut conn, &info(row), &path) {
            Ok(n) => {
                sessions += 1;
                lines += n;
            }
            Err(e) => {
                failed += 1;
                eprintln!("oobgate: session {}: {e}", row.id);
            }
        }
    }
    let live = rows.iter().filter(|r| r.ended.is_none()).count();
    println!(
        "reindexed {sessions} session(s), {lines} line(s); {live} running session(s) left to the live index; {failed} failed"
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn info(row: &SessionRow) -> SessionInfo {
    let started_at =
        time::OffsetDateTime::parse(&row.started, &time::format_description::well_known::Rfc3339)
            .map(SystemTime::from)
            .unwrap_or(SystemTime::UNIX_EPOCH);
    SessionInfo {
        id: row.id.clone(),
        user: row.user.clone(),
        device: row.device.clone(),
        started_at,
    }
}
