//! `[recording.s3]`: the S3-compatible bucket recordings are shipped to when several nodes
//! share the state, and the credentials to reach it (from a file or the environment,
//! never from the config file itself).

use std::path::{Path, PathBuf};
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{ClientOptions, RetryConfig};
use serde::Deserialize;

use super::super::{Result, StoreError};

/// Where recordings go, and how often a running session's recording is shipped.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The service's URL, `https://host[:port]` (or `http://` on a trusted network).
    pub endpoint: String,
    /// The bucket (it must exist).
    pub bucket: String,
    /// A key prefix inside the bucket, e.g. `oobgate/`; default none.
    #[serde(default)]
    pub prefix: String,
    /// The region the service expects in signatures; default `us-east-1`.
    #[serde(default = "default_region")]
    pub region: String,
    /// A TOML file with `access_key_id` and `secret_access_key` (and optionally
    /// `session_token`), readable by the bastion only. Without it the keys come from
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    pub credentials_file: Option<PathBuf>,
    /// A running session's new bytes are shipped once they reach this size...
    #[serde(default = "default_part_size")]
    pub part_size: u64,
    /// ...or this long after the previous part, whichever comes first. Default 5s.
    #[serde(default = "default_part_interval", with = "humantime_serde")]
    pub part_interval: Duration,
    /// Keep the local spool copy once the object store confirmed a recording (default:
    /// delete it then, never before).
    #[serde(default)]
    pub keep_local: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}
fn default_part_size() -> u64 {
    8 << 20
}
fn default_part_interval() -> Duration {
    Duration::from_secs(5)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl S3Config {
    /// Checks the settings, with `credentials_file` made absolute against `base`; the error
    /// names the key.
    pub fn resolve(mut self, base: &Path) -> std::result::Result<S3Config, (String, String)> {
        let key = |k: &str| format!("recording.s3.{k}");
        let url = url::Url::parse(&self.endpoint).map_err(|e| (key("endpoint"), e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err((
                key("endpoint"),
                "is not an http(s)://host[:port] URL".into(),
            ));
        }
        let bucket_ok = (3..=63).contains(&self.bucket.len())
            && self
                .bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b));
        if !bucket_ok {
            return Err((
                key("bucket"),
                format!(
                    "{:?} is not a bucket name (3-63 of a-z 0-9 . -)",
                    self.bucket
                ),
            ));
        }
        if self.prefix.split('/').any(|p| p == "..") {
            return Err((key("prefix"), "may not contain \"..\"".into()));
        }
        if self.part_size < 64 << 10 {
            return Err((key("part_size"), "must be at least 64 KiB".into()));
        }
        if self.part_interval < Duration::from_millis(200) {
            return Err((key("part_interval"), "must be at least 200ms".into()));
        }
        self.credentials_file = self.credentials_file.as_deref().map(|p| base.join(p));
        if let Some(p) = &self.credentials_file {
            read_credentials(p).map_err(|e| (key("credentials_file"), e))?;
        }
        Ok(self)
    }

    /// The key prefix, empty or ending in one `/`.
    pub(super) fn key_prefix(&self) -> String {
        let p = self.prefix.trim_matches('/');
        if p.is_empty() {
            String::new()
        } else {
            format!("{p}/")
        }
    }

    /// A client for the bucket. Requests are retried briefly; a service that stays down
    /// fails the request, and the spool keeps what was not shipped.
    pub(super) fn client(&self) -> Result<AmazonS3> {
        // The HTTP client's TLS takes the process's default provider (the one rustls
        // already uses here); installing it again is a no-op.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let creds = match &self.credentials_file {
            Some(p) => {
                read_credentials(p).map_err(|e| s3_error("recording.s3.credentials_file", e))?
            }
            None => from_env()?,
        };
        let mut b = AmazonS3Builder::new()
            .with_endpoint(self.endpoint.trim_end_matches('/'))
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_access_key_id(creds.access_key_id)
            .with_secret_access_key(creds.secret_access_key)
            .with_virtual_hosted_style_request(false)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(10),
                ..Default::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(60)),
            )
            // After the client options, which would reset it.
            .with_allow_http(self.endpoint.starts_with("http://"));
        if let Some(t) = creds.session_token {
            b = b.with_token(t);
        }
        b.build()
            .map_err(|e| s3_error("recording.s3", e.to_string()))
    }
}

fn s3_error(what: &str, why: String) -> StoreError {
    StoreError::Refused(format!("{what}: {why}"))
}

fn from_env() -> Result<Credentials> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
            access_key_id,
            secret_access_key,
            session_token: get("AWS_SESSION_TOKEN"),
        }),
        _ => Err(s3_error(
            "recording.s3",
            "no credentials: set credentials_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                .into(),
        )),
    }
}

/// Reads the credentials file; it must be readable by its owner only, like a private key.
fn read_credentials(path: &Path) -> std::result::Result<Credentials, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // The parse error is not shown: it could quote a key.
    toml::from_str(&text).map_err(|_| {
        format!(
            "{} is not a TOML file with access_key_id and secret_access_key",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> std::result::Result<S3Config, (String, String)> {
        let text = format!("endpoint = \"http://127.0.0.1:9000\"\nbucket = \"recs\"\n{extra}");
        toml::from_str::<S3Config>(&text)
            .expect("parses")
            .resolve(Path::new("/"))
    }

    #[test]
    fn bad_settings_name_their_key() {
        assert_eq!(
            parse("part_size = 10").unwrap_err().0,
            "recording.s3.part_size"
        );
        assert_eq!(
            parse("prefix = \"a/../b\"").unwrap_err().0,
            "recording.s3.prefix"
        );
        let e = toml::from_str::<S3Config>("endpoint = \"ftp://x\"\nbucket = \"recs\"")
            .unwrap()
            .resolve(Path::new("/"))
            .unwrap_err();
        assert_eq!(e.0, "recording.s3.endpoint");
        let e = toml::from_str::<S3Config>("endpoint = \"http://x\"\nbucket = \"No_Caps\"")
            .unwrap()
            .resolve(Path::new("/"))
            .unwrap_err();
        assert_eq!(e.0, "recording.s3.bucket");
    }

    #[test]
    fn a_credentials_file_others_can_read_is_refused_and_its_secret_never_shown() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s3.toml");
        std::fs::write(
            &p,
            "access_key_id = \"AK\"\nsecret_access_key = \"S3CRET\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = parse(&format!("credentials_file = \"{}\"", p.display())).unwrap_err();
        assert!(e.1.contains("readable by others"), "{e:?}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ok = parse(&format!("credentials_file = \"{}\"", p.display())).unwrap();
        assert!(ok.client().is_ok());
        assert!(!format!("{ok:?}").contains("S3CRET"));
        std::fs::write(&p, "secret_access_key = \"S3CRET\"\nbogus = 1\n").unwrap();
        let e = parse(&format!("credentials_file = \"{}\"", p.display())).unwrap_err();
        assert!(
            e.1.contains("not a TOML file") && !e.1.contains("S3CRET"),
            "{e:?}"
        );
        assert_eq!(parse("prefix = \"/x/y/\"").unwrap().key_prefix(), "x/y/");
    }
}
