//! Virtual media: finding the BMC's CD/DVD device (under the system's manager, then under
//! the system itself, as newer BMCs place it), inserting and ejecting an image, and the
//! URL allow-list check the caller applies before any insert.

use reqwest::Method;
use serde_json::json;
use url::Url;

use super::client::Client;
use super::model::{Manager, VirtualMedia};
use super::system::System;
use super::Result;

/// What a virtual CD/DVD holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaStatus {
    /// The device's `Id` (`Cd`, `CD1`...).
    pub id: String,
    /// The image URL, when one is inserted.
    pub image: Option<String>,
    /// Whether an image is inserted.
    pub inserted: bool,
    /// Whether it is read-only.
    pub write_protected: Option<bool>,
}

/// Whether `url` lies under one of `prefixes` (`https://files.lab/iso/`): same scheme,
/// host and port, and a path under the prefix's path at a `/` boundary, compared after
/// URL normalisation (so `..` and `%2e%2e` cannot climb out, and `https://files.lab.evil`
/// does not match `https://files.lab`). URLs with credentials in them are refused.
pub fn media_url_allowed(url: &str, prefixes: &[String]) -> bool {
    let Ok(u) = Url::parse(url) else {
        return false;
    };
    if !u.username().is_empty() || u.password().is_some() || u.host_str().is_none() {
        return false;
    }
    prefixes.iter().any(|p| {
        let Ok(p) = Url::parse(p) else { return false };
        if p.scheme() != u.scheme()
            || p.host_str() != u.host_str()
            || p.port_or_known_default() != u.port_or_known_default()
        {
            return false;
        }
        let dir = p.path();
        let path = u.path();
        if dir.ends_with('/') {
            path.starts_with(dir)
        } else {
            path == dir || path.starts_with(&format!("{dir}/"))
        }
    })
}

impl Client {
    /// The CD/DVD virtual media device for `sys`: its path and state.
    async fn cd_media(&self, sys: &System) -> Result<(String, VirtualMedia)> {
        let mut collections = Vec::new();
        for m in self.managers_of(sys).await? {
            let mgr: Manager = self.t.get(&m, "Manager").await?;
            collections.extend(mgr.virtual_media.map(|l| l.id));
        }
        collections.extend(sys.media.clone());
        for c in collections {
            for path in self.members(&c).await? {
                let vm: VirtualMedia = self.t.get(&path, "VirtualMedia").await?;
                if vm
                    .media_types
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case("CD") || t.eq_ignore_ascii_case("DVD"))
                {
                    return Ok((path, vm));
                }
            }
        }
        Err(self.unsupported(&format!(
            "no CD/DVD virtual media device for system {}",
            sys.id
        )))
    }

    /// What the CD/DVD of `sys` holds.
    pub async fn media_status(&self, sys: &System) -> Result<MediaStatus> {
        let (_, vm) = self.cd_media(sys).await?;
        Ok(status_of(vm))
    }

    /// Inserts the image at `url` (read-only) into the CD/DVD of `sys`. The caller checks
    /// `url` against the allow-list with [`media_url_allowed`] first.
    pub async fn media_insert(&self, sys: &System, url: &str) -> Result<()> {
        let (path, vm) = self.cd_media(sys).await?;
        let insert = vm.actions.and_then(|a| a.insert).map(|a| a.target);
        let body = json!({ "Image": url, "Inserted": true, "WriteProtected": true });
        match insert {
            Some(target) => self.t.send(Method::POST, &target, Some(&body)).await?,
            None => self.t.send(Method::PATCH, &path, Some(&body)).await?,
        };
        Ok(())
    }

    /// Ejects whatever the CD/DVD of `sys` holds.
    pub async fn media_eject(&self, sys: &System) -> Result<()> {
        let (path, vm) = self.cd_media(sys).await?;
        match vm.actions.and_then(|a| a.eject).map(|a| a.target) {
            Some(target) => self.t.send(Method::POST, &target, Some(&json!({}))).await?,
            None => {
                let body = json!({ "Image": null, "Inserted": false });
                self.t.send(Method::PATCH, &path, Some(&body)).await?
            }
        };
        Ok(())
    }
}

fn status_of(vm: VirtualMedia) -> MediaStatus {
    let image = vm.image.filter(|i| !i.is_empty());
    MediaStatus {
        id: vm.id,
        inserted: vm.inserted.unwrap_or(image.is_some()),
        image,
        write_protected: vm.write_protected,
    }
}
