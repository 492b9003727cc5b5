//! Search figures, used by `scripts/bench-search`:
//!
//! - `throughput MB`: realistic device output (syslog, `show` tables, configs, some colour,
//!   prompts) in 32 KiB chunks through the indexer alone, then indexer + FTS5 insert on one
//!   thread, then the two pipelined on two threads; MB/s and cores used for each.
//! - `build DB GB`: an index from GB of synthetic session output (sessions of ~20 MB, 20
//!   users, 200 devices, two months), the way the live pipeline would write it.
//! - `query DB RUNS`: query latency over that index for rare and common phrases, filters,
//!   and an auditor allowed only a few sessions; index size on disk.

use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oobgate::recording::{IndexedLine, Indexer};
use oobgate::search::{sqlite, Query, SessionInfo, Stream};
use rusqlite::Connection;

const CHUNK: usize = 32 * 1024;
const BATCH: usize = 20_000;
/// The connection settings the figures are taken with (the store's worker sets its own).
const PRAGMAS: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";

/// Small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const USERS: [&str; 20] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yvonne",
];

/// One line of realistic output (with its `\r\n`).
fn output_line(r: &mut Rng, dev: &str, n: u64, out: &mut String) {
    use std::fmt::Write;
    let (m, s, ms) = ((n / 600) % 60, (n / 10) % 60, n % 1000);
    let port = r.below(48) + 1;
    let _ = match r.below(20) {
        0..=6 => {
            let msg = match r.below(5) {
                0 => format!("%LINK-3-UPDOWN: Interface GigabitEthernet1/0/{port}, changed state to {}", if r.below(2) == 0 { "up" } else { "down" }),
                1 => format!("%LINEPROTO-5-UPDOWN: Line protocol on Interface GigabitEthernet1/0/{port}, changed state to up"),
                2 => format!("%BGP-5-ADJCHANGE: neighbor 192.0.2.{} Down BGP Notification sent", r.below(254) + 1),
                3 => format!("%SYS-5-CONFIG_I: Configured from console by {} on vty0 (10.1.{}.{})", USERS[r.below(20) as usize], r.below(255), r.below(255)),
                _ => format!("%SEC-6-IPACCESSLOGP: list 101 denied tcp 198.51.100.{}({}) -> 10.0.0.{}(22), 1 packet", r.below(255), 1024 + r.below(60000), r.below(255)),
            };
            write!(out, "Nov 23 10:{m:02}:{s:02}.{ms:03}: {dev}: {msg}\r\n")
        }
        7..=10 => write!(
            out,
            "Gi1/0/{port:<5} {:<18} {:<12} {:<6} a-full a-1000 10/100/1000BaseTX\r\n",
            format!("to-srv{}", r.below(900)),
            if r.below(4) == 0 { "notconnect" } else { "connected" },
            r.below(4000) + 1
        ),
        11..=13 => write!(
            out,
            "     {} packets input, {} bytes, 0 no buffer\r\n     Received {} broadcasts ({} multicasts)\r\n",
            r.below(1 << 30), r.below(1 << 40), r.below(1 << 20), r.below(1 << 16)
        ),
        14..=16 => match r.below(4) {
            0 => write!(out, "interface Vlan{}\r\n", r.below(4000) + 1),
            1 => write!(out, " ip address 10.{}.{}.{} 255.255.255.0\r\n", r.below(255), r.below(255), r.below(254) + 1),
            2 => write!(out, " description uplink to core{} port {port}\r\n", r.below(9)),
            _ => write!(out, " switchport trunk allowed vlan {},{}-{}\r\n", r.below(100), r.below(1000) + 100, r.below(1000) + 1100),
        },
        17 => write!(out, "\x1b[32m{dev}\x1b[0m: \x1b[1mlink {port} up\x1b[0m rx {} tx {}\r\n", r.below(1 << 32), r.below(1 << 32)),
        18 => write!(out, "{dev}#show interfaces GigabitEthernet1/0/{port} counters errors\r\n"),
        _ => write!(out, "  {:>10} {:>10} {:>10} {:>10} {:>10}\r\n", r.below(1 << 20), r.below(1 << 20), r.below(1 << 10), r.below(99), r.below(9)),
    };
}

/// About `bytes` of output for one session, as 32 KiB chunks with times.
fn session_output(r: &mut Rng, dev: &str, bytes: usize) -> Vec<(f64, String)> {
    let mut chunks = Vec::new();
    let mut cur = String::with_capacity(CHUNK + 512);
    let mut n = 0u64;
    let mut total = 0;
    while total < bytes {
        output_line(r, dev, n, &mut cur);
        n += 1;
        if cur.len() >= CHUNK {
            total += cur.len();
            chunks.push((n as f64 * 0.01, std::mem::take(&mut cur)));
        }
    }
    if !cur.is_empty() {
        chunks.push((n as f64 * 0.01, cur));
    }
    chunks
}

