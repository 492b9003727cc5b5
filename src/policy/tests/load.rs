//! Loading, validation errors, reloads and the shipped policy files.

use super::*;
use crate::testing::{capture_log, wait_log, wait_until, WAIT};

#[tokio::test]
async fn malformed_policy_lines_name_file_line_and_reason() {
    let cases = [
        (
            "p, role:a, sw1, conect, allow",
            "line 2: unknown action \"conect\"",
        ),
        ("p, role:a, sw1, connect", "line 2: expected 5 fields"),
        (
            "p, role:a, sw1, connect, permit",
            "line 2: unknown effect \"permit\"",
        ),
        ("x, role:a, sw1", "line 2: unknown rule type \"x\""),
        (
            "g, role:a, alice",
            "line 2: g: the group \"alice\" must be a role",
        ),
        (
            "p, role:a, site:ams1 & sw1, connect, allow",
            "line 2: invalid object term \"sw1\"",
        ),
        (
            "p, *, sw1, connect, allow",
            "line 2: a subject cannot be \"*\"",
        ),
        (
            "p, role:a, SW1, connect, allow",
            "line 2: object: invalid device name",
        ),
        (
            "p, role:a, sw1, connect, allow",
            "line 2: duplicate of line 1",
        ),
        (
            "g2, sw1, tier",
            "line 2: g2: the group \"tier\" must be one resource role",
        ),
    ];
    for (line, expected) in cases {
        let e = load_err(&format!("p, role:a, sw1, connect, allow\n{line}\n")).await;
        assert!(
            e.starts_with(&format!("policies/{POLICY_FILE} {expected}")),
            "{line}: {e}"
        );
    }
}

#[tokio::test]
async fn malformed_model_names_file_and_line() {
    let dir = policy_dir(NETOPS);
    let model = MODEL.replace(
        "e = some(where (p.eft == allow)) && !some(where (p.eft == deny))",
        "e = some(where (p.eft == allow))",
    );
    std::fs::write(dir.path().join(MODEL_FILE), &model).unwrap();
    let e = PolicyEngine::load(dir.path(), &inventory())
        .await
        .unwrap_err()
        .to_string();
    let line = model.lines().position(|l| l.starts_with("e = ")).unwrap() + 1;
    assert!(
        e.contains(&format!(
            "{MODEL_FILE} line {line}: the effect must be deny-overrides"
        )),
        "{e}"
    );

    let model = MODEL.replace("m = subjectIn(", "m = noSuchFunction(");
    std::fs::write(dir.path().join(MODEL_FILE), &model).unwrap();
    let e = PolicyEngine::load(dir.path(), &inventory())
        .await
        .unwrap_err()
        .to_string();
    let line = model.lines().position(|l| l.starts_with("m = ")).unwrap() + 1;
    assert!(
        e.contains(&format!("{MODEL_FILE} line {line}: matcher: ")),
        "{e}"
    );
}

#[tokio::test]
async fn reload_swaps_good_policies_and_keeps_the_old_one_on_error() {
    let dir = policy_dir(NETOPS);
    let inv = inventory();
    let e = PolicyEngine::load(dir.path(), &inv).await.unwrap();
    let netops = roles(&["netops"]);
    assert!(
        e.decide("alice", &netops, "sw1", Action::Connect)
            .await
            .allowed
    );

    let policy = dir.path().join(POLICY_FILE);
    // Loaded, even in part, this would give netops sw2 instead of sw1.
    std::fs::write(
        &policy,
        "p, role:netops, sw2, connect, allow\np, role:netops, sw1, conect, allow\n",
    )
    .unwrap();
    let err = e.reload(dir.path(), &inv).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("{POLICY_FILE} line 2: unknown action \"conect\"")),
        "{err}"
    );
    assert!(
        e.decide("alice", &netops, "sw1", Action::Connect)
            .await
            .allowed
    );
    assert!(
        !e.decide("alice", &netops, "sw2", Action::Connect)
            .await
            .allowed
    );

    std::fs::write(&policy, "p, role:netops, sw2, connect, allow\n").unwrap();
    e.reload(dir.path(), &inv).await.unwrap();
    assert!(
        !e.decide("alice", &netops, "sw1", Action::Connect)
            .await
            .allowed
    );
    assert!(
        e.decide("alice", &netops, "sw2", Action::Connect)
            .await
            .allowed
    );
}

