//! What the stores' test peers share: a guard process that cleans up after a test binary.

use std::io::Write;
use std::process::{ChildStdin, Command, Stdio};

/// Starts `sh -c "cat >/dev/null; CLEANUP"`: once this process's end of its stdin closes
/// (when the test binary exits, however it exits), the guard runs `cleanup`. Hold the
/// returned stdin for the life of the peer. `who` names the peer in errors.
pub fn exit_guard(who: &str, cleanup: &str) -> Result<ChildStdin, String> {
    let mut child = Command::new("sh")
        .args(["-c", &format!("cat >/dev/null; {cleanup}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{who}: cannot start the cleanup guard: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.flush().ok();
    Ok(stdin)
}
