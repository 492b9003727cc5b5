//! Command-line interface: argument parsing and one function per subcommand.

mod admin;
mod logging;
mod power;
mod reindex;
mod replay;
mod status;
mod stores;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// oobgate: certificate-only SSH bastion for out-of-band management.
#[derive(Parser)]
#[command(name = "oobgate", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bastion.
    Serve {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate config, inventory and policies without serving.
    Check {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// One screen about this host's bastion: node, listen address and whether the server
    /// answers, live sessions, consoles, secrets store, CA and host certificate.
    Status {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// The built-in certificate authorities.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Ask the policy engine.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Chassis power through a server's BMC: status, on, off, cycle, reset, soft.
    Power {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        args: oobgate::frontdoor::commands::PowerArgs,
    },
    /// List recorded sessions (newest first).
    Sessions {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        args: oobgate::frontdoor::commands::SessionsArgs,
    },
    /// Play a recorded session back in this terminal (space pauses, +/- speed, f skips 5 s, q quits).
    Replay {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        args: oobgate::frontdoor::commands::ReplayArgs,
    },
    /// Rebuild the search index from the recordings on disk (old recordings, a lost
    /// index); safe to run again, and beside a serving bastion.
    Reindex {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Only sessions started at or after (RFC 3339 or a prefix such as 2026-11-23).
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Issue a user certificate from the built-in user CA (writes KEY-cert.pub).
    Sign {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Comma-separated principals: the login name, and roles as role:NAME.
        #[arg(long, short = 'n')]
        principals: String,
        /// Validity, e.g. 8h (at most auth.max_cert_ttl).
        #[arg(long, default_value = "8h")]
        ttl: humantime::Duration,
        /// Key id recorded in the certificate (default: the first principal).
        #[arg(long, short = 'I')]
        key_id: Option<String>,
        /// Restrict use to these source addresses (comma-separated CIDRs).
        #[arg(long)]
        source_address: Option<String>,
        /// Force this bastion command for every session.
        #[arg(long)]
        force_command: Option<String>,
        /// The admin's public key file.
        key: PathBuf,
    },
    /// Print the known_hosts line that trusts this bastion's host certificates.
    KnownHosts {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Would USER (with ROLES) be allowed ACTION on DEVICE? Prints the deciding rule.
    Check {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// `user` or `user,role1,role2` (roles with or without the `role:` prefix).
        subject: String,
        /// A device name, or `bastion` for bastion-wide actions.
        device: String,
        /// connect, console.read, console.write, console.force, power.status,
        /// power.control, forward, request, approve, replay, watch, audit.
        action: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; exits 1 and names the first bad row if it was tampered with.
    Verify {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Show the latest events.
    Tail {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// How many events.
        #[arg(short = 'n', default_value_t = 20)]
        lines: usize,
        /// Keep printing new events as they arrive.
        #[arg(long, short)]
        follow: bool,
    },
    /// Export every event, one per line, for SIEMs: json (the stored rows), ocsf or cef.
    Export {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// json (JSON Lines of the stored rows), ocsf (OCSF 1.5.0 events) or cef.
        #[arg(long, default_value = "json")]
        format: oobgate::audit::ExportFormat,
        /// The same as --format json.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Parses arguments, runs the subcommand, and maps errors to a message and exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Serve { config } => logging::init("info", logging::format_of(config)),
        _ => logging::init("warn", oobgate::config::LogFormat::Text),
    }
    let result = match cli.command {
        Command::Serve { config } => admin::serve(&config),
        Command::Check { config } => admin::check(&config),
        Command::Status { config } => status::status(&config),
        Command::Ca { command } => match command {
            CaCommand::Sign {
                config,
                principals,
                ttl,
                key_id,
                source_address,
                force_command,
                key,
            } => admin::ca_sign(
                &config,
                &principals,
                ttl.into(),
                key_id,
                source_address,
                force_command,
                &key,
            ),
            CaCommand::KnownHosts { config } => admin::known_hosts(&config),
        },
        Command::Policy {
            command:
                PolicyCommand::Check {
                    config,
                    subject,
                    device,
                    action,
                },
        } => admin::policy_check(&config, &subject, &device, &action),
        Command::Power { config, args } => power::run(&config, args),
        Command::Sessions { config, args } => replay::list(&config, &args),
        Command::Replay { config, args } => replay::replay(&config, args),
        Command::Reindex { config, since } => reindex::reindex(&config, since),
        Command::Audit { command } => match command {
            AuditCommand::Verify { config } => admin::audit_verify(&config),
            AuditCommand::Tail {
                config,
                lines,
                follow,
            } => admin::audit_tail(&config, lines, follow),
            AuditCommand::Export {
                config,
                format,
                json: _,
                output,
            } => admin::audit_export(&config, format, output.as_deref()),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("oobgate: {e:#}");
            ExitCode::from(2)
        }
    }
}