#[tokio::test]
async fn reloader_picks_up_inventory_and_policy_changes() {
    let dir = policy_dir(NETOPS);
    let inv_path: PathBuf = dir.path().join("inventory.toml");
    std::fs::write(&inv_path, INVENTORY).unwrap();
    let e = PolicyEngine::load(dir.path(), &Inventory::load(&inv_path).unwrap())
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = e.clone().spawn_reloader(
        dir.path().to_path_buf(),
        inv_path.clone(),
        Duration::from_millis(20),
        shutdown.clone(),
    );
    let netops = roles(&["netops"]);

    let extra = "\n[[device]]\nname = \"sw3\"\nkind = \"telnet\"\naddress = \"192.0.2.13:23\"\n\
                 labels = { site = \"ams1\", type = \"switch\" }\n";
    std::fs::write(&inv_path, format!("{INVENTORY}{extra}")).unwrap();
    let allowed = |device: &'static str| {
        let e = e.clone();
        let netops = netops.clone();
        async move {
            e.decide("alice", &netops, device, Action::Connect)
                .await
                .allowed
        }
    };
    wait_until("sw3 reachable after the inventory change", WAIT, || async {
        if allowed("sw3").await {
            Ok(())
        } else {
            Err(format!(
                "sw3 in the inventory: {}",
                e.inventory().get("sw3").is_some()
            ))
        }
    })
    .await;

    // A broken inventory keeps everything as it was. Loaded, even in part, this one would
    // move sw3 to fra1, out of netops' reach.
    let (log, _guard) = capture_log();
    let moved = extra.replace("ams1", "fra1");
    std::fs::write(
        &inv_path,
        format!("{INVENTORY}{moved}\n[[device]]\nname = \"sw4\"\n"),
    )
    .unwrap();
    let text = wait_log(&log, "inventory reload failed").await;
    assert!(text.contains("inventory.toml"), "{text}");
    assert!(allowed("sw3").await);

    // Fixing the inventory and changing the policy is picked up together.
    std::fs::write(&inv_path, format!("{INVENTORY}{extra}")).unwrap();
    let policy = format!("{NETOPS}p, role:netops, sw3, connect, deny\n");
    std::fs::write(dir.path().join(POLICY_FILE), policy).unwrap();
    wait_until("sw3 denied after the policy change", WAIT, || async {
        if allowed("sw3").await {
            Err("sw3 still allowed".to_string())
        } else {
            Ok(())
        }
    })
    .await;
    assert!(allowed("sw1").await);

    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn shipped_policy_loads_and_says_what_its_comments_say() {
    let e = engine(SHIPPED_POLICY).await;
    let r = |names: &[&str]| roles(names);
    assert!(
        e.decide("root", &r(&["admin"]), "core1", Action::PowerControl)
            .await
            .allowed
    );
    assert!(
        e.decide("root", &r(&["admin"]), "bastion", Action::Audit)
            .await
            .allowed
    );
    assert!(
        e.decide("alice", &r(&["netops"]), "sw1", Action::ConsoleWrite)
            .await
            .allowed
    );
    assert!(
        !e.decide("alice", &r(&["netops"]), "core1", Action::ConsoleWrite)
            .await
            .allowed
    );
    assert!(
        !e.decide("alice", &r(&["netops"]), "sw2", Action::Connect)
            .await
            .allowed
    );
    assert!(
        e.decide("lead", &r(&["netops-lead"]), "sw1", Action::Connect)
            .await
            .allowed
    );
    assert!(
        e.decide("lead", &r(&["netops-lead"]), "sw2", Action::Approve)
            .await
            .allowed
    );
    assert!(
        e.decide("aud", &r(&["auditor"]), "bastion", Action::Audit)
            .await
            .allowed
    );
    assert!(
        e.decide("aud", &r(&["auditor"]), "sw2", Action::ConsoleRead)
            .await
            .allowed
    );
    assert!(
        !e.decide("aud", &r(&["auditor"]), "sw2", Action::ConsoleWrite)
            .await
            .allowed
    );
    assert!(
        e.decide("oc", &r(&["oncall"]), "sw2", Action::Request)
            .await
            .allowed
    );
    assert!(
        !e.decide("oc", &r(&["oncall"]), "sw2", Action::Connect)
            .await
            .allowed
    );
}
