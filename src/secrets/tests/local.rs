//! `LocalStore` against real files: permission checks, lookups, reload.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::assert_no_values;
use crate::secrets::{LocalStore, SecretStore, SecretsError};

const PASSWORD: &str = "L0cal-Sw1-pw";

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn sample() -> String {
    format!("[credentials.\"devices/sw1\"]\nusername = \"admin\"\npassword = \"{PASSWORD}\"\n")
}

#[test]
fn mode_0644_is_refused_with_chmod_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.toml");
    write(&path, &sample(), 0o644);
    let err = LocalStore::open(&path).unwrap_err();
    assert!(
        matches!(err, SecretsError::InsecurePermissions { mode: 0o644, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("0644"), "{text}");
    assert!(
        text.contains(&format!("chmod 600 {}", path.display())),
        "{text}"
    );
    assert_no_values(&err, &[PASSWORD]);
}

#[tokio::test]
async fn mode_0600_is_accepted_and_reloaded_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.toml");
    write(&path, &sample(), 0o600);
    let store = LocalStore::open(&path).unwrap();
    assert!(store.describe().contains("credentials.toml"));

    let credential = store.credential("devices/sw1").await.unwrap();
    assert_eq!(credential.username.as_deref(), Some("admin"));
    assert_eq!(credential.password.as_ref().unwrap().expose(), PASSWORD);
    assert!(!format!("{credential:?}").contains(PASSWORD));

    let err = store.credential("devices/sw9").await.unwrap_err();
    assert_eq!(err.to_string(), "no secret at devices/sw9");

    // An edit (here an atomic replace) is picked up without reopening.
    let replacement = dir.path().join("new.toml");
    write(
        &replacement,
        "[credentials.\"devices/sw9\"]\npassword = \"n3w-pw\"\n",
        0o400,
    );
    std::fs::rename(&replacement, &path).unwrap();
    let credential = store.credential("devices/sw9").await.unwrap();
    assert_eq!(credential.password.unwrap().expose(), "n3w-pw");
    assert!(matches!(
        store.credential("devices/sw1").await,
        Err(SecretsError::NotFound { .. })
    ));

    // Loosening the mode later stops the store from serving anything.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = store.credential("devices/sw9").await.unwrap_err();
    assert!(
        matches!(err, SecretsError::InsecurePermissions { .. }),
        "{err:?}"
    );
    assert_no_values(&err, &["n3w-pw"]);
}

#[test]
fn missing_file_and_bad_entry_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let err = LocalStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("absent.toml"), "{err}");

    let path = dir.path().join("bad.toml");
    write(
        &path,
        "[credentials.\"devices/sw1\"]\nusername = \"admin\"\n",
        0o600,
    );
    let err = LocalStore::open(&path).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("bad.toml") && text.contains("devices/sw1"),
        "{text}"
    );
}

#[test]
fn directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = LocalStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, SecretsError::Parse { .. } | SecretsError::Io { .. }),
        "{err:?}"
    );
}
