//! The bastion command surface (`ssh bastion <command>` and the interactive menu): each
//! line is parsed into a typed [`Command`] (clap), run by calling down into the engines,
//! and rendered last. Every run is audited. The argument types of `sessions`, `replay`
//! and `power` are shared with the local CLI.

mod access;
mod bmc;
mod bmclog;
mod boot;
mod firmware;
mod info;
mod media;
mod power;
pub mod recover;
mod search;
mod sessions;
mod web;

pub use bmc::{bmc_for, Progress};
pub use power::{
    apply as apply_power, describe as describe_power, event as power_event, report as power_report,
    PowerArgs, PowerVerb,
};
pub use search::{
    find as find_hits, hits_table, offset as format_offset, since as parse_since, SearchArgs,
};
pub use sessions::{
    find_session, parse_offset, replayable, sessions_table, ReplayArgs, SessionsArgs,
};

use std::fmt::Write as _;

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::audit::Event;
use crate::bastion::Bastion;
use crate::identity::Identity;

/// `watch` options.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// Session id (or a unique prefix) of a running session.
    pub id: String,
    /// Show everything the session showed so far, not only its last screen.
    #[arg(long)]
    pub from_start: bool,
    /// Observe a four-eyes session: it runs (and takes input) only while observed; `k`
    /// ends it.
    #[arg(long)]
    pub observe: bool,
}

/// What a command printed and its exit status.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// Text for the admin's terminal (`\n` line ends).
    pub text: String,
    /// Exit status returned to the SSH client.
    pub exit: u32,
}

impl CommandOutput {
    pub(crate) fn ok(text: String) -> CommandOutput {
        CommandOutput { text, exit: 0 }
    }
    pub(crate) fn fail(text: String, exit: u32) -> CommandOutput {
        CommandOutput { text, exit }
    }
}

/// Exit status of a refusal by policy or by the access rules.
pub const EXIT_FORBIDDEN: u32 = 77;

/// One command line, as typed.
#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_subcommand = true)]
pub struct Line {
    #[command(subcommand)]
    command: Command,
}

/// The bastion commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Who the bastion thinks you are.
    Whoami,
    /// The devices you may connect to.
    #[command(alias = "list")]
    Ls,
    /// Console link state and who is attached.
    Consoles,
    /// Recorded sessions you may replay.
    Sessions(SessionsArgs),
    /// Play a recorded session back.
    Replay(ReplayArgs),
    /// Find what sessions showed or admins typed.
    Search(SearchArgs),
    /// Watch a running session live, read-only.
    Watch(WatchArgs),
    /// A recorded session on a device.
    Connect {
        /// The device.
        device: String,
        /// A command to run instead of a shell.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Chassis power through the server's BMC.
    Power(PowerArgs),
    /// The server's boot device override.
    Boot(boot::BootArgs),
    /// The server's virtual media.
    #[command(subcommand)]
    Media(media::MediaCommand),
    /// Firmware through the server's BMC.
    #[command(subcommand)]
    Firmware(firmware::FirmwareCommand),
    /// The BMC's event log.
    BmcLog(bmclog::BmcLogArgs),
    /// Boot the server from a rescue ISO and attach its console.
    Recover(recover::RecoverArgs),
    /// A one-time link into the web console.
    Web,
    /// The command list.
    Help,
    #[command(flatten)]
    Access(access::AccessCommand),
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
        "consoles",
        "console link state, who is attached and writing",
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
        "search TEXT [--user U] [--device D] [--since T] [--typed|--shown] [-n N]",
        "lines sessions showed or admins typed, newest first",
    ),
    (
        "watch ID [--from-start] [--observe]",
        "a running session live, read-only (use ssh -t; q leaves)",
    ),
    (
        "power status|on|off|cycle|reset|soft SERVER",
        "chassis power through the server's BMC (IPMI or Redfish)",
    ),
    (
        "boot SERVER pxe|cd|disk|bios [--once]",
        "set the server's boot device override",
    ),
    (
        "media insert SERVER URL | eject SERVER | status SERVER",
        "the server's virtual CD/DVD (URLs under media.allowed_urls)",
    ),
    (
        "firmware update SERVER URL",
        "flash firmware through the BMC, following its task to the end",
    ),
    ("bmc-log SERVER [-n N]", "the BMC's event log, newest first"),
    (
        "recover SERVER --iso URL",
        "insert the ISO, boot from CD once, power cycle, attach the console (ssh -t)",
    ),
    (
        "web",
        "a one-time link (one use, 60 s) into the web console, logged in as you",
    ),
    ("help", "this list"),
];

/// The usage line of command `name`, from the help tables.
fn usage(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .chain(access::COMMANDS)
        .map(|(u, _)| *u)
        .find(|u| u.split(' ').next() == Some(name))
}