fn cpu_seconds() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn open_db(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(PRAGMAS).unwrap();
    sqlite::migrate(&conn).unwrap();
    // Settings to try (SQL run after the schema exists), e.g. FTS5 merge parameters.
    if let Ok(extra) = std::env::var("SEARCH_BENCH_SQL") {
        conn.execute_batch(&extra).unwrap();
    }
    conn
}

fn index_chunks(ix: &mut Indexer, chunks: &[(f64, String)], out: &mut Vec<IndexedLine>) {
    for (t, c) in chunks {
        out.extend(ix.output(*t, c.as_bytes()));
    }
}

fn report(what: &str, bytes: usize, wall: f64, cpu: f64) {
    println!(
        "{what:<34} {:>7.1} MB/s   (target 200 MB/s)   cores used {:.2}",
        bytes as f64 / wall / 1e6,
        cpu / wall
    );
}

fn throughput(mb: usize, dir: &Path) {
    let mut r = Rng(0x5eed);
    let chunks = session_output(&mut r, "sw1", mb << 20);
    let bytes: usize = chunks.iter().map(|c| c.1.len()).sum();
    println!(
        "{:.0} MB of output in {} chunks of 32 KiB",
        bytes as f64 / 1e6,
        chunks.len()
    );

    let (t0, c0) = (Instant::now(), cpu_seconds());
    let mut ix = Indexer::new(120, 40);
    let mut lines = Vec::new();
    index_chunks(&mut ix, &chunks, &mut lines);
    lines.extend(ix.finish());
    report(
        "indexer (avt + fast path)",
        bytes,
        t0.elapsed().as_secs_f64(),
        cpu_seconds() - c0,
    );
    println!("  {} lines", lines.len());
    if std::env::var_os("SEARCH_BENCH_INDEXER_ONLY").is_some() {
        return;
    }

    drop(lines);

    let info = SessionInfo {
        id: "bench/1".into(),
        user: "alice".into(),
        device: "sw1".into(),
        started_at: SystemTime::now(),
    };
    let _ = std::fs::remove_file(dir.join("tp.db"));
    let mut conn = open_db(&dir.join("tp.db"));
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let mut ix = Indexer::new(120, 40);
    let mut pending = Vec::new();
    for (t, c) in &chunks {
        pending.extend(ix.output(*t, c.as_bytes()));
        if pending.len() >= BATCH {
            sqlite::add_lines(&mut conn, &info, &pending).unwrap();
            pending.clear();
        }
    }
    pending.extend(ix.finish());
    sqlite::add_lines(&mut conn, &info, &pending).unwrap();
    report(
        "indexer + FTS5 insert, 1 thread",
        bytes,
        t0.elapsed().as_secs_f64(),
        cpu_seconds() - c0,
    );
    drop(conn);

    pipelined(chunks, bytes, &info, dir);
}

/// The indexer on one thread, the FTS5 inserts on another.
fn pipelined(chunks: Vec<(f64, String)>, bytes: usize, info: &SessionInfo, dir: &Path) {
    let _ = std::fs::remove_file(dir.join("tp.db"));
    let mut conn = open_db(&dir.join("tp.db"));
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let (tx, rx) = sync_channel::<Vec<IndexedLine>>(4);
    let feeder = std::thread::spawn(move || {
        let mut ix = Indexer::new(120, 40);
        let mut pending = Vec::new();
        for (t, c) in &chunks {
            pending.extend(ix.output(*t, c.as_bytes()));
            if pending.len() >= BATCH {
                tx.send(std::mem::take(&mut pending)).unwrap();
            }
        }
        pending.extend(ix.finish());
        tx.send(pending).unwrap();
    });
    for batch in rx {
        sqlite::add_lines(&mut conn, info, &batch).unwrap();
    }
    feeder.join().unwrap();
    report(
        "indexer | FTS5 insert, 2 threads",
        bytes,
        t0.elapsed().as_secs_f64(),
        cpu_seconds() - c0,
    );
    let _ = std::fs::remove_file(dir.join("tp.db"));
}

