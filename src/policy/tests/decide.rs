//! Decisions: objects, subjects, actions, deny-overrides and explanations.

use super::*;

#[tokio::test]
async fn label_conjunction_allows_ams1_switch_and_denies_fra1() {
    let e = engine(NETOPS).await;
    let netops = roles(&["netops"]);
    let d = e.decide("alice", &netops, "sw1", Action::Connect).await;
    assert!(d.allowed, "{d:?}");
    assert_eq!(
        d.rule.as_deref(),
        Some("p, role:netops, site:ams1 & type:switch, connect, allow")
    );
    assert!(
        d.reason.starts_with("allowed by \"p, role:netops"),
        "{}",
        d.reason
    );
    assert!(d.reason.contains("policy.csv line 1"), "{}", d.reason);

    let d = e.decide("alice", &netops, "sw2", Action::Connect).await;
    assert!(!d.allowed);
    assert_eq!(d.rule, None);
    assert_eq!(
        d.reason,
        "no rule allows connect on sw2 for alice (roles: netops)"
    );
    // Right site, wrong type.
    assert!(
        !e.decide("alice", &netops, "srv12-console", Action::Connect)
            .await
            .allowed
    );
    // Right device, other action.
    assert!(
        !e.decide("alice", &netops, "sw1", Action::PowerControl)
            .await
            .allowed
    );
}

#[tokio::test]
async fn single_label_exact_device_and_star_objects() {
    let csv = "p, role:a, site:fra1, connect, allow\n\
               p, role:b, srv12-console, console.read, allow\n\
               p, role:c, *, power.status, allow\n\
               p, role:d, kind:serial, connect, allow\n";
    let e = engine(csv).await;
    assert!(
        e.decide("u", &roles(&["a"]), "sw2", Action::Connect)
            .await
            .allowed
    );
    assert!(
        !e.decide("u", &roles(&["a"]), "sw1", Action::Connect)
            .await
            .allowed
    );
    assert!(
        e.decide("u", &roles(&["b"]), "srv12-console", Action::ConsoleRead)
            .await
            .allowed
    );
    assert!(
        !e.decide("u", &roles(&["b"]), "sw1", Action::ConsoleRead)
            .await
            .allowed
    );
    for dev in ["sw1", "sw2", "core1", "srv12-console", "bastion"] {
        assert!(
            e.decide("u", &roles(&["c"]), dev, Action::PowerStatus)
                .await
                .allowed,
            "{dev}"
        );
    }
    assert!(
        e.decide("u", &roles(&["d"]), "srv12-console", Action::Connect)
            .await
            .allowed
    );
    assert!(
        !e.decide("u", &roles(&["d"]), "sw1", Action::Connect)
            .await
            .allowed
    );
}

#[tokio::test]
async fn deny_overrides_allow_across_roles_and_users() {
    let csv = "p, role:admin, *, *, allow\n\
               p, role:netops, site:ams1 & type:switch, console.write, allow\n\
               p, role:netops, tier:core & site:ams1, console.write, deny\n\
               p, mallory, *, *, deny\n";
    let e = engine(csv).await;
    let netops = roles(&["netops"]);
    assert!(
        e.decide("bob", &netops, "sw1", Action::ConsoleWrite)
            .await
            .allowed
    );
    let d = e
        .decide("bob", &netops, "core1", Action::ConsoleWrite)
        .await;
    assert!(!d.allowed);
    assert_eq!(
        d.rule.as_deref(),
        Some("p, role:netops, tier:core & site:ams1, console.write, deny")
    );
    assert!(
        d.reason.starts_with("denied by") && d.reason.contains("line 3"),
        "{}",
        d.reason
    );
    // The deny of one role beats the allow of another role the user also holds.
    let both = roles(&["admin", "netops"]);
    assert!(
        !e.decide("bob", &both, "core1", Action::ConsoleWrite)
            .await
            .allowed
    );
    assert!(
        e.decide("bob", &both, "core1", Action::Connect)
            .await
            .allowed
    );
    // A user-level deny beats the admin role.
    let d = e
        .decide("mallory", &roles(&["admin"]), "sw1", Action::Connect)
        .await;
    assert!(!d.allowed);
    assert_eq!(d.rule.as_deref(), Some("p, mallory, *, *, deny"));
}

