//! The policy CSV: parsing and validating `p`, `g` and `g2` lines before casbin sees them.
//!
//! casbin's own CSV errors do not say which line is wrong, so every line is checked here
//! first and errors read like `policies/policy.csv line 12: unknown action "conect"`.
//!
//! Names are namespaced before they reach casbin, because casbin-rs keeps `g` and `g2`
//! links in one role manager: users become `user:NAME`, devices `device:NAME`, resource
//! roles `res:KEY:VALUE`; subject roles stay `role:NAME`, and `bastion` and `*` are kept.

use std::collections::HashMap;
use std::path::Path;

use super::action::Action;
use super::error::{PolicyError, Result};
use super::paths;

/// What a `p` rule's object field matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ObjectPattern {
    /// `*`: every object.
    Any,
    /// `bastion`: bastion-wide actions such as `audit`.
    Bastion,
    /// One device by name.
    Device(String),
    /// Devices holding all of these resource roles (`site:ams1 & type:switch`), sorted.
    Roles(Vec<String>),
}

impl ObjectPattern {
    /// The name casbin sees in the object field.
    pub(crate) fn internal(&self) -> String {
        match self {
            ObjectPattern::Any => "*".into(),
            ObjectPattern::Bastion => "bastion".into(),
            ObjectPattern::Device(d) => device_name(d),
            ObjectPattern::Roles(r) => resource_name(&r.join(" & ")),
        }
    }
}

/// A validated `p` line.
#[derive(Debug, Clone)]
pub(crate) struct Permission {
    /// 1-based line in the policy file.
    pub line: usize,
    /// The line as written, fields trimmed and re-joined with `, `.
    pub text: String,
    /// Internal subject name (`user:alice` or `role:netops`).
    pub subject: String,
    /// What the rule applies to.
    pub object: ObjectPattern,
    /// `None` for `*`.
    pub action: Option<Action>,
    /// For `file.upload`/`file.download`: the rule covers only files under this prefix
    /// (normalised); `None`: every path.
    pub path: Option<String>,
    /// `true` for `allow`, `false` for `deny`.
    pub allow: bool,
}

impl Permission {
    /// The four casbin policy fields.
    pub(crate) fn casbin_fields(&self) -> Vec<String> {
        vec![
            self.subject.clone(),
            self.object.internal(),
            self.casbin_action(),
            if self.allow { "allow" } else { "deny" }.to_string(),
        ]
    }

    /// The action field casbin sees: `connect`, `*`, or `file.download:/flash`.
    pub(crate) fn casbin_action(&self) -> String {
        match (self.action, &self.path) {
            (None, _) => "*".into(),
            (Some(a), None) => a.as_str().into(),
            (Some(a), Some(p)) => paths::qualified(a, p),
        }
    }

    /// Whether this rule's action covers the request action `request` (as casbin sees it).
    pub(crate) fn covers(&self, request: &str) -> bool {
        self.action.is_none() || paths::covers(request, &self.casbin_action())
    }
}

/// A validated `g` or `g2` line, already in internal names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    /// 1-based line in the policy file.
    pub line: usize,
    /// Member (user, role, device or resource role).
    pub from: String,
    /// Group it inherits from.
    pub to: String,
}

/// Everything the policy CSV says, validated.
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyRules {
    /// `p` lines in file order.
    pub permissions: Vec<Permission>,
    /// `g` lines: user or role -> role.
    pub subject_links: Vec<Link>,
    /// `g2` lines: device or resource role -> resource role.
    pub object_links: Vec<Link>,
}

/// Internal name of a user.
pub(crate) fn user_name(user: &str) -> String {
    format!("user:{user}")
}

/// Internal name of a device.
pub(crate) fn device_name(device: &str) -> String {
    format!("device:{device}")
}

/// Internal name of a resource role (or a conjunction of them).
pub(crate) fn resource_name(role: &str) -> String {
    format!("res:{role}")
}