fn build(db: &Path, gb: f64) {
    let total = (gb * 1e9) as usize;
    let per_session = 20_000_000;
    let sessions = total.div_ceil(per_session);
    let _ = std::fs::remove_file(db);
    let mut conn = open_db(db);
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let (tx, rx) = sync_channel::<(SessionInfo, Vec<IndexedLine>)>(4);
    let feeder = std::thread::spawn(move || {
        let mut r = Rng(0xb0b);
        let start = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        for s in 0..sessions {
            let dev = format!("sw{}", r.below(200));
            let info = SessionInfo {
                id: format!("2026-11-{:02}/{:012x}", 1 + s % 28, r.next() >> 16),
                user: USERS[r.below(20) as usize].into(),
                device: dev.clone(),
                started_at: start
                    + Duration::from_secs(s as u64 * 60 * 60 * 24 * 60 / sessions as u64),
            };
            let mut ix = Indexer::new(120, 40);
            let mut pending = Vec::new();
            // A few typed commands per session; the planted phrase in one session of 50.
            pending.extend(ix.input(0.5, b"show interfaces status\r"));
            if s % 50 == 7 {
                pending.extend(ix.input(1.0, b"reload in 5\r"));
            }
            for (t, c) in session_output(&mut r, &dev, per_session) {
                pending.extend(ix.output(t + 2.0, c.as_bytes()));
                if pending.len() >= BATCH {
                    tx.send((info.clone(), std::mem::take(&mut pending)))
                        .unwrap();
                }
            }
            pending.extend(ix.finish());
            tx.send((info, pending)).unwrap();
        }
    });
    let mut done = 0usize;
    let mut lines = 0usize;
    for (info, batch) in rx {
        lines += batch.len();
        done += batch.iter().map(|l| l.text.len() + 2).sum::<usize>();
        sqlite::add_lines(&mut conn, &info, &batch).unwrap();
        if lines % (BATCH * 100) < batch.len() {
            eprintln!(
                "  {:.1} GB indexed, {:.0} s",
                done as f64 / 1e9,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    feeder.join().unwrap();
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "built: {sessions} sessions, {lines} lines, {:.1} GB of output in {wall:.0} s",
        total as f64 / 1e9
    );
    report(
        "build (indexer | FTS5, 2 threads)",
        total,
        wall,
        cpu_seconds() - c0,
    );
}

fn dir_size(db: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", db.display())).ok())
        .map(|m| m.len())
        .sum()
}

/// The caller's replay decision, as the query gets it.
type Policy = dyn FnMut(&SessionInfo) -> bool;

/// The queries measured: name, query, the caller's replay decision.
fn cases() -> Vec<(&'static str, Query, Box<Policy>)> {
    let q = |text: &str| Query::new(text);
    vec![
        ("rare typed phrase", q("reload in 5"), Box::new(|_| true)),
        (
            "rare phrase, --typed",
            {
                let mut x = q("reload in 5");
                x.stream = Some(Stream::Typed);
                x
            },
            Box::new(|_| true),
        ),
        (
            "common phrase",
            q("changed state to up"),
            Box::new(|_| true),
        ),
        ("common word", q("GigabitEthernet1/0/7"), Box::new(|_| true)),
        ("message id", q("%BGP-5-ADJCHANGE"), Box::new(|_| true)),
        (
            "--user",
            {
                let mut x = q("changed state to down");
                x.user = Some("carol".into());
                x
            },
            Box::new(|_| true),
        ),
        (
            "--device --user",
            {
                let mut x = q("denied tcp");
                x.device = Some("sw42".into());
                x.user = Some("bob".into());
                x
            },
            Box::new(|_| true),
        ),
        (
            "--since (last week)",
            {
                let mut x = q("description uplink to core3");
                x.since = Some(UNIX_EPOCH + Duration::from_secs(1_790_000_000 + 53 * 86_400));
                x
            },
            Box::new(|_| true),
        ),
        (
            "auditor allowed 1 user",
            q("Configured from console"),
            Box::new(|s| s.user == "judy"),
        ),
        (
            "auditor allowed 1 device",
            q("changed state to up"),
            Box::new(|s| s.device == "sw199"),
        ),
        ("no hit", q("this phrase never appears"), Box::new(|_| true)),
    ]
}

fn query(db: &Path, runs: usize) {
    let conn = open_db(db);
    println!(
        "index on disk: {:.2} GB ({})",
        dir_size(db) as f64 / 1e9,
        db.display()
    );
    let sessions: i64 = conn
        .query_row("SELECT count(*) FROM search_sessions", [], |r| r.get(0))
        .unwrap();
    let lines: i64 = conn
        .query_row("SELECT sum(next_line) FROM search_sessions", [], |r| {
            r.get(0)
        })
        .unwrap();
    println!("{sessions} sessions, {lines} lines");
    let mut cases = cases();
    println!(
        "{:<28} {:>6} {:>9} {:>9} {:>9}   target",
        "query", "hits", "median", "p95", "max"
    );
    for (name, query, allowed) in cases.iter_mut() {
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..runs {
            let t0 = Instant::now();
            hits = sqlite::query(&conn, query, allowed.as_mut()).unwrap().len();
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let p = |f: f64| times[((times.len() - 1) as f64 * f).round() as usize];
        println!(
            "{name:<28} {hits:>6} {:>7.1}ms {:>7.1}ms {:>7.1}ms   200 ms",
            p(0.5),
            p(0.95),
            times[times.len() - 1]
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("throughput") => {
            let mb = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200);
            let dir = Path::new(
                args.get(3)
                    .map(String::as_str)
                    .unwrap_or("target/bench-search"),
            );
            std::fs::create_dir_all(dir).unwrap();
            throughput(mb, dir);
        }
        Some("build") => {
            let db = Path::new(&args[2]);
            let gb = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10.0);
            build(db, gb);
        }
        Some("query") => {
            let runs = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(20);
            query(Path::new(&args[2]), runs);
        }
        _ => {
            eprintln!(
                "usage: search_bench throughput [MB] [DIR] | build DB [GB] | query DB [RUNS]"
            );
            std::process::exit(2);
        }
    }
}
