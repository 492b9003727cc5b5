//! Search over recordings of real programs: bash, ls, printf progress bars, top, less and
//! vim run on a real pseudo-terminal (`script`), their bytes recorded by the crate's own
//! writer as they arrive, the recording indexed and put into a real SQLite FTS5 index, and
//! then searched the way an auditor would.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant, SystemTime};

use oobgate::recording::{index_file, IndexedLine, Recorder, Recording, RecordingHeader, Stream};
use oobgate::search::{sqlite, Hit, Query, SessionInfo};

const DEADLINE: Duration = Duration::from_secs(20);

/// A program on a pseudo-terminal, every byte each way recorded.
struct Pty {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Vec<u8>>,
    rec: Option<Recorder>,
    seen: Vec<u8>,
    mark: usize,
}

impl Pty {
    fn start(dir: &Path, id: &str, command: &str) -> Pty {
        let header = RecordingHeader {
            width: 80,
            height: 24,
            title: format!("test@{id}"),
            term: Some("xterm".into()),
            timestamp: SystemTime::now(),
        };
        let rec = Recorder::create(dir, id, header).unwrap();
        let cmd = format!("stty cols 80 rows 24; {command}");
        let mut child = Command::new("script")
            .args(["-qfec", &cmd, "/dev/null"])
            .env("TERM", "xterm")
            .env("HOME", dir)
            .env("LC_ALL", "C.UTF-8")
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script(1) runs (scripts/test installs bsdutils)");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            child,
            stdin,
            rx,
            rec: Some(rec),
            seen: Vec::new(),
            mark: 0,
        }
    }

    /// Waits until the output since the last wait contains `needle`; fails with what came.
    fn wait_for(&mut self, needle: &str) {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(p) = find(&self.seen[self.mark..], needle.as_bytes()) {
                self.mark += p + needle.len();
                return;
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => {
                    self.rec.as_mut().unwrap().output(&chunk).unwrap();
                    self.seen.extend_from_slice(&chunk);
                }
                Err(_) => panic!(
                    "no {needle:?} within {DEADLINE:?}; last output: {:?}",
                    String::from_utf8_lossy(&self.seen[self.seen.len().saturating_sub(400)..])
                ),
            }
        }
    }

    fn send(&mut self, keys: &[u8]) {
        self.rec.as_mut().unwrap().input(keys).unwrap();
        self.stdin.write_all(keys).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for the program to exit, records the rest, closes the recording.
    fn finish(mut self) -> PathBuf {
        let end = Instant::now() + DEADLINE;
        loop {
            match self
                .rx
                .recv_timeout(end.saturating_duration_since(Instant::now()))
            {
                Ok(chunk) => self.rec.as_mut().unwrap().output(&chunk).unwrap(),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(e) => panic!("program did not end: {e}"),
            }
        }
        assert!(self.child.wait().unwrap().success());
        let rec = self.rec.take().unwrap();
        rec.finish().unwrap().path
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Indexes the recording and loads it into a fresh FTS5 database.
fn index(path: &Path, id: &str) -> (rusqlite::Connection, Vec<IndexedLine>) {
    let mut lines = Vec::new();
    index_file(path, 64, &mut |batch| {
        lines.extend(batch);
        Ok(())
    })
    .unwrap();
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    sqlite::migrate(&conn).unwrap();
    let info = SessionInfo {
        id: id.into(),
        user: "alice".into(),
        device: "lab".into(),
        started_at: SystemTime::now(),
    };
    for chunk in lines.chunks(100) {
        sqlite::add_lines(&mut conn, &info, chunk).unwrap();
    }
    (conn, lines)
}

fn search(conn: &rusqlite::Connection, text: &str, stream: Option<Stream>) -> Vec<Hit> {
    let mut q = Query::new(text);
    q.stream = stream;
    sqlite::query(conn, &q, &mut |_| true).unwrap()
}

fn shell(dir: &Path, id: &str) -> Pty {
    std::fs::write(dir.join("bashrc"), "PS1='lab$ '\n").unwrap();
    let mut p = Pty::start(dir, id, "exec bash --rcfile bashrc --noprofile -i");
    p.wait_for("lab$ ");
    p
}

fn run(p: &mut Pty, command: &str, until: &str) {
    p.send(command.as_bytes());
    p.send(b"\r");
    p.wait_for(until);
    p.wait_for("lab$ ");
}

#[test]
fn bash_session_is_found_by_what_was_typed_and_shown() {
    let d = tempfile::tempdir().unwrap();
    let mut p = shell(d.path(), "bash");
    // Typed with a typo fixed by backspaces: bash redraws the line as it is edited.
    p.send(b"echo relaod");
    p.wait_for("relaod");
    p.send(b"\x7f\x7f\x7f");
    p.send(b"oad in 5\r");
    p.wait_for("reload in 5\r\n");
    p.wait_for("lab$ ");
    // A word split by colour escapes, from printf and from grep --color.
    run(
        &mut p,
        r"printf 'Giga\e[1;31mbit\e[0mEthernet0/7 is up\n'",
        "is up",
    );
    run(
        &mut p,
        "echo 'interface TenGigE0/0/0/1' | grep --color=always GigE",
        "0/0/0/1",
    );
    // A progress bar overwritten in place a hundred times.
    run(
        &mut p,
        r"for i in $(seq 1 100); do printf '\rcopying %d%%' $i; done; echo",
        "copying 100%",
    );
    // Output a second after the command.
    run(&mut p, "sleep 1; echo DONE-$((40+2))", "DONE-42");
    p.send(b"exit\r");
    let path = p.finish();
    let rec = Recording::open(&path).unwrap();
    let (conn, lines) = index(&path, "bash");

    let typed = search(&conn, "reload in 5", Some(Stream::Typed));
    assert_eq!(typed.len(), 1, "{typed:?}");
    assert_eq!(typed[0].line, "echo reload in 5");
    let shown = search(&conn, "reload in 5", Some(Stream::Shown));
    let shown: Vec<&str> = shown.iter().map(|h| h.line.as_str()).collect();
    assert!(shown.contains(&"lab$ echo reload in 5"), "{shown:?}");
    assert!(shown.contains(&"reload in 5"), "{shown:?}");

    let giga = search(&conn, "GigabitEthernet0/7", Some(Stream::Shown));
    assert_eq!(giga.len(), 1, "{lines:?}");
    assert_eq!(giga[0].line, "GigabitEthernet0/7 is up");
    let grep = search(&conn, "TenGigE0/0/0/1", Some(Stream::Shown));
    assert!(
        grep.iter().any(|h| h.line == "interface TenGigE0/0/0/1"),
        "{grep:?}"
    );

    let bars: Vec<&IndexedLine> = lines
        .iter()
        .filter(|l| l.text.starts_with("copying"))
        .collect();
    assert_eq!(bars.len(), 1, "{bars:?}");
    assert_eq!(bars[0].text, "copying 100%");

    // The hit's offset is the moment the device printed it.
    let done = search(&conn, "DONE-42", Some(Stream::Shown));
    assert_eq!(done.len(), 1, "{done:?}");
    let printed = rec
        .events
        .iter()
        .find(|e| e.code == 'o' && find(&e.data, b"DONE-42").is_some())
        .unwrap();
    assert_eq!(done[0].offset_ms, (printed.time * 1000.0).round() as u64);
    let asked = search(&conn, "sleep 1", Some(Stream::Typed));
    assert_eq!(asked.len(), 1);
    assert!(
        done[0].offset_ms >= asked[0].offset_ms + 1000,
        "sleep 1 typed at {} ms, its output at {} ms",
        asked[0].offset_ms,
        done[0].offset_ms
    );
}

#[test]
fn ls_colours_and_top_batch_output_are_searchable() {
    let d = tempfile::tempdir().unwrap();
    let files = d.path().join("files");
    std::fs::create_dir(&files).unwrap();
    for name in ["reload-config.sh", "backup.tar.gz", "notes.txt"] {
        std::fs::write(files.join(name), "x").unwrap();
    }
    Command::new("chmod")
        .args(["+x", files.join("reload-config.sh").to_str().unwrap()])
        .status()
        .unwrap();
    let mut p = shell(d.path(), "ls");
    run(&mut p, "ls --color=always -1 files", "notes.txt");
    run(&mut p, "top -b -n1 -w 80 | head -12", "PID");
    p.send(b"exit\r");
    let path = p.finish();
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(
        raw.contains("\\u001b[01;32mreload-config.sh"),
        "ls printed colours"
    );
    let (conn, _) = index(&path, "ls");
    let hits = search(&conn, "reload-config.sh", Some(Stream::Shown));
    assert!(
        hits.iter().any(|h| h.line == "reload-config.sh"),
        "{hits:?}"
    );
    assert!(!search(&conn, "backup.tar.gz", None).is_empty());
    let top = search(&conn, "PID USER", Some(Stream::Shown));
    assert_eq!(top.len(), 1, "{top:?}");
    assert!(top[0].line.contains("COMMAND"));
}

#[test]
fn top_redrawing_its_screen_does_not_flood_the_index() {
    let d = tempfile::tempdir().unwrap();
    let mut p = shell(d.path(), "top");
    // top repaints the screen in place (cursor home, rows overwritten) every 0.1 s.
    // Waited for by what only the shell can print after top ends (the prompt may be drawn
    // again while the command is still being typed, and the typed line holds no "top-42").
    p.send(b"top -d 0.1 -n 40; echo top-$((40+2))\r");
    p.wait_for("top-42");
    p.wait_for("lab$ ");
    p.send(b"exit\r");
    let path = p.finish();
    let rec = Recording::open(&path).unwrap();
    let mut output = Vec::new();
    rec.cat(&mut output).unwrap();
    let frames = output.windows(7).filter(|w| w == b"%Cpu(s)").count();
    // top rewrites only the lines that changed, so a busy machine (the same figures frame
    // after frame) sees fewer: three full repaints of 24 rows would already reach the
    // bound below.
    assert!(frames >= 3, "top drew {frames} frames");
    let (conn, lines) = index(&path, "top");
    let shown = lines.iter().filter(|l| l.stream == Stream::Shown).count();
    assert!(
        shown < 24 * 3,
        "{shown} shown lines for {frames} frames of 24 rows: {lines:?}"
    );
    let headers = search(&conn, "PID USER", Some(Stream::Shown));
    assert!(
        (1..=2).contains(&headers.len()),
        "{} header lines",
        headers.len()
    );
    assert!(!search(&conn, "load average", Some(Stream::Shown)).is_empty());
}

#[test]
fn lines_paged_through_less_are_each_indexed_once() {
    let d = tempfile::tempdir().unwrap();
    let text: String = (1..=100).map(|i| format!("config line {i}\n")).collect();
    std::fs::write(d.path().join("running.cfg"), text).unwrap();
    let mut p = shell(d.path(), "less");
    p.send(b"less running.cfg\r");
    p.wait_for("config line 23");
    for _ in 0..6 {
        p.send(b" ");
    }
    p.wait_for("(END)");
    p.send(b"q");
    p.wait_for("lab$ ");
    // vim too: a file opened, edited and written on the alternate screen.
    p.send(b"vim -u NONE -N notes.txt\r");
    p.wait_for("notes.txt");
    p.send(b"iinterface Loopback42");
    p.wait_for("Loopback42");
    p.send(b"\x1b");
    p.send(b":wq\r");
    p.wait_for("lab$ ");
    p.send(b"exit\r");
    let path = p.finish();
    let (conn, lines) = index(&path, "less");
    for i in 1..=100 {
        let want = format!("config line {i}");
        let n = lines.iter().filter(|l| l.text == want).count();
        assert_eq!(n, 1, "{want:?} indexed {n} times");
    }
    assert!(!search(&conn, "config line 77", Some(Stream::Shown)).is_empty());
    let vim = search(&conn, "interface Loopback42", Some(Stream::Shown));
    assert!(!vim.is_empty(), "{lines:?}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("notes.txt")).unwrap(),
        "interface Loopback42\n"
    );
}
