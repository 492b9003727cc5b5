//! Test helper: play a recording with the real `asciinema` player.
//!
//! `asciinema cat` opens `/dev/tty`, which test runners (and CI) do not have, so it runs
//! under `script`, which gives it a pseudo-terminal of its own.

use std::path::Path;
use std::process::{Command, Stdio};

/// Output of `asciinema cat PATH`, or why it failed. A missing player is a failure.
pub fn asciinema_cat(path: &Path) -> Result<String, String> {
    let cmd = format!(
        "asciinema cat {}",
        shell_words::quote(&path.to_string_lossy())
    );
    let out = Command::new("setsid")
        .args(["script", "-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run script/asciinema (scripts/test installs them): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || text.contains("Traceback") {
        return Err(format!("asciinema cat {} failed: {text}", path.display()));
    }
    Ok(text)
}
