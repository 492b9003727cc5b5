//! The bastion command surface (`ssh bastion <command>` and the interactive menu).
//! Each command returns its text and exit status; every run is audited.

use std::fmt::Write as _;
use std::time::SystemTime;

use serde_json::json;

use super::Bastion;
use crate::audit::{rfc3339, Event};
use crate::identity::Identity;

/// What a command printed and its exit status.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// Text for the admin's terminal (`\n` line ends).
    pub text: String,
    /// Exit status returned to the SSH client.
    pub exit: u32,
}

impl CommandOutput {
    pub(super) fn ok(text: String) -> CommandOutput {
        CommandOutput { text, exit: 0 }
    }
    pub(super) fn fail(text: String, exit: u32) -> CommandOutput {
        CommandOutput { text, exit }
    }
}

/// The commands with a one-line description, as `help` shows them.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "whoami",
        "who the bastion thinks you are: user, roles, certificate, expiry",
    ),
    ("ls", "the devices you may connect to"),
    (
        "connect DEVICE [CMD]",
        "open a recorded session on DEVICE (use ssh -t for a terminal)",
    ),
    (
        "sessions [--user U] [--device D] [--since T]",
        "recorded sessions you may replay",
    ),
    (
        "replay ID [--speed X] [--at T] [--cat]",
        "play a recorded session back",
    ),
    (
        "power status|on|off|cycle|reset|soft SERVER",
        "chassis power through the server's BMC",
    ),
    ("help", "this list"),
];

/// Runs one command line for `id`.
pub async fn run(bastion: &Bastion, id: &Identity, line: &str) -> CommandOutput {
    let args = match shell_words::split(line) {
        Ok(a) => a,
        Err(e) => {
            return CommandOutput::fail(format!("oobgate: cannot parse command line: {e}\n"), 2)
        }
    };
    let Some((cmd, rest)) = args.split_first() else {
        return help();
    };
    let out = match cmd.as_str() {
        "help" | "-h" | "--help" => help(),
        "whoami" => whoami(bastion, id).await,
        "ls" | "list" => ls(bastion, id, rest).await,
        "sessions" => super::replay::sessions(bastion, id, rest).await,
        "consoles" => consoles(bastion, id).await,
        "power" => super::power::run(bastion, id, rest).await,
        other
            if super::access_cmds::COMMANDS
                .iter()
                .any(|(c, _)| c.split(' ').next() == Some(other)) =>
        {
            match super::access_cmds::run(bastion, id, other, rest).await {
                Some(out) => out,
                None => CommandOutput::fail(format!("oobgate: unknown command {other:?}\n"), 127),
            }
        }
        "connect" | "replay" => {
            CommandOutput::fail(format!("{cmd}: run it as `ssh -t bastion {cmd} ...`\n"), 2)
        }
        other => CommandOutput::fail(
            format!("oobgate: unknown command {other:?}; `help` lists the commands\n"),
            127,
        ),
    };
    bastion.audit(
        Event::new("command")
            .user(&id.user)
            .source(id.source.to_string())
            .action(cmd.as_str())
            .outcome(if out.exit == 0 { "ok" } else { "error" })
            .detail(json!({ "line": line, "exit": out.exit })),
    );
    out
}

fn help() -> CommandOutput {
    let mut s = String::from("oobgate bastion commands (ssh bastion COMMAND):\n");
    for (name, what) in COMMANDS {
        let _ = writeln!(s, "  {name:<10} {what}");
    }
    s.push_str("\nTime-bound access:\n");
    for (name, what) in super::access_cmds::COMMANDS {
        let _ = writeln!(s, "  {name}\n      {what}");
    }
    s.push_str("\nReach a device with: ssh -J bastion DEVICE\n");
    CommandOutput::ok(s)
}

fn remaining(until: SystemTime) -> String {
    match until.duration_since(SystemTime::now()) {
        Ok(d) => {
            humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string()
        }
        Err(_) => "expired".into(),
    }
}

async fn whoami(bastion: &Bastion, id: &Identity) -> CommandOutput {
    let inventory = bastion.policy.inventory();
    let visible = bastion
        .policy
        .visible_devices(&id.user, &id.roles, &inventory)
        .await;
    let mut s = String::new();
    let _ = writeln!(s, "user:        {}", id.user);
    let _ = writeln!(s, "roles:       {}", id.roles_display());
    let _ = writeln!(s, "key id:      {}", id.key_id);
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
        let _ = writeln!(s, "restricted:  force-command {fc:?}");
    }
    let _ = writeln!(
        s,
        "devices:     {} reachable (`ls` lists them)",
        visible.len()
    );
    CommandOutput::ok(s)
}

async fn ls(bastion: &Bastion, id: &Identity, args: &[String]) -> CommandOutput {
    if let Some(a) = args.first() {
        return CommandOutput::fail(format!("ls: unexpected argument {a:?}\n"), 2);
    }
    let inventory = bastion.policy.inventory();
    let visible = bastion.reachable_devices(id).await;
    bastion.audit(
        Event::new("policy.list")
            .user(&id.user)
            .source(id.source.to_string())
            .action("connect")
            .outcome("allow")
            .detail(json!({ "roles": id.roles, "visible": visible })),
    );
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

async fn consoles(bastion: &Bastion, id: &Identity) -> CommandOutput {
    let inventory = bastion.policy.inventory();
    let mut s = format!(
        "{:<20} {:<10} {:<12} {}\n",
        "CONSOLE", "ALWAYS-ON", "LINK", "ATTACHED"
    );
    let mut any = false;
    for d in inventory.devices().filter(|d| d.kind.is_console()) {
        let allowed = bastion
            .authorize(id, &d.name, crate::policy::Action::ConsoleRead)
            .await
            .allowed;
        if !allowed {
            continue;
        }
        any = true;
        let (link, attached) = match bastion.consoles.status(&d.name) {
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
        };
        let _ = writeln!(
            s,
            "{:<20} {:<10} {:<12} {}",
            d.name,
            if d.always_on { "yes" } else { "no" },
            link,
            attached
        );
    }
    if !any {
        return CommandOutput::ok("No consoles you may watch.\n".into());
    }
    s.push_str("(* holds the write lock; attach with: ssh -J bastion CONSOLE)\n");
    CommandOutput::ok(s)
}
