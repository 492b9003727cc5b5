use std::time::{Duration, Instant, SystemTime};

use super::*;
use crate::recording::{Recorder, RecordingHeader};
use crate::search::{open_reader, search, Query};

fn header() -> RecordingHeader {
    RecordingHeader {
        width: 80,
        height: 24,
        title: "alice@sw1".into(),
        term: None,
        timestamp: SystemTime::now(),
    }
}

fn dropped(metrics: &Metrics) -> bool {
    metrics
        .encode()
        .lines()
        .any(|l| l.starts_with("oobgate_search_index_dropped_total ") && !l.ends_with(" 0"))
}

fn hits(index: &Path, text: &str) -> usize {
    let conn = open_reader(index).unwrap();
    search(&conn, &Query::new(text), &mut |_| true)
        .unwrap()
        .len()
}

#[test]
fn a_stuck_index_never_holds_the_recorder_and_the_session_is_indexed_from_its_file_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("search.db");
    let metrics = Metrics::new();
    let live = LiveIndex::start_with(&index, metrics.clone(), 16).unwrap();
    // Another writer holds the index: the worker's next insert waits for it.
    let blocker = Connection::open(&index).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let info = SessionInfo {
        id: "2026-12-02/stuck".into(),
        user: "alice".into(),
        device: "sw1".into(),
        started_at: SystemTime::now(),
    };
    let rec = Recorder::create(dir.path(), &info.id, header()).unwrap();
    let tap = live.tap(info, rec.path(), (80, 24), true);
    let mut rec = rec.tapped(Box::new(tap));
    let end = Instant::now() + Duration::from_secs(20);
    let mut slowest = Duration::ZERO;
    let mut n = 0;
    while !dropped(&metrics) {
        assert!(
            Instant::now() < end,
            "the queue never filled after {n} events"
        );
        let t = Instant::now();
        rec.output(format!("stuck line {n}\r\n").as_bytes())
            .unwrap();
        slowest = slowest.max(t.elapsed());
        n += 1;
    }
    assert!(
        slowest < Duration::from_millis(500),
        "a write waited {slowest:?}"
    );
    rec.output(b"written after the loss\r\n").unwrap();
    rec.finish().unwrap();
    blocker.execute_batch("ROLLBACK").unwrap();

    // The end makes the worker index the whole file: the lines it dropped and the last.
    let end = Instant::now() + Duration::from_secs(20);
    while hits(&index, "written after the loss") == 0 || hits(&index, "stuck line 0") == 0 {
        assert!(
            Instant::now() < end,
            "the recording was not indexed from its file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(hits(&index, &format!("stuck line {}", n - 1)), 1);
}
