//! `oobgate sessions` and `oobgate replay` for auditors on the bastion host.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use oobgate::audit::{AuditStore, SessionFilter};
use oobgate::config::Config;
use oobgate::recording::{play, PlayOptions, Recording};

/// `oobgate replay`.
pub fn replay(
    config: &Path,
    id: &str,
    speed: f64,
    idle_cap: f64,
    at: Option<&str>,
    cat: bool,
) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let store = AuditStore::open(&config.store_path())?;
    let row = store
        .session(id)?
        .with_context(|| format!("no session {id:?} (or the prefix is ambiguous)"))?;
    let path = row
        .recording
        .with_context(|| format!("session {} has no recording", row.id))?;
    let rec = Recording::open(Path::new(&path))?;
    if cat {
        rec.cat(&mut std::io::stdout().lock())?;
        return Ok(ExitCode::SUCCESS);
    }
    if !(speed > 0.0 && speed.is_finite()) {
        bail!("--speed must be a positive number");
    }
    let start_at = match at {
        Some(a) => oobgate::frontdoor::parse_offset(a)
            .with_context(|| format!("--at {a:?} is not an offset like 90, 1m30s or 01:30"))?,
        None => Duration::ZERO,
    };
    let opts = PlayOptions {
        speed,
        idle_cap: (idle_cap > 0.0).then(|| Duration::from_secs_f64(idle_cap)),
        start_at,
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

/// Lists sessions matching `filter`.
pub fn list(config: &Path, filter: SessionFilter) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let store = AuditStore::open(&config.store_path())?;
    let rows = store.sessions(&filter)?;
    if rows.is_empty() {
        println!("No sessions match.");
    } else {
        print!("{}", oobgate::frontdoor::sessions_table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}
