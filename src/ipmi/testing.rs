//! A real BMC for tests and the lab: `ipmi_sim` (Debian `openipmi`) on a loopback UDP port,
//! with a chassis hook that keeps the power state in a file and logs every call.

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The BMC user the simulator accepts.
pub const BMC_USER: &str = "admin";
/// Its password.
pub const BMC_PASSWORD: &str = "s3cret-bmc";

/// A running `ipmi_sim`.
pub struct IpmiSim {
    child: Child,
    /// `127.0.0.1:PORT` of its LAN interface.
    pub address: String,
    /// The simulator's files (config, state, hook log).
    pub dir: crate::connect::testing::TempDir,
}

impl IpmiSim {
    /// Starts a simulator; panics with a clear message if `ipmi_sim` is missing.
    pub fn start() -> IpmiSim {
        Self::start_with(None)
    }

    /// Starts a simulator whose SOL connects out to `127.0.0.1:sol_port` (the host's
    /// serial port: a listener the caller owns, started first).
    pub fn start_with(sol_port: Option<u16>) -> IpmiSim {
        let dir = crate::connect::testing::TempDir::new("bmc").unwrap();
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let hook = dir.path().join("chassis-hook");
        std::fs::write(
            &hook,
            format!(
                "#!/bin/sh\nst={0}/power\n[ -f $st ] || echo 0 > $st\necho \"$@\" >> {0}/hook.log\n\
                 case \"$2 $3\" in\n  'get boot') echo \"boot:$(cat {0}/boot 2>/dev/null || echo none)\";;\n  \
                 get*) echo \"power:$(cat $st)\";;\n  'set power') echo \"$4\" > $st;;\n  \
                 'set boot') echo \"$4\" > {0}/boot;;\nesac\nexit 0\n",
                dir.path().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::fs::write(
            dir.path().join("lan.conf"),
            format!(
                "name \"bmc1\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {port}\n    \
                 priv_limit admin\n    guid a123456789abcdefa123456789abcdef\n  endlan\n  \
                 chassis_control \"{} 0x20\"\n  user 2 true \"{BMC_USER}\" \"{BMC_PASSWORD}\" admin 10 md5\n{}",
                hook.display(),
                sol_port
                    .map(|p| format!("  sol \"tcp:127.0.0.1:{p}\" 115200\n"))
                    .unwrap_or_default()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("bmc.emu"),
            "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n\
             sel_enable 0x20 50 0x0a\nmc_enable 0x20\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        let child = Command::new("ipmi_sim")
            .arg("-c")
            .arg(dir.path().join("lan.conf"))
            .arg("-f")
            .arg(dir.path().join("bmc.emu"))
            .arg("-s")
            .arg(dir.path().join("state"))
            .arg("-n")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ipmi_sim (Debian openipmi; scripts/test installs it)");
        std::thread::sleep(Duration::from_millis(300));
        IpmiSim {
            child,
            address: format!("127.0.0.1:{port}"),
            dir,
        }
    }

    /// Starts a simulator whose SOL is the serial port of a host on loopback, and returns
    /// the host's end of that port (reads time out after 10 s). Blocks until `ipmi_sim`
    /// has connected to it.
    pub fn start_with_serial() -> (IpmiSim, TcpStream) {
        let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sim = Self::start_with(Some(host.local_addr().unwrap().port()));
        let (serial, _) = host.accept().unwrap();
        serial
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        (sim, serial)
    }

    /// Stops the simulator (a BMC that dies or restarts).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the chassis hook was asked, one call per line.
    pub fn hook_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("hook.log")).unwrap_or_default()
    }

    /// The power state the hook keeps (`0` or `1`).
    pub fn power_file(&self) -> PathBuf {
        self.dir.path().join("power")
    }
}

/// Reads the host's serial port until what came ends with `suffix`; returns all of it.
pub fn read_serial_until(serial: &mut TcpStream, suffix: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(suffix) {
        let n = serial.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the serial port closed after {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    got
}

impl Drop for IpmiSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
