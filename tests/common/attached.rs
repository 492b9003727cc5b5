//! An interactive `ssh -tt` session (a console attach) driven by a test.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{wait_until, POLL, WAIT};

/// An interactive `ssh -tt` (a console attach) whose output is collected in the background.
pub struct Attached {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Attached {
    pub fn start(cfg: &std::path::Path, host: &str) -> Attached {
        Attached::start_args(cfg, host, &[])
    }

    /// `ssh -tt HOST ARGS...` (a bastion command that ends in a console attach).
    pub fn start_args(cfg: &std::path::Path, host: &str, args: &[&str]) -> Attached {
        let mut child = Command::new("ssh")
            .arg("-F")
            .arg(cfg)
            .args(["-tt", host])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let readers: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for mut r in readers {
            let sink = out.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        Attached { child, out }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    pub fn wait_for(&self, needle: &str) -> bool {
        let until = Instant::now() + WAIT;
        while Instant::now() < until {
            if self.text().contains(needle) {
                return true;
            }
            std::thread::sleep(POLL);
        }
        false
    }

    /// Waits until the output contains `needle`, failing with the output so far.
    #[track_caller]
    pub fn expect(&self, needle: &str) {
        wait_until(&format!("{needle:?} on the terminal"), WAIT, || {
            let text = self.text();
            if text.contains(needle) {
                Ok(())
            } else {
                Err(text)
            }
        })
    }

    /// Waits until the client exits by itself, failing with what the terminal showed.
    #[track_caller]
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let child = &mut self.child;
        let out = &self.out;
        wait_until("the ssh client to exit", WAIT, || {
            match child.try_wait().expect("ssh client status") {
                Some(status) => Ok(status),
                None => Err(String::from_utf8_lossy(&out.lock().unwrap()).into_owned()),
            }
        })
    }

    pub fn send(&mut self, bytes: &[u8]) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// Detaches with `Ctrl-] d`: the bastion says so and the client exits by itself with
    /// status 0, or the test fails with what the terminal showed. Returns that output.
    #[track_caller]
    pub fn detach(mut self) -> String {
        self.send(b"\x1dd");
        let status = self.wait_exit();
        // The readers may still be draining the last bytes the client wrote.
        self.expect("[oobgate: detached]");
        let text = self.text();
        assert!(status.success(), "detached client exited {status}: {text}");
        text
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