/// The device command of `connect DEVICE COMMAND...` as typed: the rest of the line after
/// the device name, verbatim (what OpenSSH would run on a host), or `None` for a shell.
pub fn connect_command(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    for _ in 0..2 {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    let rest = rest.trim_end();
    (!rest.is_empty()).then(|| rest.to_string())
}

/// Parses one command line; the error is what to show (and its exit status).
pub fn parse(line: &str) -> Result<Command, CommandOutput> {
    let args = shell_words::split(line).map_err(|e| {
        CommandOutput::fail(format!("oobgate: cannot parse command line: {e}\n"), 2)
    })?;
    let Some(name) = args.first().cloned() else {
        return Ok(Command::Help);
    };
    if matches!(name.as_str(), "-h" | "--help") {
        return Ok(Command::Help);
    }
    Line::try_parse_from(&args).map(|l| l.command).map_err(|e| {
        use clap::error::ErrorKind;
        match (e.kind(), usage(&name)) {
            (ErrorKind::InvalidSubcommand, _) | (_, None) => CommandOutput::fail(
                format!("oobgate: unknown command {name:?}; `help` lists the commands\n"),
                127,
            ),
            (ErrorKind::DisplayHelp, Some(u)) => CommandOutput::ok(format!("usage: {u}\n")),
            (_, Some(u)) => {
                let text = e.render().to_string();
                let first = text
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("error: ");
                CommandOutput::fail(format!("{name}: {first}\nusage: {u}\n"), 2)
            }
        }
    })
}

/// Runs one command line for `id`, and audits it.
pub async fn run(bastion: &Bastion, id: &Identity, line: &str) -> CommandOutput {
    let progress = Progress::default();
    let mut out = run_with(bastion, id, line, &progress).await;
    out.text = progress.take_kept() + out.text.as_str();
    out
}

/// Runs one command line for `id`, progress lines of long steps going to `progress`, and
/// audits it.
pub async fn run_with(
    bastion: &Bastion,
    id: &Identity,
    line: &str,
    progress: &Progress,
) -> CommandOutput {
    let verb = shell_words::split(line)
        .ok()
        .and_then(|a| a.first().cloned())
        .unwrap_or_else(|| "help".into());
    let out = match parse(line) {
        Ok(cmd) => execute(bastion, id, cmd, progress).await,
        Err(out) => out,
    };
    bastion
        .audit(
            Event::new("command")
                .user(&id.user)
                .source(id.source.to_string())
                .action(verb)
                .outcome(if out.exit == 0 { "ok" } else { "error" })
                .detail(json!({ "line": line, "exit": out.exit })),
        )
        .await;
    out
}

async fn execute(
    bastion: &Bastion,
    id: &Identity,
    cmd: Command,
    progress: &Progress,
) -> CommandOutput {
    match cmd {
        Command::Help => help(),
        Command::Web => web::run(bastion, id).await,
        Command::Whoami => info::whoami(bastion, id).await,
        Command::Ls => info::ls(bastion, id).await,
        Command::Consoles => info::consoles(bastion, id).await,
        Command::Sessions(args) => sessions::sessions(bastion, id, args).await,
        Command::Search(args) => search::search(bastion, id, args).await,
        Command::Power(args) => power::run(bastion, id, args).await,
        Command::Boot(args) => boot::run(bastion, id, args).await,
        Command::Media(cmd) => media::run(bastion, id, cmd).await,
        Command::Firmware(cmd) => firmware::run(bastion, id, cmd, progress).await,
        Command::BmcLog(args) => bmclog::run(bastion, id, args).await,
        Command::Recover(args) => match recover::run(bastion, id, &args, progress).await {
            Err(out) => out,
            Ok(r) => CommandOutput::ok(match (r.console, r.note) {
                (Some(c), _) => format!("watch it with: ssh -t -J bastion {}\n", c.name),
                (None, note) => format!("{}\n", note.unwrap_or_default()),
            }),
        },
        Command::Access(cmd) => access::run(bastion, id, cmd).await,
        Command::Connect { .. } | Command::Replay(_) | Command::Watch(_) => {
            let name = match cmd {
                Command::Replay(_) => "replay",
                Command::Watch(_) => "watch",
                _ => "connect",
            };
            CommandOutput::fail(
                format!("{name}: run it as `ssh -t bastion {name} ...`\n"),
                2,
            )
        }
    }
}

fn help() -> CommandOutput {
    let mut s = String::from("oobgate bastion commands (ssh bastion COMMAND):\n");
    for (name, what) in COMMANDS {
        let _ = writeln!(s, "  {name:<10} {what}");
    }
    s.push_str("\nTime-bound access:\n");
    for (name, what) in access::COMMANDS {
        let _ = writeln!(s, "  {name}\n      {what}");
    }
    s.push_str("\nReach a device with: ssh -J bastion DEVICE\n");
    CommandOutput::ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_into_commands_and_errors_name_the_usage() {
        assert!(matches!(parse("whoami"), Ok(Command::Whoami)));
        assert!(matches!(parse("list"), Ok(Command::Ls)));
        assert!(matches!(parse(""), Ok(Command::Help)));
        match parse("connect sw1 show run -a") {
            Ok(Command::Connect { device, command }) => {
                assert_eq!(device, "sw1");
                assert_eq!(command, ["show", "run", "-a"]);
            }
            other => panic!("{other:?}"),
        }
        let e = parse("frobnicate").unwrap_err();
        assert_eq!(e.exit, 127);
        assert!(
            e.text.contains("unknown command \"frobnicate\""),
            "{}",
            e.text
        );
        let e = parse("request sw1 30m").unwrap_err();
        assert_eq!(e.exit, 2);
        assert!(e.text.contains("usage: request TARGET"), "{}", e.text);
        assert_eq!(
            connect_command("connect sw1 echo ran; exit 3").as_deref(),
            Some("echo ran; exit 3")
        );
        assert_eq!(connect_command("  connect  sw1  "), None);
        let e = parse("whoami 'unterminated").unwrap_err();
        assert!(e.text.contains("cannot parse"), "{}", e.text);
    }
}
