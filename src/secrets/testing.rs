//! Test support: a throwaway OpenBao dev server on a free loopback port.
//!
//! Used by this module's unit tests and by integration tests. The `bao` binary comes from
//! `$OOBGATE_BAO` or `target/peers/venv/bin/bao` under the crate root (installed by
//! `scripts/test` through `scripts/lib/openbao.sh`); a missing binary is a test failure,
//! not a skip. Not part of the supported API.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The dev server's fixed root token.
pub const ROOT_TOKEN: &str = "root";

/// A running `bao server -dev`, killed when dropped.
pub struct DevBao {
    /// Base address, e.g. `http://127.0.0.1:41234`.
    pub addr: String,
    /// Root token.
    pub token: String,
    child: Option<Child>,
    dir: PathBuf,
}

/// Where the `bao` binary is, or a panic telling how to install it.
pub fn bao_binary() -> PathBuf {
    let path = match std::env::var_os("OOBGATE_BAO") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/peers/venv/bin/bao"),
    };
    assert!(
        path.is_file(),
        "OpenBao binary not found at {}: run scripts/test (it installs it), or set OOBGATE_BAO",
        path.display()
    );
    path
}

impl DevBao {
    /// Starts a dev server on a free 127.0.0.1 port and waits until it is healthy.
    /// Panics with the server's log if it does not come up.
    pub fn start() -> DevBao {
        let binary = bao_binary();
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let dir =
                std::env::temp_dir().join(format!("oobgate-bao-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("create dev server dir");
            let log = std::fs::File::create(dir.join("bao.log")).expect("create log");
            let child = Command::new(&binary)
                .args([
                    "server",
                    "-dev",
                    "-dev-no-store-token",
                    &format!("-dev-root-token-id={ROOT_TOKEN}"),
                    &format!("-dev-listen-address=127.0.0.1:{port}"),
                ])
                .env("HOME", &dir)
                .env_remove("BAO_ADDR")
                .env_remove("VAULT_ADDR")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut bao = DevBao {
                addr: format!("http://127.0.0.1:{port}"),
                token: ROOT_TOKEN.to_owned(),
                child: Some(child),
                dir,
            };
            if bao.wait_healthy(port, Duration::from_secs(20)) {
                return bao;
            }
            last_log = std::fs::read_to_string(bao.dir.join("bao.log")).unwrap_or_default();
            bao.stop();
        }
        panic!("OpenBao dev server did not become healthy; last log:\n{last_log}");
    }

    /// Stops the server now (to test an unreachable Vault). Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A `vaultrs` client with the root token.
    pub fn root_client(&self) -> vaultrs::client::VaultClient {
        let settings = vaultrs::client::VaultClientSettingsBuilder::default()
            .address(&self.addr)
            .token(&self.token)
            .build()
            .expect("client settings");
        vaultrs::client::VaultClient::new(settings).expect("client")
    }

    /// Writes a KV v2 secret at `path` under the `secret/` mount.
    pub async fn put_secret(&self, path: &str, fields: &[(&str, &str)]) {
        let data: std::collections::BTreeMap<&str, &str> = fields.iter().copied().collect();
        vaultrs::kv2::set(&self.root_client(), "secret", path, &data)
            .await
            .unwrap_or_else(|e| panic!("write secret/{path}: {e}"));
    }

    /// Enables AppRole and makes role `oobgate` whose tokens may read `read_path` (a
    /// policy path such as `secret/data/devices/*`), with the given token TTLs (the
    /// server's defaults when `None`): (role id, secret id).
    pub async fn approle(
        &self,
        read_path: &str,
        token_ttl: Option<&str>,
        token_max_ttl: Option<&str>,
    ) -> (String, String) {
        use vaultrs::api::auth::approle::requests::SetAppRoleRequest;
        let root = self.root_client();
        vaultrs::sys::auth::enable(&root, "approle", "approle", None)
            .await
            .expect("enable approle");
        let policy = format!("path \"{read_path}\" {{ capabilities = [\"read\"] }}");
        vaultrs::sys::policy::set(&root, "oobgate-read", &policy)
            .await
            .expect("set policy");
        let mut role = SetAppRoleRequest::builder();
        role.token_policies(vec!["oobgate-read".to_owned()]);
        if let Some(ttl) = token_ttl {
            role.token_ttl(ttl);
        }
        if let Some(max) = token_max_ttl {
            role.token_max_ttl(max);
        }
        vaultrs::auth::approle::role::set(&root, "approle", "oobgate", Some(&mut role))
            .await
            .expect("set role");
        let role_id = vaultrs::auth::approle::role::read_id(&root, "approle", "oobgate")
            .await
            .expect("role id")
            .role_id;
        let secret_id =
            vaultrs::auth::approle::role::secret::generate(&root, "approle", "oobgate", None)
                .await
                .expect("secret id")
                .secret_id;
        (role_id, secret_id)
    }

    /// Deletes a KV v2 secret with all its versions.
    pub async fn delete_secret(&self, path: &str) {
        vaultrs::kv2::delete_metadata(&self.root_client(), "secret", path)
            .await
            .unwrap_or_else(|e| panic!("delete secret/{path}: {e}"));
    }

    fn wait_healthy(&mut self, port: u16, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
            }
            // Healthy, and the dev server's KV v2 mount done with its upgrade (writes to
            // it fail for a moment after the server first answers).
            if answers_200(port, "/v1/sys/health") && answers_200(port, "/v1/secret/config") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for DevBao {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// `GET PATH` with the root token answered 200.
fn answers_200(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Vault-Token: {ROOT_TOKEN}\r\n\
         Connection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}
