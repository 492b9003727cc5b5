//! Recording tests: the writer's output read back, played, and checked by the real
//! `asciinema` player.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;

fn header() -> RecordingHeader {
    RecordingHeader {
        width: 100,
        height: 30,
        title: "alice@sw1".into(),
        term: Some("xterm-256color".into()),
        timestamp: SystemTime::now(),
    }
}

fn asciinema_cat(path: &Path) -> String {
    super::testing::asciinema_cat(path).unwrap()
}

#[test]
fn header_events_and_summary() {
    let d = tempfile::tempdir().unwrap();
    let mut r = Recorder::create(d.path(), "2026-11-23/abc", header()).unwrap();
    r.marker("session start").unwrap();
    r.output(b"sw1# ").unwrap();
    r.input(b"show version\r").unwrap();
    r.resize(120, 40).unwrap();
    r.output("Version 1.0 \u{2713}\r\n".as_bytes()).unwrap();
    let path = r.path().to_path_buf();
    assert_eq!(path, d.path().join("2026-11-23/abc.cast"));
    let s = r.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        s.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );
    assert_eq!(s.bytes_in, 13);
    let text = String::from_utf8(bytes).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["version"], 2);
    assert_eq!(first["width"], 100);
    assert_eq!(first["title"], "alice@sw1");
    assert_eq!(first["env"]["TERM"], "xterm-256color");
    assert!(text.contains(r#""r","120x40"]"#), "{text}");
    assert!(text.contains(r#""m","session start"]"#), "{text}");
    let rec = Recording::open(&path).unwrap();
    assert!(!rec.truncated);
    let codes: String = rec.events.iter().map(|e| e.code).collect();
    assert_eq!(codes, "moiro");
    let played = asciinema_cat(&path);
    assert!(
        played.contains("sw1# ") && played.contains("Version 1.0 \u{2713}"),
        "{played}"
    );
}

#[test]
fn non_utf8_output_round_trips_and_plays() {
    let d = tempfile::tempdir().unwrap();
    let mut r = Recorder::create(d.path(), "bin", header()).unwrap();
    let mut raw: Vec<u8> = b"ok ".to_vec();
    raw.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    raw.extend_from_slice(&[0xa9, b' ', 0x80]); // completes é across the chunk boundary
    r.output(&raw[..5]).unwrap();
    r.output(&raw[5..]).unwrap();
    let path = r.path().to_path_buf();
    r.finish().unwrap();
    let rec = Recording::open(&path).unwrap();
    let mut out = Vec::new();
    rec.cat(&mut out).unwrap();
    assert_eq!(out, raw);
    assert!(asciinema_cat(&path).starts_with("ok "));
}

#[test]
fn crashed_session_leaves_a_playable_prefix() {
    let d = tempfile::tempdir().unwrap();
    let mut r = Recorder::create(d.path(), "crash", header()).unwrap();
    r.output(b"before the crash\r\n").unwrap();
    let path = r.path().to_path_buf();
    std::mem::forget(r); // no finish, no drop: as if the process died
    let mut text = std::fs::read(&path).unwrap();
    text.extend_from_slice(b"[1.5, \"o\", \"half a li"); // a line cut mid-write
    std::fs::write(&path, &text).unwrap();
    let rec = Recording::open(&path).unwrap();
    assert!(rec.truncated);
    assert_eq!(rec.events.len(), 1);
    let ok = d.path().join("prefix.cast");
    std::fs::write(&ok, &text[..text.len() - 21]).unwrap();
    assert!(asciinema_cat(&ok).contains("before the crash"));
}

#[test]
fn malformed_middle_line_is_named() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bad.cast");
    std::fs::write(
        &p,
        "{\"version\":2,\"width\":80,\"height\":24}\n[0.1,\"o\",\"a\"]\nnot json\n[0.3,\"o\",\"b\"]\n",
    )
    .unwrap();
    let e = Recording::open(&p).unwrap_err().to_string();
    assert!(e.contains("line 3"), "{e}");
}

#[test]
fn recording_size_stays_close_to_the_text_shown() {
    let d = tempfile::tempdir().unwrap();
    let mut r = Recorder::create(d.path(), "size", header()).unwrap();
    let mut shown = 0usize;
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODkrLw\r\n";
    let chunk: String = line.repeat(300);
    for _ in 0..40 {
        r.output(chunk.as_bytes()).unwrap();
        shown += chunk.len();
    }
    let s = r.finish().unwrap();
    let size = std::fs::metadata(&s.path).unwrap().len() as f64;
    let ratio = size / shown as f64;
    // JSON escapes \r\n as 4 bytes: about 2.3% here.
    assert!(ratio < 1.1, "recording is {ratio:.3}x the bytes shown");
}

// The clock is paused and moves only when playback waits, so the times below are exact
// and no test waits for real.
#[tokio::test(start_paused = true)]
async fn playback_speed_idle_cap_seek_and_quit() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("p.cast");
    std::fs::write(
        &p,
        "{\"version\":2,\"width\":80,\"height\":24}\n[0.5,\"o\",\"one \"]\n[60.0,\"o\",\"two \"]\n[61.0,\"m\",\"mark\"]\n[62.0,\"o\",\"three\"]\n",
    )
    .unwrap();
    let rec = Recording::open(&p).unwrap();
    // The idle cap turns the 59.5 s gap into 0.2 s; speed 10 makes it all quick.
    let opts = PlayOptions {
        speed: 10.0,
        idle_cap: Some(Duration::from_millis(200)),
        start_at: Duration::ZERO,
    };
    let mut out = Vec::new();
    let started = tokio::time::Instant::now();
    play(&rec, &mut out, tokio::io::empty(), opts)
        .await
        .unwrap();
    // Four gaps, each capped at 0.2 s, at speed 10: not the recorded 62 s / 10.
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(75)..=Duration::from_millis(85)).contains(&took),
        "{took:?}"
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("one two "), "{text}");
    assert!(text.contains("[mark]") && text.ends_with("three"), "{text}");

    // Starting at 61 s writes the earlier output at once, then plays on from 61 s.
    let mut out = Vec::new();
    let opts = PlayOptions {
        speed: 1.0,
        idle_cap: None,
        start_at: Duration::from_secs(61),
    };
    let started = tokio::time::Instant::now();
    play(&rec, &mut out, tokio::io::empty(), opts)
        .await
        .unwrap();
    // Only the last second (61 s to 62 s) is waited for.
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(990)..=Duration::from_millis(1010)).contains(&took),
        "{took:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out),
        "one two [mark]\u{1b}[0m\r\nthree".replace("[mark]", "\u{1b}[2m[mark]")
    );

    // `q` stops playback before the long gap.
    let (mut keys_tx, keys_rx) = tokio::io::duplex(8);
    let mut out = Vec::new();
    let opts = PlayOptions {
        speed: 1.0,
        idle_cap: None,
        start_at: Duration::ZERO,
    };
    // `q` at 0.8 s: after "one " (0.5 s), long before "two " (60 s).
    let quit = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        tokio::io::AsyncWriteExt::write_all(&mut keys_tx, b"q")
            .await
            .unwrap();
    };
    let (r, _) = tokio::join!(play(&rec, &mut out, keys_rx, opts), quit);
    r.unwrap();
    assert_eq!(String::from_utf8_lossy(&out), "one \r\n");
}

