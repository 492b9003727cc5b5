//! Search tests on a real SQLite FTS5 database: phrases, literal operators, filters, the
//! policy decision applied before the limit, order, snippets and deletion.

use rusqlite::Connection;

use super::test_data::{at, line, session};
use super::*;

fn db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    sqlite::migrate(&conn).unwrap();
    sqlite::migrate(&conn).unwrap(); // twice: idempotent
    conn
}

fn all(_: &SessionInfo) -> bool {
    true
}

fn texts(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.line.as_str()).collect()
}

fn search(conn: &Connection, q: &Query) -> Vec<Hit> {
    sqlite::query(conn, q, &mut all).unwrap()
}

#[test]
fn fts5_is_compiled_in() {
    let conn = Connection::open_in_memory().unwrap();
    let on: i64 = conn
        .query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(on, 1);
}

#[test]
fn a_phrase_matches_those_words_in_that_order() {
    let mut conn = db();
    let s = session("s1", "alice", "sw1", 0);
    sqlite::add_lines(
        &mut conn,
        &s,
        &[
            line(1000, Stream::Typed, "reload in 5"),
            line(2000, Stream::Shown, "Reload scheduled in 5 minutes"),
            line(3000, Stream::Shown, "sw1# RELOAD IN 5"),
        ],
    )
    .unwrap();
    let hits = search(&conn, &Query::new("reload in 5"));
    assert_eq!(texts(&hits), ["sw1# RELOAD IN 5", "reload in 5"]);
    assert_eq!(hits[1].stream, Stream::Typed);
    assert_eq!(hits[1].offset_ms, 1000);
    assert_eq!(hits[1].session, s);
    let snip = &hits[0].snippet;
    let marked: Vec<&str> = snip.matches.iter().map(|r| &snip.text[r.clone()]).collect();
    assert_eq!(marked, ["RELOAD IN 5"]);
}

#[test]
fn fts5_syntax_in_the_query_is_taken_literally() {
    let mut conn = db();
    let s = session("s1", "alice", "sw1", 0);
    let lines = [
        "description \"uplink\" to core",
        "ipv6 unicast-routing",
        "ip routing",
        "show NEAR reload",
        "show ip bgp",
        "reload",
        "show OR reload",
        "rm -rf /tmp/x",
        "text:secret token",
        "(config)# end",
    ];
    let lines: Vec<IndexedLine> = lines
        .iter()
        .enumerate()
        .map(|(i, t)| line(i as u64, Stream::Shown, t))
        .collect();
    sqlite::add_lines(&mut conn, &s, &lines).unwrap();
    let cases: [(&str, &[&str]); 10] = [
        ("\"uplink\"", &["description \"uplink\" to core"]),
        ("\"uplink", &["description \"uplink\" to core"]),
        ("ip*", &["ip routing", "show ip bgp"]),
        ("show NEAR reload", &["show NEAR reload"]),
        ("show OR reload", &["show OR reload"]),
        ("-rf", &["rm -rf /tmp/x"]),
        ("NOT reload", &[]),
        ("text:secret", &["text:secret token"]),
        ("(config)#", &["(config)# end"]),
        ("^reload AND", &[]),
    ];
    for (q, want) in cases {
        let hits = sqlite::query(&conn, &Query::new(q), &mut all)
            .unwrap_or_else(|e| panic!("query {q:?} failed: {e}"));
        let mut got = texts(&hits);
        got.sort();
        let mut want = want.to_vec();
        want.sort();
        assert_eq!(got, want, "query {q:?}");
    }
    for q in ["\"", "*", "- -", ""] {
        let err = sqlite::query(&conn, &Query::new(q), &mut all).unwrap_err();
        assert!(matches!(err, SearchError::EmptyQuery(_)), "{q:?}: {err}");
        assert!(err.to_string().contains("no letters or digits"), "{err}");
    }
}

fn fill_sessions(conn: &mut Connection) {
    // Five sessions, started a minute apart; each has the phrase typed and shown.
    for (i, (user, device)) in [
        ("alice", "sw1"),
        ("bob", "sw1"),
        ("alice", "sw2"),
        ("carol", "sw2"),
        ("bob", "sw2"),
    ]
    .iter()
    .enumerate()
    {
        let s = session(&format!("s{i}"), user, device, i as u64 * 60);
        sqlite::add_lines(
            conn,
            &s,
            &[
                line(1_000, Stream::Typed, "reload in 5"),
                line(2_000, Stream::Shown, &format!("{device}# reload in 5")),
                line(90_000, Stream::Shown, "unrelated"),
            ],
        )
        .unwrap();
    }
}

#[test]
fn filters_and_newest_first() {
    let mut conn = db();
    fill_sessions(&mut conn);
    let ids = |hits: &[Hit]| -> Vec<String> {
        hits.iter()
            .map(|h| format!("{}@{}", h.session.id, h.offset_ms))
            .collect()
    };
    let mut q = Query::new("reload in 5");
    assert_eq!(
        ids(&search(&conn, &q)),
        [
            "s4@2000", "s4@1000", "s3@2000", "s3@1000", "s2@2000", "s2@1000", "s1@2000", "s1@1000",
            "s0@2000", "s0@1000"
        ]
    );
    q.user = Some("alice".into());
    assert_eq!(
        ids(&search(&conn, &q)),
        ["s2@2000", "s2@1000", "s0@2000", "s0@1000"]
    );
    q.device = Some("sw2".into());
    q.stream = Some(Stream::Typed);
    assert_eq!(ids(&search(&conn, &q)), ["s2@1000"]);
    let mut q = Query::new("reload in 5");
    q.stream = Some(Stream::Shown);
    q.limit = 2;
    assert_eq!(ids(&search(&conn, &q)), ["s4@2000", "s3@2000"]);
    // Since: s3 started at 180 s; its line at 181.5 s is before 182 s, the one at 182 s is not.
    let mut q = Query::new("reload in 5");
    q.since = Some(at(182));
    assert_eq!(ids(&search(&conn, &q)), ["s4@2000", "s4@1000", "s3@2000"]);
}

