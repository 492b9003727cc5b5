//! The `[media]` section: the URL prefixes virtual media and firmware images may come
//! from. Without it nothing may be inserted or flashed (an admin must not mount an
//! arbitrary image).

use serde::Deserialize;

/// Settings of virtual media and firmware images (`[media]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// URL prefixes (`https://files.lab/iso/`) an image URL must lie under.
    #[serde(default)]
    pub allowed_urls: Vec<String>,
}

impl MediaConfig {
    /// Checks every prefix: an `http://` or `https://` URL with a host and without
    /// credentials. The error names the key and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (i, p) in self.allowed_urls.iter().enumerate() {
            let key = format!("media.allowed_urls[{i}]");
            let u = url::Url::parse(p).map_err(|e| (key.clone(), format!("{p:?}: {e}")))?;
            if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
                return Err((key, format!("{p:?} is not an http:// or https:// URL")));
            }
            if !u.username().is_empty() || u.password().is_some() {
                return Err((key, format!("{p:?} carries credentials")));
            }
        }
        Ok(())
    }

    /// `Ok` when `url` lies under an allowed prefix, else the refusal naming them.
    pub fn check(&self, url: &str) -> Result<(), String> {
        if crate::redfish::media_url_allowed(url, &self.allowed_urls) {
            return Ok(());
        }
        Err(if self.allowed_urls.is_empty() {
            format!("{url} refused: no image URLs are allowed (set media.allowed_urls)")
        } else {
            format!(
                "{url} refused: image URLs must lie under one of media.allowed_urls: {}",
                self.allowed_urls.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_outside_the_prefixes_are_refused_naming_them() {
        let m = MediaConfig {
            allowed_urls: vec!["https://files.lab/iso/".into()],
        };
        assert!(m.validate().is_ok());
        assert!(m.check("https://files.lab/iso/rescue.iso").is_ok());
        let e = m.check("https://evil.example/iso/x.iso").unwrap_err();
        assert!(e.contains("https://files.lab/iso/"), "{e}");
        let e = MediaConfig::default()
            .check("https://files.lab/iso/x")
            .unwrap_err();
        assert!(e.contains("set media.allowed_urls"), "{e}");
        let bad = MediaConfig {
            allowed_urls: vec!["ftp://files.lab/".into()],
        };
        assert_eq!(bad.validate().unwrap_err().0, "media.allowed_urls[0]");
    }
}
