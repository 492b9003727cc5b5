//! Path rules of the file actions: prefixes by whole names, deny wins, a session allowed
//! when some path is, and a matcher without `actionMatch` refusing them.

use super::*;

const OPS: &str = "p, role:ops, type:switch, file.download:/flash/, allow\n\
                   p, role:ops, type:switch, file.download:/flash/private-config.text, deny\n\
                   p, role:ops, sw1, file.upload:/flash/images/, allow\n\
                   p, role:admin, *, file.download, allow\n\
                   p, role:admin, *, file.download:/etc/shadow, deny\n";

#[tokio::test]
async fn prefixes_allow_what_lies_under_them_and_deny_wins() {
    let e = engine(OPS).await;
    let ops = roles(&["ops"]);
    let down = |path: &'static str| {
        let (e, ops) = (e.clone(), ops.clone());
        async move {
            e.decide_path("olga", &ops, "sw1", Action::FileDownload, path)
                .await
        }
    };
    assert!(down("/flash/vlan.dat").await.allowed);
    assert!(down("/flash").await.allowed);
    assert!(!down("/flashy").await.allowed);
    assert!(!down("/etc/passwd").await.allowed);
    let d = down("/flash/private-config.text").await;
    assert!(!d.allowed);
    assert!(
        d.reason.contains("private-config.text, deny"),
        "{}",
        d.reason
    );
    let up = e
        .decide_path(
            "olga",
            &ops,
            "sw2",
            Action::FileUpload,
            "/flash/images/x.bin",
        )
        .await;
    assert!(!up.allowed, "upload allowed on sw1 only: {up:?}");

    // Plain rules cover every path; a path deny still wins over them.
    let admin = roles(&["admin"]);
    let d = e
        .decide_path("ann", &admin, "sw2", Action::FileDownload, "/var/log/x")
        .await;
    assert!(d.allowed, "{d:?}");
    let d = e
        .decide_path("ann", &admin, "sw2", Action::FileDownload, "/etc/shadow")
        .await;
    assert!(!d.allowed, "{d:?}");
}

#[tokio::test]
async fn a_session_may_transfer_when_some_path_is_allowed() {
    let e = engine(OPS).await;
    let ops = roles(&["ops"]);
    let d = e.decide("olga", &ops, "sw1", Action::FileUpload).await;
    assert!(d.allowed, "{d:?}");
    assert!(d.reason.contains("only paths"), "{}", d.reason);
    assert!(
        !e.decide("olga", &ops, "sw2", Action::FileUpload)
            .await
            .allowed
    );
    // A path deny does not deny the action as a whole.
    let admin = roles(&["admin"]);
    assert!(
        e.decide("ann", &admin, "sw2", Action::FileDownload)
            .await
            .allowed
    );
}

#[tokio::test]
async fn bad_path_rules_and_an_old_matcher_are_load_errors() {
    for (csv, want) in [
        (
            "p, role:a, *, connect:/x, allow\n",
            "only file.upload and file.download",
        ),
        ("p, role:a, *, file.upload:flash, allow\n", "invalid path"),
        ("p, role:a, *, file.upload:/a/../b, allow\n", "invalid path"),
    ] {
        let e = load_err(csv).await;
        assert!(e.contains("line 1") && e.contains(want), "{csv}: {e}");
    }
    let dir = policy_dir("p, role:a, sw1, file.upload:/tmp, allow\n");
    let old = MODEL.replace("actionMatch(r.act, p.act)", "p.act == r.act");
    std::fs::write(dir.path().join(MODEL_FILE), old).unwrap();
    let e = PolicyEngine::load(dir.path(), &inventory())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 1") && e.contains("actionMatch"), "{e}");
    // Without path rules an old matcher still works, every path under the action.
    std::fs::write(
        dir.path().join(POLICY_FILE),
        "p, role:a, sw1, file.upload, allow\n",
    )
    .unwrap();
    let e = PolicyEngine::load(dir.path(), &inventory()).await.unwrap();
    let d = e
        .decide_path("al", &roles(&["a"]), "sw1", Action::FileUpload, "/x")
        .await;
    assert!(d.allowed, "{d:?}");
}
