//! A console program on a pty (socat) that the bastion opens like a local serial port.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A console program on a pty that the bastion opens like a local serial port.
pub struct PtyConsole {
    socat: Child,
    pub pty: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for PtyConsole {
    fn drop(&mut self) {
        let _ = self.socat.kill();
        let _ = self.socat.wait();
    }
}

pub fn pty_console() -> PtyConsole {
    let dir = tempfile::tempdir().unwrap();
    let pty = dir.path().join("ttyS1");
    let program = dir.path().join("console.sh");
    std::fs::write(
        &program,
        "#!/bin/sh\necho CONSOLE-READY\nwhile read l; do echo \"got:$l\"; done\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let socat = Command::new("socat")
        .arg(format!("PTY,link={},raw,echo=0", pty.display()))
        .arg(format!("EXEC:{}", program.display()))
        .stderr(Stdio::null())
        .spawn()
        .expect("socat (scripts/test installs it)");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !pty.exists() {
        assert!(std::time::Instant::now() < until, "socat made no pty");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    PtyConsole {
        socat,
        pty,
        _dir: dir,
    }
}
