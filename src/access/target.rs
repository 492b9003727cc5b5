//! What an access request is for: one device, a label selector, or a role.

use std::fmt;

use super::{AccessError, Result};
use crate::inventory::{Device, Inventory};

/// The target of an access request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessTarget {
    /// One inventory device by name.
    Device(String),
    /// Every device whose labels (or `kind`, or `name`) match all `key=value` pairs.
    Selector(Vec<(String, String)>),
    /// A role (`role:NAME`) added to the user's roles while the grant lasts.
    Role(String),
}

impl AccessTarget {
    /// Parses `sw1`, `site=ams1,kind=switch` or `role:netops`; a device must exist and a
    /// selector must match at least one device.
    pub fn parse(s: &str, inventory: &Inventory) -> Result<AccessTarget> {
        let target = Self::parse_unchecked(s)?;
        match &target {
            AccessTarget::Device(name) if inventory.get(name).is_none() => Err(
                AccessError::Invalid(format!("no device {name:?} in the inventory")),
            ),
            AccessTarget::Selector(_) if target.devices(inventory).is_empty() => Err(
                AccessError::Invalid(format!("selector {s:?} matches no device in the inventory")),
            ),
            _ => Ok(target),
        }
    }

    /// Parses without looking at the inventory (stored requests).
    pub fn parse_unchecked(s: &str) -> Result<AccessTarget> {
        let s = s.trim();
        if let Some(role) = s.strip_prefix("role:") {
            if role.is_empty() || role.contains(|c: char| c.is_whitespace() || c == ',') {
                return Err(AccessError::Invalid(format!("{s:?} is not a role name")));
            }
            return Ok(AccessTarget::Role(s.to_string()));
        }
        if s.contains('=') {
            let mut pairs = Vec::new();
            for part in s.split(',') {
                let Some((k, v)) = part.split_once('=') else {
                    return Err(AccessError::Invalid(format!(
                        "selector part {part:?} is not key=value"
                    )));
                };
                let (k, v) = (k.trim(), v.trim());
                if k.is_empty() || v.is_empty() {
                    return Err(AccessError::Invalid(format!(
                        "selector part {part:?} is not key=value"
                    )));
                }
                pairs.push((k.to_string(), v.to_string()));
            }
            return Ok(AccessTarget::Selector(pairs));
        }
        if s.is_empty() || s.contains(char::is_whitespace) {
            return Err(AccessError::Invalid(format!(
                "{s:?} is not a device, a selector like site=ams1,kind=switch, or role:NAME"
            )));
        }
        Ok(AccessTarget::Device(s.to_string()))
    }

    /// Whether `device` is covered (a role target covers no device by itself).
    pub fn matches(&self, device: &Device) -> bool {
        match self {
            AccessTarget::Device(name) => &device.name == name,
            AccessTarget::Selector(pairs) => pairs.iter().all(|(k, v)| match k.as_str() {
                "name" => &device.name == v,
                "kind" => device.kind.as_str() == v || device.labels.get("kind") == Some(v),
                _ => device.labels.get(k) == Some(v),
            }),
            AccessTarget::Role(_) => false,
        }
    }

    /// The inventory devices covered, sorted by name.
    pub fn devices<'a>(&self, inventory: &'a Inventory) -> Vec<&'a Device> {
        let mut v: Vec<&Device> = inventory.devices().filter(|d| self.matches(d)).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

impl fmt::Display for AccessTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessTarget::Device(n) => f.write_str(n),
            AccessTarget::Role(r) => f.write_str(r),
            AccessTarget::Selector(pairs) => {
                let s: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                f.write_str(&s.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory() -> Inventory {
        Inventory::parse(
            "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"127.0.0.1:1\"\n\
             labels = { site = \"ams1\", type = \"switch\" }\n\
             [[device]]\nname = \"sw2\"\nkind = \"ssh\"\naddress = \"127.0.0.1:1\"\n\
             labels = { site = \"fra1\", type = \"switch\" }\n",
            std::path::Path::new("inventory.toml"),
        )
        .unwrap()
    }

    #[test]
    fn targets_parse_match_and_name_bad_input() {
        let inv = inventory();
        let sel = AccessTarget::parse("site=ams1,kind=ssh", &inv).unwrap();
        assert_eq!(sel.to_string(), "site=ams1,kind=ssh");
        let names: Vec<_> = sel.devices(&inv).iter().map(|d| d.name.clone()).collect();
        assert_eq!(names, ["sw1"]);
        let all = AccessTarget::parse("type=switch", &inv).unwrap();
        assert_eq!(all.devices(&inv).len(), 2);
        assert_eq!(
            AccessTarget::parse("role:netops", &inv).unwrap(),
            AccessTarget::Role("role:netops".into())
        );
        let e = AccessTarget::parse("sw9", &inv).unwrap_err().to_string();
        assert!(e.contains("no device \"sw9\""), "{e}");
        let e = AccessTarget::parse("site=lon1", &inv)
            .unwrap_err()
            .to_string();
        assert!(e.contains("matches no device"), "{e}");
        let e = AccessTarget::parse("site=,x", &inv)
            .unwrap_err()
            .to_string();
        assert!(e.contains("key=value"), "{e}");
        assert!(AccessTarget::parse("role:", &inv).is_err());
    }
}