#[tokio::test]
async fn unknown_device_is_denied_even_for_admin() {
    let e = engine("p, role:admin, *, *, allow\n").await;
    let admin = roles(&["role:admin"]);
    let d = e.decide("root", &admin, "sw9", Action::Connect).await;
    assert!(!d.allowed);
    assert_eq!(d.reason, "unknown device \"sw9\"");
    assert!(
        e.decide("root", &admin, "sw1", Action::Connect)
            .await
            .allowed
    );
    assert!(
        e.decide("root", &admin, "bastion", Action::Audit)
            .await
            .allowed
    );
}

#[tokio::test]
async fn star_action_matches_every_action() {
    let e = engine("p, role:ops, sw1, *, allow\n").await;
    let ops = roles(&["ops"]);
    for action in Action::ALL {
        let d = e.decide("u", &ops, "sw1", action).await;
        assert!(d.allowed, "{action}");
        assert_eq!(d.rule.as_deref(), Some("p, role:ops, sw1, *, allow"));
    }
    assert!(!e.decide("u", &ops, "sw2", Action::Connect).await.allowed);
}

#[tokio::test]
async fn certificate_roles_grant_access_and_users_without_them_do_not() {
    let e = engine(NETOPS).await;
    assert!(
        e.decide("alice", &roles(&["role:netops"]), "sw1", Action::Connect)
            .await
            .allowed
    );
    assert!(
        e.decide("alice", &roles(&["netops"]), "sw1", Action::Connect)
            .await
            .allowed
    );
    let d = e.decide("alice", &[], "sw1", Action::Connect).await;
    assert!(!d.allowed);
    assert_eq!(
        d.reason,
        "no rule allows connect on sw1 for alice (no roles)"
    );
    // A user named like a role cannot smuggle it in.
    assert!(
        !e.decide("role:netops", &[], "sw1", Action::Connect)
            .await
            .allowed
    );
    assert!(
        !e.decide("alice", &roles(&["net ops"]), "sw1", Action::Connect)
            .await
            .allowed
    );
}

#[tokio::test]
async fn static_g_lines_grant_roles_to_users_and_roles() {
    let csv = format!(
        "{NETOPS}g, alice, role:netops\ng, role:lead, role:netops\n\
         p, bob, sw2, connect, allow\n"
    );
    let e = engine(&csv).await;
    assert!(e.decide("alice", &[], "sw1", Action::Connect).await.allowed);
    assert!(
        e.decide("carol", &roles(&["lead"]), "sw1", Action::Connect)
            .await
            .allowed
    );
    assert!(!e.decide("carol", &[], "sw1", Action::Connect).await.allowed);
    assert!(e.decide("bob", &[], "sw2", Action::Connect).await.allowed);
    assert!(!e.decide("alice", &[], "sw2", Action::Connect).await.allowed);
}

#[tokio::test]
async fn static_g2_lines_add_resource_roles() {
    let csv = "g2, kind:serial, type:console\ng2, sw2, tier:edge\n\
               p, role:a, type:console & site:ams1, console.read, allow\n\
               p, role:b, tier:edge, connect, allow\n";
    let e = engine(csv).await;
    assert!(
        e.decide("u", &roles(&["a"]), "srv12-console", Action::ConsoleRead)
            .await
            .allowed
    );
    assert!(
        !e.decide("u", &roles(&["a"]), "sw1", Action::ConsoleRead)
            .await
            .allowed
    );
    assert!(
        e.decide("u", &roles(&["b"]), "sw2", Action::Connect)
            .await
            .allowed
    );
    assert!(
        !e.decide("u", &roles(&["b"]), "sw1", Action::Connect)
            .await
            .allowed
    );
}

#[tokio::test]
async fn visible_devices_lists_connectable_devices() {
    let csv = format!("{NETOPS}p, role:netops, core1, connect, deny\n");
    let e = engine(&csv).await;
    let inv = inventory();
    assert_eq!(
        e.visible_devices("alice", &roles(&["netops"]), &inv).await,
        ["sw1"]
    );
    assert!(e.visible_devices("alice", &[], &inv).await.is_empty());
    let e = engine("p, role:admin, *, *, allow\n").await;
    assert_eq!(
        e.visible_devices("root", &roles(&["admin"]), &inv).await,
        ["core1", "srv12-console", "sw1", "sw2"]
    );
}
