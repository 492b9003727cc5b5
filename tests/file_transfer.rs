//! File transfer through the bastion: the real `sftp` and `scp` clients (`-J`, OpenSSH 9's
//! scp speaks SFTP) against a real sshd as the device, under the `file.upload` and
//! `file.download` policy actions.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{text, Lab, LabOptions};
use oobgate::connect::testing::{SshdOptions, TestSshd, TEST_PASSWORD, TEST_USER};

const POLICY: &str = "p, role:admin, *, *, allow\n\
                      p, role:netops, site:ams1 & type:switch, connect, allow\n\
                      p, role:reader, sw1, connect, allow\n\
                      p, role:reader, sw1, file.download, allow\n\
                      p, role:uploader, sw1, connect, allow\n\
                      p, role:uploader, sw1, file.upload, allow\n\
                      p, role:paths, sw1, connect, allow\n\
                      p, role:paths, sw1, file.download:REMOTE/pub, allow\n\
                      p, role:paths, sw1, file.download:REMOTE/pub/private, deny\n\
                      p, role:paths, sw1, file.upload:REMOTE/pub/in, allow\n";

struct TransferLab {
    lab: Lab,
    /// alice: role admin, every action.
    admin: PathBuf,
    /// bob: role netops, `connect` only.
    netops: PathBuf,
    /// carol: role reader, `file.download` only.
    reader: PathBuf,
    /// A folder on the device both sides can write.
    remote: tempfile::TempDir,
    _sshd: TestSshd,
    _creds: tempfile::TempDir,
}

fn transfer_lab() -> TransferLab {
    transfer_lab_with("")
}

fn transfer_lab_with(limits: &str) -> TransferLab {
    let remote = tempfile::tempdir().unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o777);
    std::fs::set_permissions(remote.path(), mode).unwrap();
    let sshd = TestSshd::start(SshdOptions {
        password: true,
        ..Default::default()
    })
    .expect("sshd");
    let (creds, file) = common::credentials_file("devices/sw1", TEST_USER, TEST_PASSWORD);
    let inventory = format!(
        "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"{}\"\n\
         labels = {{ site = \"ams1\", type = \"switch\" }}\ncredential = \"devices/sw1\"\n",
        sshd.address()
    );
    let lab = Lab::start_with(LabOptions {
        inventory: Some(inventory),
        policy: Some(POLICY.replace("REMOTE", remote.path().to_str().unwrap())),
        extra: format!("[secrets]\nlocal_file = \"{}\"\n", file.display()),
        limits: limits.to_string(),
        ..Default::default()
    });
    let admin = lab.user("alice", "alice,role:admin");
    let admin = lab.with_devices(&admin, &["sw1"]);
    let netops = lab.user("bob", "bob,role:netops");
    let netops = lab.with_devices(&netops, &["sw1"]);
    let reader = lab.user("carol", "carol,role:reader");
    let reader = lab.with_devices(&reader, &["sw1"]);
    TransferLab {
        lab,
        admin,
        netops,
        reader,
        remote,
        _sshd: sshd,
        _creds: creds,
    }
}