#[test]
fn policy_is_applied_before_the_limit() {
    let mut conn = db();
    fill_sessions(&mut conn);
    // 300 newer sessions of someone else, all matching: they must not crowd out carol's.
    for i in 0..300 {
        let s = session(&format!("x{i}"), "mallory", "sw9", 10_000 + i);
        sqlite::add_lines(&mut conn, &s, &[line(5, Stream::Typed, "reload in 5")]).unwrap();
    }
    let mut asked = Vec::new();
    let mut only_carol = |s: &SessionInfo| {
        asked.push(s.id.clone());
        s.user == "carol"
    };
    let mut q = Query::new("reload in 5");
    q.limit = 2;
    let hits = sqlite::query(&conn, &q, &mut only_carol).unwrap();
    assert_eq!(texts(&hits), ["sw2# reload in 5", "reload in 5"]);
    assert!(hits.iter().all(|h| h.session.user == "carol"));
    assert!(!asked.is_empty());
    // The same through the trait object, with a user filter that matches nobody allowed.
    let mut index = SqliteIndex::new(&mut conn);
    let mut q = Query::new("reload in 5");
    q.user = Some("mallory".into());
    let hits = index
        .query(&q, &mut |s: &SessionInfo| s.user == "carol")
        .unwrap();
    assert!(hits.is_empty());
}

#[test]
fn limits_are_checked() {
    let conn = db();
    for limit in [0, MAX_LIMIT + 1] {
        let mut q = Query::new("x");
        q.limit = limit;
        let err = sqlite::query(&conn, &q, &mut all).unwrap_err();
        assert!(matches!(err, SearchError::BadLimit(_)), "{err}");
    }
}

#[test]
fn deleting_a_session_removes_its_lines_only() {
    let mut conn = db();
    fill_sessions(&mut conn);
    let mut index = SqliteIndex::new(&mut conn);
    assert!(index.delete_session("s2").unwrap());
    assert!(!index.delete_session("s2").unwrap());
    let hits = index.query(&Query::new("reload in 5"), &mut all).unwrap();
    assert_eq!(hits.len(), 8);
    assert!(hits.iter().all(|h| h.session.id != "s2"));
}

#[test]
fn sessions_in_the_same_second_keep_distinct_numbers_and_lines_continue() {
    let mut conn = db();
    for i in 0..40 {
        let s = session(&format!("same{i}"), "alice", "sw1", 5);
        sqlite::add_lines(
            &mut conn,
            &s,
            &[line(0, Stream::Shown, &format!("batch one {i}"))],
        )
        .unwrap();
        sqlite::add_lines(
            &mut conn,
            &s,
            &[line(9, Stream::Shown, &format!("batch two {i}"))],
        )
        .unwrap();
    }
    let hits = search(&conn, &Query::new("batch"));
    assert_eq!(hits.len(), 50);
    let mut q = Query::new("batch two 39");
    q.limit = 5;
    let hits = search(&conn, &q);
    assert_eq!(texts(&hits), ["batch two 39"]);
    assert_eq!(hits[0].session.id, "same39");
}

#[test]
fn control_characters_never_reach_the_index() {
    let mut conn = db();
    let s = session("s1", "alice", "sw1", 0);
    sqlite::add_lines(
        &mut conn,
        &s,
        &[line(0, Stream::Shown, "bell\u{7}ring \u{1}x\u{2}")],
    )
    .unwrap();
    let hits = search(&conn, &Query::new("bell ring x"));
    assert_eq!(texts(&hits), ["bell ring  x "]);
}

#[test]
fn few_allowed_sessions_behind_many_matches_are_still_found() {
    let mut conn = db();
    let old = session("old", "carol", "sw1", 0);
    sqlite::add_lines(
        &mut conn,
        &old,
        &[line(7, Stream::Typed, "changed state to up")],
    )
    .unwrap();
    // Newer sessions of others with more matches than the first walk looks at.
    for s in 0..3 {
        let lines: Vec<IndexedLine> = (0..10_000)
            .map(|i| line(i, Stream::Shown, &format!("Gi0/{i} changed state to up")))
            .collect();
        let other = session(&format!("new{s}"), "mallory", "sw9", 1000 + s);
        sqlite::add_lines(&mut conn, &other, &lines).unwrap();
    }
    let mut only_carol = |s: &SessionInfo| s.user == "carol";
    let hits = sqlite::query(&conn, &Query::new("changed state to up"), &mut only_carol).unwrap();
    assert_eq!(texts(&hits), ["changed state to up"]);
    assert_eq!(hits[0].session.id, "old");
    // Everyone allowed but the limit not filled by the first walk's sessions: the walk goes on.
    let mut q = Query::new("changed state to up");
    q.stream = Some(Stream::Typed);
    let hits = sqlite::query(&conn, &q, &mut all).unwrap();
    assert_eq!(texts(&hits), ["changed state to up"]);
}
