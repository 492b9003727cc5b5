//! Shared serial consoles behind a real console server: a program on a pty (socat) exposed
//! by real ser2net as a raw TCP port or a telnet port with RFC 2217 serial control, held
//! open and logged by the bastion, attached by two admins at once with the real ssh client.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};

use common::{text, Attached, Lab, LabOptions};

/// A fake device console on a pty, behind a ser2net port.
struct ConsoleServer {
    socat: Child,
    ser2net: Child,
    port: u16,
    dir: tempfile::TempDir,
    pty: std::path::PathBuf,
}

impl ConsoleServer {
    fn stop_ser2net(&mut self) {
        let _ = self.ser2net.kill();
        let _ = self.ser2net.wait();
    }

    fn start_ser2net(&mut self) {
        self.ser2net = spawn_ser2net(self.dir.path(), self.port);
    }
}

fn spawn_ser2net(dir: &std::path::Path, port: u16) -> Child {
    let child = Command::new("ser2net")
        .args(["-n", "-d", "-c"])
        .arg(dir.join("ser2net.yaml"))
        .arg("-P")
        .arg(dir.join("ser2net.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ser2net (scripts/test installs it)");
    common::wait_until(
        &format!("ser2net listening on 127.0.0.1:{port}"),
        common::WAIT,
        || std::net::TcpStream::connect(("127.0.0.1", port)).map(|_| ()),
    );
    child
}

impl Drop for ConsoleServer {
    fn drop(&mut self) {
        let _ = self.ser2net.kill();
        // The socat loop runs in its own session: end the whole group.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.socat.id())])
            .status();
        let _ = self.ser2net.wait();
        let _ = self.socat.wait();
    }
}

/// The output in the continuous log files of a console (directory `dir`), as text.
fn console_log(dir: &std::path::Path) -> String {
    let mut logged = Vec::new();
    for f in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(rec) = oobgate::recording::Recording::open(&f.path()) {
            rec.cat(&mut logged).unwrap();
        }
    }
    String::from_utf8_lossy(&logged).into_owned()
}

