//! `oobgate sessions` and `oobgate replay` for auditors on the bastion host.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use oobgate::config::Config;
use oobgate::frontdoor::commands::{sessions_table, ReplayArgs, SessionsArgs};
use oobgate::recording::{play, PlayOptions};

use super::stores::with_stores;

/// `oobgate replay`.
pub fn replay(config: &Path, args: ReplayArgs) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let rec = with_stores(&config, |stores| async move {
        let row =
            stores.sessions.get(&args.id).await?.with_context(|| {
                format!("no session {:?} (or the prefix is ambiguous)", args.id)
            })?;
        anyhow::Ok(stores.recordings.open(&row.id).await?)
    })?;
    if args.cat {
        rec.cat(&mut std::io::stdout().lock())?;
        return Ok(ExitCode::SUCCESS);
    }
    let opts = PlayOptions {
        speed: args.speed,
        idle_cap: args.idle_cap.0.map(Duration::from_secs_f64),
        start_at: args.at.unwrap_or_default(),
    };
    let _raw = RawTerminal::enter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(play(&rec, tokio::io::stdout(), tokio::io::stdin(), opts))?;
    Ok(ExitCode::SUCCESS)
}

/// Puts the terminal in raw mode (keys arrive one by one) and restores it on drop.
struct RawTerminal(Option<libc::termios>);

impl RawTerminal {
    fn enter() -> RawTerminal {
        // SAFETY: tcgetattr/tcsetattr on stdin with a properly sized termios.
        unsafe {
            if libc::isatty(0) != 1 {
                return RawTerminal(None);
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return RawTerminal(None);
            }
            let saved = t;
            t.c_lflag &= !(libc::ICANON | libc::ECHO);
            t.c_cc[libc::VMIN] = 1;
            t.c_cc[libc::VTIME] = 0;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            RawTerminal(Some(saved))
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restoring the attributes read in `enter`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}

/// Lists sessions matching `args`.
pub fn list(config: &Path, args: &SessionsArgs) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let filter = args.filter();
    let rows = with_stores(&config, |stores| async move {
        anyhow::Ok(stores.sessions.list(&filter).await?)
    })?;
    if rows.is_empty() {
        println!("No sessions match.");
    } else {
        print!("{}", sessions_table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}
