//! The lab served by the real `oobgate serve` binary with extra environment (such as a
//! service manager's `NOTIFY_SOCKET`).

use std::ffi::OsStr;
use std::process::{Child, Command, Stdio};

use super::{wait_for_banner, Lab};

impl Lab {
    /// Stops the in-process bastion and serves the lab with `oobgate serve` run with `env`
    /// added; waits for its banner. The caller owns the child.
    pub fn serve_as_process_with(&mut self, env: &[(&str, &OsStr)]) -> Child {
        self.shutdown.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let log = std::fs::File::create(self.root().join("serve.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_oobgate"))
            .args(["serve", "--config"])
            .arg(&self.config_path)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("oobgate serve");
        wait_for_banner(self.addr);
        child
    }
}