/// Pseudo-random bytes (not compressible, every byte value).
fn payload(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// `sha256sum FILE`.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Waits for the `kind` audit event of the file `path` (its OPEN), returning its detail.
fn file_event(lab: &Lab, kind: &str, path: &Path) -> serde_json::Value {
    op_event(lab, kind, "open", path)
}

/// Waits for the `kind` audit event of request `op` on `path`, returning its detail.
fn op_event(lab: &Lab, kind: &str, op: &str, path: &Path) -> serde_json::Value {
    let path = path.to_str().unwrap().to_string();
    lab.wait_event(kind, |e| {
        e.kind == kind && e.detail["path"] == path && e.detail["op"] == op
    })
    .detail
}

fn scp(cfg: &Path, from: &str, to: &str) -> Output {
    Command::new("scp")
        .arg("-F")
        .arg(cfg)
        .args([from, to])
        .stdin(Stdio::null())
        .output()
        .expect("scp")
}

fn sftp_batch(cfg: &Path, batch: &str) -> Output {
    let mut child = Command::new("sftp")
        .arg("-F")
        .arg(cfg)
        .args(["-b", "-", "sw1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sftp");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(batch.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn scp_and_sftp_move_files_byte_for_byte() {
    let t = transfer_lab();
    let local = t.lab.root().join("up.bin");
    let data = payload(3 << 20);
    std::fs::write(&local, &data).unwrap();
    let remote = t.remote.path().join("up.bin");
    let out = scp(
        &t.admin,
        local.to_str().unwrap(),
        &format!("sw1:{}", remote.display()),
    );
    assert!(out.status.success(), "scp upload: {:?}", text(&out));
    assert_eq!(std::fs::read(&remote).unwrap(), data, "uploaded bytes");

    let back = t.lab.root().join("back.bin");
    let batch = format!("get {} {}\n", remote.display(), back.display());
    let out = sftp_batch(&t.admin, &batch);
    assert!(out.status.success(), "sftp download: {:?}", text(&out));
    assert_eq!(std::fs::read(&back).unwrap(), data, "downloaded bytes");

    let sum = sha256sum(&local);
    for kind in ["file.upload", "file.download"] {
        let d = file_event(&t.lab, kind, &remote);
        assert_eq!(d["result"], "ok", "{kind}: {d}");
        assert_eq!(d["bytes"], data.len() as u64, "{kind}: {d}");
        assert_eq!(d["sha256"], sum, "{kind}: {d}");
        // The session's recording marks the file, and holds none of its bytes.
        let session = d["session"].as_str().unwrap();
        let rec_path = t.lab.config.recording_dir.join(format!("{session}.cast"));
        let rec = common::wait_until("the recording sealed", common::WAIT, || {
            oobgate::recording::Recording::open(&rec_path).map_err(|e| e.to_string())
        });
        let marker = format!("{kind} {}: {} bytes, ok", remote.display(), data.len());
        assert!(
            rec.events
                .iter()
                .any(|e| e.code == 'm' && e.data == marker.as_bytes()),
            "no marker {marker:?} in {}",
            rec_path.display()
        );
        assert!(rec.events.iter().all(|e| e.code == 'm'), "bytes were taped");
    }
}

#[test]
fn an_upload_without_file_upload_is_refused_at_open() {
    let t = transfer_lab();
    let local = t.lab.root().join("up.bin");
    std::fs::write(&local, b"config\n").unwrap();
    let remote = t.remote.path().join("up.bin");
    let out = scp(
        &t.reader,
        local.to_str().unwrap(),
        &format!("sw1:{}", remote.display()),
    );
    assert!(!out.status.success(), "upload by a reader succeeded");
    assert!(!remote.exists(), "the file reached the device");
    let d = file_event(&t.lab, "file.upload", &remote);
    assert_eq!(d["result"], "refused", "{d}");
    assert!(d["reason"].as_str().unwrap().contains("file.upload"), "{d}");
    // Downloads are allowed to the same user.
    std::fs::write(&remote, b"on the device\n").unwrap();
    let back = t.lab.root().join("back.bin");
    let out = scp(
        &t.reader,
        &format!("sw1:{}", remote.display()),
        back.to_str().unwrap(),
    );
    assert!(out.status.success(), "download: {:?}", text(&out));
    assert_eq!(std::fs::read(&back).unwrap(), b"on the device\n");
}

#[test]
fn an_upload_over_max_transfer_is_cut_and_audited_refused() {
    let t = transfer_lab_with("max_transfer = 1048576");
    let local = t.lab.root().join("big.bin");
    std::fs::write(&local, payload(3 << 20)).unwrap();
    let remote = t.remote.path().join("big.bin");
    let out = scp(
        &t.admin,
        local.to_str().unwrap(),
        &format!("sw1:{}", remote.display()),
    );
    assert!(!out.status.success(), "an upload over the cap succeeded");
    let d = file_event(&t.lab, "file.upload", &remote);
    assert_eq!(d["result"], "refused", "{d}");
    assert!(
        d["reason"].as_str().unwrap().contains("max_transfer"),
        "{d}"
    );
    assert!(d["bytes"].as_u64().unwrap() <= 1 << 20, "{d}");
    let on_device = std::fs::metadata(&remote).map(|m| m.len()).unwrap_or(0);
    assert!(on_device <= 1 << 20, "{on_device} bytes reached the device");
}

#[test]
fn an_upload_whose_client_is_killed_is_audited_interrupted() {
    let t = transfer_lab();
    let local = t.lab.root().join("huge.bin");
    std::fs::write(&local, payload(256 << 20)).unwrap();
    let remote = t.remote.path().join("huge.bin");
    let mut child = Command::new("scp")
        .arg("-F")
        .arg(&t.admin)
        .arg(&local)
        .arg(format!("sw1:{}", remote.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::wait_for_condition(
        "the upload under way",
        std::time::Duration::from_secs(20),
        || std::fs::metadata(&remote).is_ok_and(|m| m.len() > 0),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let d = file_event(&t.lab, "file.upload", &remote);
    assert_eq!(d["result"], "interrupted", "{d}");
    assert!(d["bytes"].as_u64().unwrap() < 256 << 20, "{d}");
}

#[test]
fn transfer_without_file_actions_is_refused_with_the_reason() {
    let t = transfer_lab();
    let local = t.lab.root().join("up.bin");
    std::fs::write(&local, b"config\n").unwrap();
    let remote = t.remote.path().join("up.bin");
    let out = scp(
        &t.netops,
        local.to_str().unwrap(),
        &format!("sw1:{}", remote.display()),
    );
    let (_, err) = text(&out);
    assert!(!out.status.success(), "scp by netops succeeded");
    assert!(
        err.contains("file transfer with sw1 denied") && err.contains("file.upload"),
        "{err}"
    );
    assert!(!remote.exists(), "the file reached the device");
    // The same user's shell session still works: only transfer is refused.
    let out = t.lab.ssh_to(&t.netops, "sw1", &["echo", "still-here"]);
    assert!(text(&out).0.contains("still-here"), "{:?}", text(&out));
}

#[test]
fn legacy_scp_is_refused_naming_it() {
    let t = transfer_lab();
    let local = t.lab.root().join("up.bin");
    std::fs::write(&local, b"config\n").unwrap();
    let remote = t.remote.path().join("legacy.bin");
    let out = Command::new("scp")
        .arg("-O")
        .arg("-F")
        .arg(&t.admin)
        .arg(&local)
        .arg(format!("sw1:{}", remote.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (o, e) = text(&out);
    assert!(!out.status.success(), "scp -O succeeded");
    assert!(format!("{o}{e}").contains("scp -O"), "{o} {e}");
    assert!(!remote.exists(), "the file reached the device");
}

#[test]
fn sftp_to_the_bastion_itself_is_refused_naming_the_subsystem() {
    let t = transfer_lab();
    let out = Command::new("sftp")
        .arg("-F")
        .arg(&t.admin)
        .args(["-b", "/dev/null", "bastion"])
        .stdin(Stdio::null())
        .output()
        .expect("sftp");
    let (o, e) = text(&out);
    assert!(!out.status.success(), "sftp to the bastion succeeded");
    assert!(
        e.contains("the bastion offers no \"sftp\" subsystem"),
        "{o} {e}"
    );
}

#[test]
fn a_download_without_file_download_is_refused_at_open() {
    let t = transfer_lab();
    let cfg = t.lab.user("dave", "dave,role:uploader");
    let cfg = t.lab.with_devices(&cfg, &["sw1"]);
    let remote = t.remote.path().join("secret.cfg");
    std::fs::write(&remote, b"enable secret\n").unwrap();
    let back = t.lab.root().join("secret.cfg");
    let out = scp(
        &cfg,
        &format!("sw1:{}", remote.display()),
        back.to_str().unwrap(),
    );
    assert!(!out.status.success(), "download by an uploader succeeded");
    assert!(
        std::fs::read(&back).map_or(true, |b| b.is_empty()),
        "the file's bytes came back"
    );
    let d = file_event(&t.lab, "file.download", &remote);
    assert_eq!(d["result"], "refused", "{d}");
    assert!(
        d["reason"].as_str().unwrap().contains("file.download"),
        "{d}"
    );
}

/// The device's folder for the path tests: `pub/` (downloads), `pub/in/` (uploads),
/// `pub/private/` (denied), a secret beside `pub/`, and a link to it inside.
fn path_tree(r: &Path) {
    // Every folder writable by the device's user: what is refused, the bastion refused.
    for dir in ["pub", "pub/private", "pub/in"] {
        std::fs::create_dir_all(r.join(dir)).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o777);
        std::fs::set_permissions(r.join(dir), mode).unwrap();
    }
    std::fs::write(r.join("secret.cfg"), b"enable secret\n").unwrap();
    std::fs::write(r.join("pub/readme.txt"), b"public\n").unwrap();
    std::fs::write(r.join("pub/private/key.txt"), b"key\n").unwrap();
    std::os::unix::fs::symlink(r.join("secret.cfg"), r.join("pub/link.cfg")).unwrap();
}

/// One sftp session trying every way around the path rules, and two allowed transfers.
fn path_batch(r: &Path, local: &Path) -> String {
    // `-` lets sftp go on after a failed command: the same session does everything.
    let (r_, l) = (r.display(), local.display());
    format!(
        "-get {r_}/secret.cfg {l}/secret.cfg\n\
         -get {r_}/pub/../secret.cfg {l}/sneaky.cfg\n\
         -get {r_}/pub/link.cfg {l}/link.cfg\n\
         -get {r_}/pub/private/key.txt {l}/key.txt\n\
         get {r_}/pub/readme.txt {l}/readme.txt\n\
         -rm {r_}/pub/readme.txt\n\
         -put {l}/up.txt {r_}/pub/up.txt\n\
         put {l}/up.txt {r_}/pub/in/up.txt\n\
         -rename {r_}/pub/in/up.txt {r_}/pub/moved.txt\n\
         -mkdir {r_}/pub/newdir\n\
         rename {r_}/pub/in/up.txt {r_}/pub/in/final.txt\n\
         mkdir {r_}/pub/in/newdir\n\
         cd {r_}/pub/in\n\
         -get ../../secret.cfg {l}/relative.cfg\n\
         -ls {r_}\n\
         ls {r_}/pub\n"
    )
}

/// Each refusal is audited with the path as the device resolved it.
fn assert_path_refusals_audited(lab: &Lab, r: &Path) {
    let refused = |kind: &str, op: &str, path: &Path| {
        let d = op_event(lab, kind, op, path);
        assert_eq!(
            d["result"],
            "refused",
            "{kind} {op} {}: {d}",
            path.display()
        );
        d["reason"].as_str().unwrap().to_string()
    };
    refused("file.download", "opendir", r);
    let why = refused("file.download", "open", &r.join("secret.cfg"));
    assert!(why.contains("no rule allows"), "{why}");
    let why = refused("file.download", "open", &r.join("pub/private/key.txt"));
    assert!(why.contains("deny"), "{why}");
    refused("file.upload", "remove", &r.join("pub/readme.txt"));
    refused("file.upload", "open", &r.join("pub/up.txt"));
    refused("file.upload", "rename", &r.join("pub/moved.txt"));
    refused("file.upload", "mkdir", &r.join("pub/newdir"));
    // Allowed changes are audited too, with what the device answered.
    let d = file_event(lab, "file.upload", &r.join("pub/in/up.txt"));
    assert_eq!(d["result"], "ok", "{d}");
    let d = op_event(lab, "file.upload", "rename", &r.join("pub/in/up.txt"));
    assert_eq!(d["result"], "ok", "{d}");
    assert_eq!(d["to"], r.join("pub/in/final.txt").to_str().unwrap(), "{d}");
    let d = op_event(lab, "file.upload", "mkdir", &r.join("pub/in/newdir"));
    assert_eq!(d["result"], "ok", "{d}");
    let d = file_event(lab, "file.download", &r.join("pub/readme.txt"));
    assert_eq!(
        (d["result"].as_str(), d["bytes"].as_u64()),
        (Some("ok"), Some(7))
    );
}

#[test]
fn paths_policy_does_not_allow_are_refused_on_every_operation_and_the_session_goes_on() {
    let t = transfer_lab();
    let r = t.remote.path();
    path_tree(r);
    let cfg = t.lab.user("erin", "erin,role:paths");
    let cfg = t.lab.with_devices(&cfg, &["sw1"]);
    let local = t.lab.root();
    std::fs::write(local.join("up.txt"), b"new config\n").unwrap();
    let batch = path_batch(r, local);
    let r_ = r.display();
    let out = sftp_batch(&cfg, &batch);
    let (o, e) = text(&out);
    assert!(out.status.success(), "sftp: {o}\n{e}");
    for name in [
        "secret.cfg",
        "sneaky.cfg",
        "link.cfg",
        "key.txt",
        "relative.cfg",
    ] {
        assert!(!local.join(name).exists(), "{name} came back: {o}\n{e}");
    }
    assert_eq!(
        std::fs::read(local.join("readme.txt")).unwrap(),
        b"public\n"
    );
    for line in [
        format!("remote open \"{r_}/secret.cfg\": Permission denied"),
        format!("remote open \"{r_}/pub/../secret.cfg\": Permission denied"),
        format!("remote open \"{r_}/pub/link.cfg\": Permission denied"),
        format!("remote open \"{r_}/pub/private/key.txt\": Permission denied"),
        format!("remote delete {r_}/pub/readme.txt: Permission denied"),
        format!("dest open \"{r_}/pub/up.txt\": Permission denied"),
        format!("remote mkdir \"{r_}/pub/newdir\": Permission denied"),
    ] {
        assert!(e.contains(&line), "the client was not told {line:?}:\n{e}");
    }
    // The session went on: the listing after the refusals came.
    let listed = format!("{r_}/pub/private");
    assert!(o.split_whitespace().any(|w| w == listed), "{o}");
    assert!(
        r.join("pub/readme.txt").exists(),
        "a download-only path was removed"
    );
    assert!(
        !r.join("pub/up.txt").exists(),
        "an upload outside pub/in reached the device"
    );
    assert_eq!(
        std::fs::read(r.join("pub/in/final.txt")).unwrap(),
        b"new config\n"
    );
    assert!(!r.join("pub/moved.txt").exists(), "a rename left pub/in");
    assert!(!r.join("pub/newdir").exists(), "mkdir outside pub/in");

    assert_path_refusals_audited(&t.lab, r);

    // scp is refused the same way.
    let back = local.join("scp-secret.cfg");
    let out = scp(
        &cfg,
        &format!("sw1:{r_}/pub/../secret.cfg"),
        back.to_str().unwrap(),
    );
    assert!(!out.status.success(), "scp of a refused path succeeded");
    assert!(!back.exists() || std::fs::read(&back).unwrap().is_empty());
}