#[test]
fn a_bulk_recording_past_several_write_behind_steps_is_whole() {
    // 20 MiB of output crosses the write-behind step twice: pages handed to the disk and
    // dropped from the cache must still all be in the file, in order, under the hash.
    let d = tempfile::tempdir().unwrap();
    let mut r = Recorder::create(d.path(), "bulk", header()).unwrap();
    let mut shown = Vec::new();
    for i in 0..(20 * 1024 / 32) {
        let chunk = format!("{i:08} {}\r\n", "x".repeat(32 * 1024 - 11));
        r.output(chunk.as_bytes()).unwrap();
        shown.extend_from_slice(chunk.as_bytes());
    }
    let s = r.finish().unwrap();
    let bytes = std::fs::read(&s.path).unwrap();
    assert_eq!(
        s.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );
    let mut out = Vec::new();
    Recording::open(&s.path).unwrap().cat(&mut out).unwrap();
    assert_eq!(out.len(), shown.len());
    assert!(
        out == shown,
        "the replayed output differs from what was shown"
    );
}

/// A command run without a terminal prints bare line feeds: players, the index and the
/// web player show them as new lines (no staircase), while `--cat` and the file stay
/// byte-exact.
#[tokio::test]
async fn output_of_a_session_without_a_terminal_is_shown_line_by_line() {
    let d = tempfile::tempdir().unwrap();
    let no_tty = RecordingHeader {
        term: None,
        ..header()
    };
    let mut r = Recorder::create(d.path(), "exec", no_tty).unwrap();
    r.output(b"Gi0/1 up\nGi0/2 down\r\nGi0/3 up\n").unwrap();
    let sum = r.finish().unwrap();
    let bytes = std::fs::read(&sum.path).unwrap();
    let rec = Recording::open(&sum.path).unwrap();
    assert!(!rec.had_terminal());
    let mut cat = Vec::new();
    rec.cat(&mut cat).unwrap();
    assert_eq!(cat, b"Gi0/1 up\nGi0/2 down\r\nGi0/3 up\n");

    let mut played = Vec::new();
    play(
        &rec,
        &mut played,
        tokio::io::empty(),
        PlayOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(played, b"Gi0/1 up\r\nGi0/2 down\r\nGi0/3 up\r\n");

    let shown = for_display(&bytes);
    let web = Recording::parse(&shown, &sum.path).unwrap();
    let mut out = Vec::new();
    web.cat(&mut out).unwrap();
    assert_eq!(out, b"Gi0/1 up\r\nGi0/2 down\r\nGi0/3 up\r\n");

    let mut lines = Vec::new();
    index::index_recording(&rec, 100, &mut |batch| {
        lines.extend(batch);
        Ok(())
    })
    .unwrap();
    let texts: Vec<_> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["Gi0/1 up", "Gi0/2 down", "Gi0/3 up"]);

    // With a terminal nothing changes: the device's own line endings are what was shown.
    let mut r = Recorder::create(d.path(), "pty", header()).unwrap();
    r.output(b"a\nb\n").unwrap();
    let sum = r.finish().unwrap();
    let bytes = std::fs::read(&sum.path).unwrap();
    assert!(matches!(for_display(&bytes), std::borrow::Cow::Borrowed(_)));
}
