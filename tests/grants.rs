//! `ssh bastion grants` and `grants --all` (yours, or every grant you may revoke), and a
//! renamed `access.breakglass_role`.

mod common;

use common::access_lab::{access_lab, number_after};

#[test]
fn grants_lists_yours_and_all_lists_those_you_may_revoke() {
    let l = access_lab("", "");
    let bob = l.user("bob", "bob,role:oncall");
    let carl = l.user("carl", "carl,role:oncall");
    let alice = l.user("alice", "alice,role:lead");
    let mut numbers = Vec::new();
    for (who, reason) in [(&bob, "bob-needs-it"), (&carl, "carl-needs-it")] {
        let (code, out) = l.cmd(who, &["request", "sw1", "5m", reason]);
        assert_eq!(code, 0, "{out}");
        let n = number_after(&out, "request ");
        let (code, out) = l.cmd(&alice, &["approve", &n]);
        assert_eq!(code, 0, "{out}");
        numbers.push(n);
    }
    let row_of = |listing: &str, n: &str| {
        listing
            .lines()
            .any(|line| line.split_whitespace().next() == Some(n))
    };
    // Without --all, each sees their own grant only, the approver none.
    let (_, mine) = l.cmd(&bob, &["grants"]);
    assert!(row_of(&mine, &numbers[0]), "{mine}");
    assert!(!row_of(&mine, &numbers[1]), "bob sees carl's grant: {mine}");
    let (_, none) = l.cmd(&alice, &["grants"]);
    assert!(
        !row_of(&none, &numbers[0]) && !row_of(&none, &numbers[1]),
        "{none}"
    );
    // With --all, the approver sees both; bob still only his own (he may not revoke carl's).
    let (_, all) = l.cmd(&alice, &["grants", "--all"]);
    assert!(
        row_of(&all, &numbers[0]) && row_of(&all, &numbers[1]),
        "{all}"
    );
    let (_, bobs_all) = l.cmd(&bob, &["grants", "--all"]);
    assert!(row_of(&bobs_all, &numbers[0]), "{bobs_all}");
    assert!(!row_of(&bobs_all, &numbers[1]), "{bobs_all}");
    // What --all shows, she may revoke; then it is gone from every listing.
    let (code, out) = l.cmd(&alice, &["revoke", &numbers[1], "done"]);
    assert_eq!(code, 0, "{out}");
    let (_, all) = l.cmd(&alice, &["grants", "--all"]);
    assert!(!row_of(&all, &numbers[1]), "{all}");
    let (_, carls) = l.cmd(&carl, &["grants"]);
    assert!(!row_of(&carls, &numbers[1]), "{carls}");
}

#[test]
fn breakglass_role_names_who_may_break_glass() {
    let l = access_lab("breakglass_role = \"firefighter\"", "");
    let old = l.user("dora", "dora,role:breakglass");
    let new = l.user("finn", "finn,role:firefighter");
    let (code, out) = l.cmd(&old, &["breakglass", "sw1", "core down"]);
    assert_eq!(code, 77, "{out}");
    assert!(
        out.contains("breakglass is for members of role:firefighter"),
        "{out}"
    );
    let (code, out) = l.cmd(&new, &["breakglass", "sw1", "core down"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("BREAK-GLASS grant #"), "{out}");
    let (code, out) = l.on_sw1(&new, "echo glass");
    assert_eq!(code, 0, "{out}");
}
