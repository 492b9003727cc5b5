//! `whoami`, `ls` and `consoles`: what the admin may reach and who they are.

use std::fmt::Write as _;
use std::time::SystemTime;

use serde_json::json;

use super::CommandOutput;
use crate::audit::{printable, rfc3339, Event};
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::policy::Action;

fn remaining(until: SystemTime) -> String {
    match until.duration_since(SystemTime::now()) {
        Ok(d) => {
            humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string()
        }
        Err(_) => "expired".into(),
    }
}

pub(super) async fn whoami(bastion: &Bastion, id: &Identity) -> CommandOutput {
    let inventory = bastion.policy.inventory();
    let visible = bastion
        .policy
        .visible_devices(&id.user, &id.roles, &inventory)
        .await;
    let mut s = String::new();
    let _ = writeln!(s, "user:        {}", printable(&id.user));
    let _ = writeln!(s, "roles:       {}", printable(&id.roles_display()));
    let _ = writeln!(s, "key id:      {}", printable(&id.key_id));
    let _ = writeln!(s, "serial:      {}", id.serial);
    let _ = writeln!(s, "signed by:   {}", id.ca_fingerprint);
    match id.valid_before {
        Some(t) => {
            let _ = writeln!(s, "expires:     {} (in {})", rfc3339(t), remaining(t));
        }
        None => {
            let _ = writeln!(s, "expires:     never");
        }
    }
    let _ = writeln!(s, "from:        {}", id.source);
    if let Some(fc) = &id.force_command {
        let _ = writeln!(s, "restricted:  force-command \"{}\"", printable(fc));
    }
    let _ = writeln!(
        s,
        "devices:     {} reachable (`ls` lists them)",
        visible.len()
    );
    CommandOutput::ok(s)
}

pub(super) async fn ls(bastion: &Bastion, id: &Identity) -> CommandOutput {
    let inventory = bastion.policy.inventory();
    let visible = bastion.authz.reachable_devices(id).await;
    bastion
        .audit(
            Event::new("policy.list")
                .user(&id.user)
                .source(id.source.to_string())
                .action("connect")
                .outcome("allow")
                .detail(json!({ "roles": id.roles, "visible": visible })),
        )
        .await;
    if visible.is_empty() {
        return CommandOutput::ok("No devices: your roles allow no connections.\n".into());
    }
    let mut s = format!(
        "{:<20} {:<9} {:<30} {}\n",
        "DEVICE", "KIND", "LABELS", "DESCRIPTION"
    );
    for name in &visible {
        let Some(d) = inventory.get(name) else {
            continue;
        };
        let labels = d
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let _ = writeln!(
            s,
            "{:<20} {:<9} {:<30} {}",
            d.name,
            d.kind.to_string(),
            labels,
            d.description.as_deref().unwrap_or("")
        );
    }
    CommandOutput::ok(s)
}

pub(super) async fn consoles(bastion: &Bastion, id: &Identity) -> CommandOutput {
    let inventory = bastion.policy.inventory();
    let owners = console_owners(bastion).await;
    let mut s = format!(
        "{:<20} {:<10} {:<12} {}{}\n",
        "CONSOLE",
        "ALWAYS-ON",
        "LINK",
        if owners.is_some() {
            "NODE             "
        } else {
            ""
        },
        "ATTACHED"
    );
    let mut any = false;
    for d in inventory.devices().filter(|d| d.kind.is_console()) {
        let allowed = bastion
            .authz
            .decide(id, &d.name, Action::ConsoleRead)
            .await
            .allowed;
        if !allowed {
            continue;
        }
        any = true;
        let (mut link, attached) = console_state(bastion, &d.name);
        let node = owners.as_ref().map(|o| {
            let here = &bastion.config.node_name;
            match o.iter().find(|o| o.console == d.name) {
                _ if !crate::session::console_owner::is_shared(d) => {
                    format!("{here} (local tty)")
                }
                Some(o) if &o.node == here => format!("{here} (this node)"),
                Some(o) => {
                    link = "elsewhere".into();
                    o.node.clone()
                }
                None => "-".into(),
            }
        });
        let _ = writeln!(
            s,
            "{:<20} {:<10} {:<12} {}{}",
            d.name,
            if d.always_on { "yes" } else { "no" },
            link,
            node.map(|n| format!("{n:<16} ")).unwrap_or_default(),
            attached
        );
    }
    if !any {
        return CommandOutput::ok("No consoles you may watch.\n".into());
    }
    s.push_str("(* holds the write lock; attach with: ssh -J bastion CONSOLE)\n");
    CommandOutput::ok(s)
}

/// On several nodes, which node carries each network console (None: one node).
async fn console_owners(bastion: &Bastion) -> Option<Vec<crate::store::ConsoleOwner>> {
    let leases = bastion.stores.leases.as_ref()?;
    match leases.console_owners().await {
        Ok(o) => Some(o),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read which node carries each console");
            Some(Vec::new())
        }
    }
}

/// A console's link state and attached users on this node.
fn console_state(bastion: &Bastion, name: &str) -> (String, String) {
    match bastion.consoles.status(name) {
        Some(st) => (
            match st.link {
                crate::console::LinkState::Up => "up".to_string(),
                crate::console::LinkState::Idle => "idle".to_string(),
                crate::console::LinkState::Connecting => "connecting".to_string(),
                crate::console::LinkState::Down(why) => format!("down ({why})"),
            },
            st.attached
                .iter()
                .map(|u| {
                    if u.writer {
                        format!("{}*", u.user)
                    } else {
                        u.user.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        None => ("idle".to_string(), String::new()),
    }
}