/// Waits until socat has made the pty `path`.
fn wait_for_pty(path: &std::path::Path) {
    common::wait_until(&format!("pty {}", path.display()), common::WAIT, || {
        if path.exists() {
            Ok(())
        } else {
            Err("absent")
        }
    });
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn console_server() -> ConsoleServer {
    console_server_at("tcp")
}

/// A console server whose ser2net accepter is `accepter` (`tcp`, `telnet(rfc2217),tcp`).
fn console_server_at(accepter: &str) -> ConsoleServer {
    let dir = tempfile::tempdir().unwrap();
    let pty = dir.path().join("ttyS0");
    // socat splits EXEC arguments on its own separators: keep the program in a file.
    let program = dir.path().join("console.sh");
    std::fs::write(
        &program,
        "#!/bin/sh\necho BOOT-BANNER\nsleep 3\necho LATE-PANIC while nobody watched\n\
         while read l; do echo \"got:$l\"; done\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // socat ends when the console server closes the pty; like a machine that is still
    // there, the loop gives the console server a fresh pty to reopen.
    let socat = Command::new("setsid")
        .args(["sh", "-c"])
        .arg(format!(
            "while :; do socat PTY,link={},raw,echo=0 EXEC:{}; sleep 0.1; done",
            pty.display(),
            program.display()
        ))
        .stderr(Stdio::null())
        .spawn()
        .expect("socat (scripts/test installs it)");
    wait_for_pty(&pty);
    let port = free_port();
    let cfg = dir.path().join("ser2net.yaml");
    std::fs::write(
        &cfg,
        format!(
            "%YAML 1.1\n---\nconnection: &con0\n  accepter: {accepter},127.0.0.1,{port}\n  \
             connector: serialdev,{},115200n81,local\n  options:\n    kickolduser: true\n",
            pty.display()
        ),
    )
    .unwrap();
    let ser2net = spawn_ser2net(dir.path(), port);
    ConsoleServer {
        socat,
        ser2net,
        port,
        dir,
        pty,
    }
}

#[test]
fn shared_console_backlog_log_sharing_and_write_lock() {
    let server = console_server();
    let inventory = format!(
        "[[device]]\nname = \"srv12-console\"\nkind = \"serial\"\naddress = \"raw://127.0.0.1:{}\"\n\
         labels = {{ site = \"ams1\", type = \"server\" }}\nalways_on = true\n",
        server.port
    );
    let lab = Lab::start_with(LabOptions {
        inventory: Some(inventory),
        ..Default::default()
    });
    let admin = lab.user("carol", "carol,role:admin");
    let admin = lab.with_devices(&admin, &["srv12-console"]);
    let auditor = lab.user("audrey", "audrey,role:auditor");
    let auditor = lab.with_devices(&auditor, &["srv12-console"]);

    // The console prints this 3 s after boot, while nobody is attached.
    let dir = lab.config.data_dir.join("consoles/srv12-console");
    common::wait_until("LATE-PANIC in the continuous log", common::WAIT, || {
        let logged = console_log(&dir);
        if logged.contains("LATE-PANIC while nobody watched") {
            Ok(())
        } else {
            Err(logged)
        }
    });
    let (list, _) = text(&lab.ssh(&admin, &["consoles"]));
    assert!(
        list.contains("srv12-console") && list.contains("up"),
        "{list}"
    );

    let mut carol = Attached::start(&admin, "srv12-console");
    assert!(
        carol.wait_for("LATE-PANIC while nobody watched"),
        "backlog: {}",
        carol.text()
    );
    let mut audrey = Attached::start(&auditor, "srv12-console");
    assert!(audrey.wait_for("LATE-PANIC"), "{}", audrey.text());
    assert!(audrey.wait_for("read-only"), "{}", audrey.text());

    // Only the writer's keystrokes reach the console; both see the answer. The auditor
    // is told her input was dropped, so it has been handled before carol types.
    audrey.send(b"from-auditor\n");
    audrey.expect("read-only, your input is dropped");
    carol.send(b"from-admin\n");
    assert!(carol.wait_for("got:from-admin"), "{}", carol.text());
    assert!(audrey.wait_for("got:from-admin"), "{}", audrey.text());
    assert!(
        !carol.text().contains("got:from-auditor"),
        "{}",
        carol.text()
    );

    // Who is attached, as the escape shows it; the auditor may not take the write lock.
    carol.send(b"\x1dw");
    assert!(carol.wait_for("carol (writing)"), "{}", carol.text());
    assert!(carol.text().contains("audrey"));
    audrey.send(b"\x1dT");
    audrey.expect("[console: audrey may not force write on console srv12-console]");
    // carol still holds the lock: she was not told otherwise and her keystrokes still
    // reach the console.
    carol.send(b"still-writing\n");
    carol.expect("got:still-writing");
    assert!(
        !carol.text().contains("took write access from you"),
        "{}",
        carol.text()
    );

    let audrey_out = audrey.detach();
    let carol_out = carol.detach();
    assert!(carol_out.contains("[oobgate: detached]"), "{carol_out}");
    assert!(audrey_out.contains("[oobgate: detached]"), "{audrey_out}");

    // Each attach is its own recorded, audited session.
    let ends = lab.wait_events("session.end", 2);
    assert!(ends
        .iter()
        .all(|e| e.detail["recording_sha256"].is_string()));
}

fn console_lab(port: u16) -> (Lab, std::path::PathBuf) {
    console_lab_for(
        "srv12-console",
        &format!("address = \"raw://127.0.0.1:{port}\"\nlabels = {{ site = \"ams1\", type = \"server\" }}"),
    )
}

/// A lab with one always-on serial console `name` (`fields` completes its inventory entry)
/// and an admin's ssh_config for it.
fn console_lab_for(name: &str, fields: &str) -> (Lab, std::path::PathBuf) {
    let inventory =
        format!("[[device]]\nname = \"{name}\"\nkind = \"serial\"\n{fields}\nalways_on = true\n");
    let lab = Lab::start_with(LabOptions {
        inventory: Some(inventory),
        ..Default::default()
    });
    let admin = lab.user("carol", "carol,role:admin");
    let admin = lab.with_devices(&admin, &[name]);
    (lab, admin)
}

#[test]
fn refused_console_server_shows_the_link_down_with_its_reason() {
    let port = free_port(); // nothing listens there
    let (lab, admin) = console_lab(port);
    common::wait_until(
        "the console listed down with its reason",
        common::WAIT,
        || {
            let (list, _) = text(&lab.ssh(&admin, &["consoles"]));
            if list.contains("down (srv12-console refused the connection") {
                Ok(())
            } else {
                Err(list)
            }
        },
    );
}

#[test]
fn console_link_drop_and_recovery_are_announced_and_logged() {
    let mut server = console_server();
    let (lab, admin) = console_lab(server.port);
    let mut carol = Attached::start(&admin, "srv12-console");
    assert!(carol.wait_for("attached to console"), "{}", carol.text());
    server.stop_ser2net();
    assert!(carol.wait_for("link down"), "{}", carol.text());
    assert!(
        carol.wait_for("srv12-console refused the connection"),
        "{}",
        carol.text()
    );
    let (list, _) = text(&lab.ssh(&admin, &["consoles"]));
    assert!(
        list.contains("down (srv12-console refused the connection"),
        "{list}"
    );
    server.start_ser2net();
    assert!(carol.wait_for("[console: link up]"), "{}", carol.text());
    // Logging and input work again on the new link.
    carol.send(b"after-reconnect\n");
    assert!(carol.wait_for("got:after-reconnect"), "{}", carol.text());
    carol.detach();
    let (list, _) = text(&lab.ssh(&admin, &["consoles"]));
    assert!(list.contains(" up "), "{list}");
}

#[test]
fn local_serial_console_break_and_vanishing_pty() {
    // socat gives the console program a pty; the bastion opens the tty side like a
    // USB serial adapter, with line settings from the inventory.
    let dir = tempfile::tempdir().unwrap();
    let pty = dir.path().join("ttyUSB0");
    let program = dir.path().join("console.sh");
    std::fs::write(
        &program,
        "#!/bin/sh\nsleep 1\necho LOCAL-TTY-READY\nwhile read l; do echo \"tty-got:$l\"; done\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut socat = Command::new("socat")
        .arg(format!("PTY,link={},raw,echo=0", pty.display()))
        .arg(format!("EXEC:{}", program.display()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_pty(&pty);
    let inventory = format!(
        "[[device]]\nname = \"srv7-console\"\nkind = \"serial\"\naddress = \"{}\"\n\
         serial = \"9600n81\"\nalways_on = true\n",
        pty.display()
    );
    let lab = Lab::start_with(LabOptions {
        inventory: Some(inventory),
        ..Default::default()
    });
    let admin = lab.user("carol", "carol,role:admin");
    let admin = lab.with_devices(&admin, &["srv7-console"]);
    let mut carol = Attached::start(&admin, "srv7-console");
    assert!(carol.wait_for("LOCAL-TTY-READY"), "{}", carol.text());
    carol.send(b"hello-tty\n");
    assert!(carol.wait_for("tty-got:hello-tty"), "{}", carol.text());
    carol.send(b"\x1db");
    assert!(carol.wait_for("[console: break sent]"), "{}", carol.text());
    // The device node goes away: the attached admin is told, the bastion keeps running.
    let _ = socat.kill();
    let _ = socat.wait();
    assert!(carol.wait_for("link down"), "{}", carol.text());
    carol.detach();
    let (list, _) = text(&lab.ssh(&admin, &["consoles"]));
    assert!(
        list.contains("srv7-console") && list.contains("down"),
        "{list}"
    );
}

#[test]
fn rfc2217_console_port_line_settings_input_and_break() {
    let server = console_server_at("telnet(rfc2217),tcp");
    let (lab, admin) = console_lab_for(
        "srv14-console",
        &format!(
            "address = \"rfc2217://127.0.0.1:{}\"\nserial = \"9600e72,rtscts\"",
            server.port
        ),
    );
    let mut carol = Attached::start(&admin, "srv14-console");
    assert!(
        carol.wait_for("LATE-PANIC while nobody watched"),
        "{}",
        carol.text()
    );
    // The console server set the device's serial line as the inventory asked (a pty
    // keeps only speed, stop bits and flow control: Linux forces cs8 without parity).
    let stty = Command::new("stty")
        .arg("-a")
        .arg("-F")
        .arg(&server.pty)
        .output()
        .unwrap();
    let stty = String::from_utf8_lossy(&stty.stdout);
    assert!(stty.contains("speed 9600 baud"), "{stty}");
    assert!(
        stty.contains(" cstopb") && stty.contains(" crtscts"),
        "{stty}"
    );
    // Keystrokes pass through the telnet layer unchanged.
    carol.send(b"hello-2217 \xc3\xa9\n");
    assert!(carol.wait_for("got:hello-2217 \u{e9}"), "{}", carol.text());

    // A break (Ctrl-] b) reaches the serial device: ser2net raises and clears it on the
    // tty, as strace attached to ser2net shows.
    let trace = server.dir.path().join("strace.log");
    let mut strace = Command::new("strace")
        .args(["-e", "trace=ioctl", "-o"])
        .arg(&trace)
        .arg("-p")
        .arg(server.ser2net.id().to_string())
        .stderr(Stdio::piped())
        .spawn()
        .expect("strace (scripts/test installs it)");
    let mut attached = String::new();
    let mut err = strace.stderr.take().unwrap();
    let mut byte = [0u8; 1];
    while !attached.contains("attached") && err.read(&mut byte).unwrap_or(0) == 1 {
        attached.push(byte[0] as char);
    }
    carol.send(b"\x1db");
    assert!(carol.wait_for("[console: break sent]"), "{}", carol.text());
    let log = common::wait_until("the break cleared on the tty", common::WAIT, || {
        let log = std::fs::read_to_string(&trace).unwrap_or_default();
        if log.contains("TIOCCBRK") {
            Ok(log)
        } else {
            Err(log)
        }
    });
    let _ = strace.kill();
    let _ = strace.wait();
    let on = log.find("TIOCSBRK");
    let off = log.find("TIOCCBRK");
    assert!(
        matches!((on, off), (Some(a), Some(b)) if a < b),
        "break not seen on the tty: {log}"
    );

    // Takeover: a second admin asks for the lock, then forces it; carol is told and demoted.
    let dave = lab.user("dave", "dave,role:admin");
    let dave = lab.with_devices(&dave, &["srv14-console"]);
    let mut dave = Attached::start(&dave, "srv14-console");
    assert!(dave.wait_for("read-only"), "{}", dave.text());
    assert!(carol.wait_for("dave joined"), "{}", carol.text());
    dave.send(b"\x1dt");
    assert!(
        dave.wait_for("carol is writing; asked them"),
        "{}",
        dave.text()
    );
    assert!(
        carol.wait_for("dave asks for write access"),
        "{}",
        carol.text()
    );
    dave.send(b"\x1dT");
    assert!(dave.wait_for("you took write access"), "{}", dave.text());
    assert!(
        carol.wait_for("dave took write access from you"),
        "{}",
        carol.text()
    );
    carol.send(b"carol-after-takeover\n");
    dave.send(b"dave-writes\n");
    assert!(carol.wait_for("got:dave-writes"), "{}", carol.text());
    assert!(!carol.text().contains("got:carol-after-takeover"));
    dave.detach();
    carol.detach();
}
