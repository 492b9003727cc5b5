//! One test suite for every store backend, written against the traits only. A backend's
//! tests call [`store_suite!`](crate::store_suite) with an expression that yields fresh,
//! empty [`Stores`]; each check below becomes one test.

use std::time::{Duration, SystemTime};

use super::{AccessTarget, NewRequest, SessionEnd, SessionFilter, SessionStart, State, Stores};
use super::{StoreError, Transition};
use crate::audit::{Event, EventFilter};
use crate::policy::Action;

/// Expands to one `#[tokio::test]` per check of the suite, each on `$make` (an async
/// expression giving empty stores).
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store_suite!(@each $make;
            audit_chain_appends_and_reads,
            concurrent_appends_keep_one_chain,
            sessions_start_end_and_list,
            unfinished_sessions_are_listed,
            access_requests_move_through_their_states,
            concurrent_approve_and_revoke_have_one_outcome,
            sweep_expires_lapsed_requests_and_grants,
            host_keys_are_remembered,
            tokens_are_taken_once_and_end_on_time);
    };
    (@each $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let stores = $make.await;
                $crate::store::suite::$name(&stores).await;
            }
        )*
    };
}

/// Appends get consecutive ids; head, tail, after and query read them back; the chain
/// verifies.
pub async fn audit_chain_appends_and_reads(s: &Stores) {
    for i in 0..5 {
        let ev = Event::new(if i % 2 == 0 { "auth.accept" } else { "command" })
            .user(format!("u{i}"))
            .detail(serde_json::json!({ "i": i }));
        assert_eq!(s.audit.append(ev).await.unwrap().id, i + 1);
    }
    let head = s.audit.head().await.unwrap().unwrap();
    assert_eq!(head.0, 5);
    let tail = s.audit.tail(2).await.unwrap();
    assert_eq!(tail.iter().map(|r| r.id).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(tail[1].hash, head.1);
    assert_eq!(tail[1].detail["i"], 4);
    let after = s.audit.after(3, 10).await.unwrap();
    assert_eq!(after.len(), 2);
    let auth = s
        .audit
        .query(&EventFilter {
            kind_prefix: Some("auth.".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(auth.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 3, 5]);
    let report = s.audit.verify().await.unwrap();
    assert_eq!(report.rows_checked, 5);
    assert!(report.first_problem.is_none(), "{:?}", report.first_problem);
}

/// Many tasks appending at once still make one unbroken chain with no id twice.
pub async fn concurrent_appends_keep_one_chain(s: &Stores) {
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let audit = s.audit.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..50 {
                    let ev = Event::new("c").detail(serde_json::json!([t, i]));
                    ids.push(audit.append(ev).await.unwrap().id);
                }
                ids
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 400);
    let r = s.audit.verify().await.unwrap();
    assert_eq!(r.rows_checked, 400);
    assert!(r.first_problem.is_none(), "{:?}", r.first_problem);
}

fn start(id: &str, user: &str, device: &str) -> SessionStart {
    SessionStart {
        id: id.into(),
        user: user.into(),
        roles: vec!["role:netops".into()],
        device: device.into(),
        kind: "ssh".into(),
        source: "127.0.0.1:5000".into(),
        recording: Some(format!("/r/{id}.cast")),
    }
}

/// A session's end lands on its row; filters and unique prefixes find it.
pub async fn sessions_start_end_and_list(s: &Stores) {
    s.sessions
        .start(&start("2026-11-23/7f3a9c", "alice", "sw1"))
        .await
        .unwrap();
    s.sessions
        .start(&start("2026-11-23/8b00aa", "bob", "sw2"))
        .await
        .unwrap();
    let end = SessionEnd {
        exit_status: Some(3),
        bytes_in: 10,
        bytes_out: 20,
        recording_sha256: Some("ab".into()),
        end_reason: "client closed".into(),
    };
    s.sessions.end("2026-11-23/7f3a9c", &end).await.unwrap();
    let alice = s
        .sessions
        .list(&SessionFilter {
            user: Some("alice".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0].exit_status, Some(3));
    assert_eq!(alice[0].recording_sha256.as_deref(), Some("ab"));
    assert!(alice[0].ended.is_some());
    let by_prefix = s.sessions.get("2026-11-23/7f").await.unwrap().unwrap();
    assert_eq!(by_prefix.id, "2026-11-23/7f3a9c");
    // Ambiguous prefix: no answer rather than a guess.
    assert!(s.sessions.get("2026-11-23/").await.unwrap().is_none());
    let sw3 = SessionFilter {
        device: Some("sw3".into()),
        ..Default::default()
    };
    assert!(s.sessions.list(&sw3).await.unwrap().is_empty());
}

/// Sessions without an end row are the ones crash recovery closes.
pub async fn unfinished_sessions_are_listed(s: &Stores) {
    s.sessions
        .start(&start("d/1", "alice", "sw1"))
        .await
        .unwrap();
    s.sessions
        .start(&start("d/2", "alice", "sw1"))
        .await
        .unwrap();
    s.sessions.end("d/1", &SessionEnd::default()).await.unwrap();
    let live = SessionFilter {
        live: true,
        ..Default::default()
    };
    let ids: Vec<String> = s
        .sessions
        .list(&live)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["d/2"], "--live lists only sessions without an end");
    let open = s.sessions.unfinished().await.unwrap();
    assert_eq!(
        open.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["d/2"]
    );
}

fn request(requester: &str, approvals: u32, now: SystemTime) -> NewRequest {
    NewRequest {
        requester: requester.into(),
        roles: vec!["role:dev".into()],
        target: AccessTarget::Device("sw1".into()),
        actions: vec![Action::Connect, Action::ConsoleWrite],
        duration: Duration::from_secs(3600),
        reason: "INC-1: BGP flap".into(),
        ticket: Some("INC-1".into()),
        approvals_needed: approvals,
        expires: now + Duration::from_secs(600),
        breakglass: false,
    }
}

fn revoke(by: &str) -> Transition {
    Transition {
        from: &[State::Approved],
        to: State::Revoked,
        verb: "revoked",
        by: by.into(),
        note: Some("done".into()),
    }
}

/// Pending, approved by two people, a grant in force, then revoked; wrong moves are
/// refused naming the state.
pub async fn access_requests_move_through_their_states(s: &Stores) {
    let now = SystemTime::now();
    let r = s
        .access
        .insert(&request("carol", 2, now), now)
        .await
        .unwrap();
    assert_eq!(r.state, State::Pending);
    assert_eq!(r.actions, [Action::Connect, Action::ConsoleWrite]);
    let r = s.access.approve(r.id, "alice", now).await.unwrap();
    assert_eq!((r.state, r.approvers.len()), (State::Pending, 1));
    let again = s.access.approve(r.id, "alice", now).await.unwrap_err();
    assert!(matches!(again, StoreError::Refused(_)), "{again}");
    let r = s.access.approve(r.id, "bob", now).await.unwrap();
    assert_eq!(r.state, State::Approved);
    assert_eq!(r.approvers, ["alice", "bob"]);
    assert!(r.active_at(now));
    let grants = s.access.active_grants("carol", now).await.unwrap();
    assert_eq!(grants.iter().map(|g| g.id).collect::<Vec<_>>(), [r.id]);
    let closed = s.access.close(r.id, revoke("alice"), now).await.unwrap();
    assert_eq!(closed.state, State::Revoked);
    assert_eq!(closed.closed_by.as_deref(), Some("alice"));
    let twice = s.access.close(r.id, revoke("bob"), now).await.unwrap_err();
    assert!(
        matches!(
            twice,
            StoreError::WrongState {
                state: State::Revoked,
                ..
            }
        ),
        "{twice}"
    );
    assert!(matches!(
        s.access.get(9999).await.unwrap_err(),
        StoreError::NotFound(9999)
    ));
    let mine = s.access.list(Some("carol"), None, 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    let bg = NewRequest {
        breakglass: true,
        approvals_needed: 0,
        ..request("dave", 0, now)
    };
    let bg = s.access.insert(&bg, now).await.unwrap();
    assert_eq!(bg.state, State::Approved);
    assert!(bg.breakglass && bg.active_at(now));
}

/// An approval and a revocation racing on one request: exactly one of the two
/// transitions from its state wins, and the stored state is the winner's.
pub async fn concurrent_approve_and_revoke_have_one_outcome(s: &Stores) {
    let now = SystemTime::now();
    for _ in 0..10 {
        let r = s
            .access
            .insert(&request("erin", 1, now), now)
            .await
            .unwrap();
        let deny = Transition {
            from: &[State::Pending],
            to: State::Denied,
            verb: "denied",
            by: "bob".into(),
            note: Some("no".into()),
        };
        let (a, b) = tokio::join!(
            s.access.approve(r.id, "alice", now),
            s.access.close(r.id, deny, now)
        );
        assert!(a.is_ok() != b.is_ok(), "both or neither won: {a:?} / {b:?}");
        let stored = s.access.get(r.id).await.unwrap().state;
        let want = if a.is_ok() {
            State::Approved
        } else {
            State::Denied
        };
        assert_eq!(stored, want);
    }
}

/// Lapsed pending requests and grants become expired, once.
pub async fn sweep_expires_lapsed_requests_and_grants(s: &Stores) {
    let now = SystemTime::now();
    let pending = s
        .access
        .insert(&request("frank", 1, now), now)
        .await
        .unwrap();
    let granted = s
        .access
        .insert(
            &NewRequest {
                breakglass: true,
                duration: Duration::from_secs(60),
                ..request("gina", 0, now)
            },
            now,
        )
        .await
        .unwrap();
    assert!(s.access.sweep(now).await.unwrap().is_empty());
    let later = now + Duration::from_secs(3600);
    let mut lapsed: Vec<i64> = s
        .access
        .sweep(later)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    lapsed.sort();
    assert_eq!(lapsed, [pending.id, granted.id]);
    assert_eq!(
        s.access.get(granted.id).await.unwrap().state,
        State::Expired
    );
    assert!(s.access.sweep(later).await.unwrap().is_empty());
}

/// A learnt host key is returned until replaced.
pub async fn host_keys_are_remembered(s: &Stores) {
    assert!(s.hostkeys.get("sw1").await.unwrap().is_none());
    s.hostkeys.put("sw1", "ssh-ed25519 AAAA1").await.unwrap();
    s.hostkeys.put("sw1", "ssh-ed25519 AAAA2").await.unwrap();
    assert_eq!(
        s.hostkeys.get("sw1").await.unwrap().as_deref(),
        Some("ssh-ed25519 AAAA2")
    );
    assert!(s.hostkeys.get("sw2").await.unwrap().is_none());
}

/// A token is read until its end, taken once, and gone once removed or lapsed.
pub async fn tokens_are_taken_once_and_end_on_time(s: &Stores) {
    let t = &s.tokens;
    let (a, b) = ([1u8; 32], [2u8; 32]);
    let later = SystemTime::now() + Duration::from_secs(60);
    t.put("weblink", a, "alice", later).await.unwrap();
    t.put("weblogin", a, "same key, other kind", later)
        .await
        .unwrap();
    assert_eq!(t.get("weblink", a).await.unwrap().as_deref(), Some("alice"));
    assert_eq!(
        t.take("weblink", a).await.unwrap().as_deref(),
        Some("alice")
    );
    assert_eq!(t.take("weblink", a).await.unwrap(), None, "taken once only");
    assert_eq!(
        t.get("weblogin", a).await.unwrap().as_deref(),
        Some("same key, other kind")
    );
    t.remove("weblogin", a).await.unwrap();
    assert_eq!(t.get("weblogin", a).await.unwrap(), None);
    let past = SystemTime::now() - Duration::from_secs(1);
    t.put("weblink", b, "lapsed", past).await.unwrap();
    assert_eq!(t.get("weblink", b).await.unwrap(), None);
    assert_eq!(t.take("weblink", b).await.unwrap(), None);
}