/// Parses and validates the policy CSV `text`; `path` names the file in errors.
pub(crate) fn parse(text: &str, path: &Path) -> Result<PolicyRules> {
    let mut rules = PolicyRules::default();
    let mut seen: HashMap<Vec<String>, usize> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let err = |reason: String| PolicyError::at(path, line, reason);
        let fields: Vec<&str> = trimmed.split(',').map(str::trim).collect();
        if let Some(i) = fields.iter().position(|f| f.is_empty()) {
            return Err(err(format!("field {} is empty", i + 1)));
        }
        let mut key = fields.iter().map(|f| f.to_string()).collect::<Vec<_>>();
        match fields[0] {
            "p" => {
                expect_fields(&fields, 5, "p, SUBJECT, OBJECT, ACTION, allow|deny").map_err(err)?;
                let subject = parse_subject(fields[1]).map_err(err)?;
                let object = parse_object(fields[2]).map_err(err)?;
                let (action, path) = parse_action(fields[3]).map_err(err)?;
                let allow = match fields[4] {
                    "allow" => true,
                    "deny" => false,
                    other => {
                        return Err(err(format!(
                            "unknown effect {other:?} (expected allow or deny)"
                        )))
                    }
                };
                let permission = Permission {
                    line,
                    text: fields.join(", "),
                    subject,
                    object,
                    action,
                    path,
                    allow,
                };
                key = permission.casbin_fields();
                key.insert(0, "p".into());
                check_duplicate(&mut seen, key, line).map_err(err)?;
                rules.permissions.push(permission);
            }
            "g" => {
                expect_fields(&fields, 3, "g, USER-OR-ROLE, role:NAME").map_err(err)?;
                let from = parse_subject(fields[1]).map_err(err)?;
                let to = parse_subject(fields[2]).map_err(err)?;
                if !to.starts_with("role:") {
                    return Err(err(format!(
                        "g: the group {:?} must be a role (role:NAME)",
                        fields[2]
                    )));
                }
                check_duplicate(&mut seen, key, line).map_err(err)?;
                rules.subject_links.push(Link { line, from, to });
            }
            "g2" => {
                expect_fields(&fields, 3, "g2, DEVICE-OR-RESOURCE-ROLE, KEY:VALUE").map_err(err)?;
                let from = match parse_object(fields[1]).map_err(err)? {
                    ObjectPattern::Device(d) => device_name(&d),
                    ObjectPattern::Roles(r) if r.len() == 1 => resource_name(&r[0]),
                    _ => {
                        return Err(err(format!(
                            "g2: {:?} must be a device name or one resource role KEY:VALUE",
                            fields[1]
                        )))
                    }
                };
                let to = match parse_object(fields[2]).map_err(err)? {
                    ObjectPattern::Roles(r) if r.len() == 1 => resource_name(&r[0]),
                    _ => {
                        return Err(err(format!(
                            "g2: the group {:?} must be one resource role KEY:VALUE",
                            fields[2]
                        )))
                    }
                };
                check_duplicate(&mut seen, key, line).map_err(err)?;
                rules.object_links.push(Link { line, from, to });
            }
            other => {
                return Err(err(format!(
                    "unknown rule type {other:?} (expected p, g or g2)"
                )))
            }
        }
    }
    Ok(rules)
}

fn expect_fields(fields: &[&str], n: usize, shape: &str) -> std::result::Result<(), String> {
    if fields.len() == n {
        Ok(())
    } else {
        Err(format!(
            "expected {n} fields ({shape}), found {}",
            fields.len()
        ))
    }
}

fn check_duplicate(
    seen: &mut HashMap<Vec<String>, usize>,
    key: Vec<String>,
    line: usize,
) -> std::result::Result<(), String> {
    match seen.insert(key, line) {
        Some(first) => Err(format!("duplicate of line {first}")),
        None => Ok(()),
    }
}

/// True for a bare name: non-empty, no whitespace and none of the policy separators.
fn is_plain(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "&,*\"#".contains(c))
}

/// `role:NAME` or a user name, to its internal name.
fn parse_subject(field: &str) -> std::result::Result<String, String> {
    if let Some(role) = field.strip_prefix("role:") {
        if is_plain(role) && !role.contains(':') {
            return Ok(field.to_string());
        }
        return Err(format!("invalid role {field:?} (expected role:NAME)"));
    }
    if field == "*" {
        return Err("a subject cannot be \"*\": name a user or role:NAME (e.g. role:admin)".into());
    }
    if is_plain(field) && !field.contains(':') {
        return Ok(user_name(field));
    }
    Err(format!(
        "invalid subject {field:?} (expected a user name or role:NAME)"
    ))
}

/// `*`, `bastion`, a device name, or `KEY:VALUE [& KEY:VALUE ...]`.
fn parse_object(field: &str) -> std::result::Result<ObjectPattern, String> {
    match field {
        "*" => return Ok(ObjectPattern::Any),
        "bastion" => return Ok(ObjectPattern::Bastion),
        _ => {}
    }
    if !field.contains(':') && !field.contains('&') {
        crate::inventory::check_name(field).map_err(|e| format!("object: {e}"))?;
        return Ok(ObjectPattern::Device(field.to_string()));
    }
    let mut roles = Vec::new();
    for term in field.split('&').map(str::trim) {
        let valid = term
            .split_once(':')
            .is_some_and(|(k, v)| is_plain(k) && is_plain(v));
        if !valid {
            return Err(format!(
                "invalid object term {term:?} in {field:?} \
                 (expected *, bastion, a device name, or KEY:VALUE terms joined by &)"
            ));
        }
        roles.push(term.to_string());
    }
    roles.sort();
    roles.dedup();
    Ok(ObjectPattern::Roles(roles))
}

/// `*`, an action, or `file.upload:PATH` / `file.download:PATH`.
fn parse_action(field: &str) -> std::result::Result<(Option<Action>, Option<String>), String> {
    if field == "*" {
        return Ok((None, None));
    }
    let (name, path) = match field.split_once(paths::SEP) {
        Some((name, path)) => (name, Some(path)),
        None => (field, None),
    };
    let action = name.parse::<Action>().map_err(|e| e.to_string())?;
    let Some(path) = path else {
        return Ok((Some(action), None));
    };
    if !matches!(action, Action::FileUpload | Action::FileDownload) {
        return Err(format!(
            "{action}: only file.upload and file.download take a path (ACTION:PATH)"
        ));
    }
    let prefix = paths::parse_prefix(path).map_err(|e| format!("{action}: {e}"))?;
    Ok((Some(action), Some(prefix)))
}
