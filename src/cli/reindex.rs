//! `oobgate reindex [--since T]`: rebuilds the search index from the recordings on disk
//! (recordings older than the index, or a lost index). Each session's lines are replaced,
//! so running it twice gives the same index. Sessions still running are left to the live
//! index of the serving bastion. On a shared store (several nodes) the index is the shared
//! one, and each node reindexes the sessions it carried, whose recordings are on its disk;
//! with `[recording.s3]` any node reindexes every session, reading what its spool lacks
//! from the bucket.

use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, Result};
use oobgate::config::Config;
use oobgate::search::{open_index, SessionInfo, Sink};
use oobgate::store::{SessionFilter, SessionRow};

use super::stores::{open, runtime};

/// `oobgate reindex`.
pub fn reindex(config: &Path, since: Option<String>) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let filter = SessionFilter {
        since,
        // Every session, not the newest 100 a listing shows.
        limit: Some(i64::MAX as usize),
        ..SessionFilter::default()
    };
    let rt = runtime()?;
    let (rows, shared, recordings) = rt.block_on(async {
        let stores = open(&config).await?;
        anyhow::Ok((
            stores.sessions.list(&filter).await?,
            stores.search.clone(),
            stores.recordings.clone(),
        ))
    })?;
    // With an object store every node reads every recording.
    let everywhere = recordings.remote().is_some();
    let mut sink = match shared {
        Some(index) => Sink::Shared(index, rt.handle().clone()),
        None => {
            let index_path = config.search_index_path();
            let conn = open_index(&index_path)
                .with_context(|| format!("search index {}", index_path.display()))?;
            Sink::File(conn)
        }
    };
    // On a shared store without an object store, each node reindexes the sessions it
    // carried (their recordings are on its disk).
    let (mine, others): (Vec<&SessionRow>, Vec<&SessionRow>) = rows
        .iter()
        .partition(|r| everywhere || r.node.as_deref().is_none_or(|n| n == config.node_name));
    let (mut sessions, mut lines, mut failed) = (0usize, 0usize, 0usize);
    // A recording read back from the bucket is indexed from here, then removed.
    let fetched = config.data_dir.join("reindex-fetched.cast");
    for row in mine.iter().filter(|r| r.ended.is_some()) {
        let mut path = config.recording_dir.join(format!("{}.cast", row.id));
        if !path.exists() && everywhere {
            // Shipped (and gone from the spool): read back from the bucket.
            path = fetched.clone();
            let bytes = rt.block_on(recordings.raw(&row.id));
            if let Err(e) = bytes
                .map_err(anyhow::Error::from)
                .and_then(|b| std::fs::write(&path, b).context("writing the fetched recording"))
            {
                failed += 1;
                eprintln!("oobgate: session {}: {e:#}", row.id);
                continue;
            }
        }
        match sink.reindex(&info(row), &path) {
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
    let _ = std::fs::remove_file(&fetched);
    let live = mine.iter().filter(|r| r.ended.is_none()).count();
    let elsewhere = match others.len() {
        0 => String::new(),
        n => format!("; {n} session(s) of other nodes left to them"),
    };
    println!(
        "reindexed {sessions} session(s), {lines} line(s); {live} running session(s) left to the live index; {failed} failed{elsewhere}"
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
