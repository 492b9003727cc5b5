//! The casbin model file: checked line by line for the shape the engine relies on.
//!
//! The engine feeds casbin requests `(subjects, object, action)` and rules
//! `(subject, object, action, allow|deny)`, and combines them with deny-overrides, so those
//! definitions are fixed; the matcher is free to change. casbin's own parser reports
//! problems without a line, so the structure is checked here first.

use std::path::Path;

use super::error::{PolicyError, Result};

/// The effect the engine's combination rules assume: any deny wins, else any allow.
pub(crate) const DENY_OVERRIDES: &str =
    "some(where (p.eft == allow)) && !some(where (p.eft == deny))";

const SECTIONS: [&str; 5] = [
    "request_definition",
    "policy_definition",
    "role_definition",
    "policy_effect",
    "matchers",
];

/// Where the interesting parts of a valid model file are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ModelLines {
    /// Line of the `m = ...` matcher, for evaluation errors.
    pub matcher: usize,
    /// Whether the matcher calls `actionMatch(r.act, p.act)`, which path rules need.
    pub action_match: bool,
}

/// Checks the model text; `path` names the file in errors.
pub(crate) fn validate(text: &str, path: &Path) -> Result<ModelLines> {
    let mut section: Option<&str> = None;
    let mut found: Vec<(&str, usize)> = Vec::new();
    let mut action_match = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let err = |reason: String| PolicyError::at(path, line, reason);
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            if !SECTIONS.contains(&name) {
                return Err(err(format!(
                    "unknown section [{name}] (expected one of {})",
                    SECTIONS.map(|s| format!("[{s}]")).join(", ")
                )));
            }
            section = Some(name);
            continue;
        }
        let Some(section) = section else {
            return Err(err("definition outside of any [section]".into()));
        };
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(err(format!("expected KEY = VALUE, found {trimmed:?}")));
        };
        let (key, value) = (key.trim(), value.trim());
        let tokens = || value.split(',').map(str::trim).collect::<Vec<_>>();
        match (section, key) {
            ("request_definition", "r") if tokens() == ["sub", "obj", "act"] => {}
            ("request_definition", "r") => {
                return Err(err(
                    "the request must be defined as r = sub, obj, act".into()
                ))
            }
            ("policy_definition", "p") if tokens() == ["sub", "obj", "act", "eft"] => {}
            ("policy_definition", "p") => {
                return Err(err(
                    "the policy must be defined as p = sub, obj, act, eft".into()
                ))
            }
            ("role_definition", "g" | "g2") if tokens() == ["_", "_"] => {}
            ("role_definition", "g" | "g2") => {
                return Err(err(format!("{key} must be defined as {key} = _, _")))
            }
            ("policy_effect", "e") if squash(value) == squash(DENY_OVERRIDES) => {}
            ("policy_effect", "e") => {
                return Err(err(format!(
                    "the effect must be deny-overrides: e = {DENY_OVERRIDES}"
                )))
            }
            ("matchers", "m") if !value.is_empty() => {
                action_match = squash(value).contains("actionMatch(r.act,p.act)");
            }
            ("matchers", "m") => return Err(err("the matcher is empty".into())),
            _ => {
                return Err(err(format!(
                    "unexpected key {key:?} in [{section}] (this engine uses r, p, g, g2, e and m)"
                )))
            }
        }
        if found.iter().any(|(k, _)| *k == key) {
            return Err(err(format!("{key} is defined twice")));
        }
        found.push((key_static(key), line));
    }
    require_all(&found, path)?;
    let matcher = found.iter().find(|(k, _)| *k == "m").map_or(0, |(_, l)| *l);
    Ok(ModelLines {
        matcher,
        action_match,
    })
}

/// Every definition must be there.
fn require_all(found: &[(&str, usize)], path: &Path) -> Result<()> {
    for key in ["r", "p", "g", "g2", "e", "m"] {
        if !found.iter().any(|(k, _)| *k == key) {
            return Err(PolicyError::Invalid {
                path: path.to_path_buf(),
                line: None,
                reason: format!("missing definition of {key}"),
            });
        }
    }
    Ok(())
}

/// Maps a checked key to a static string so `found` does not borrow the text.
fn key_static(key: &str) -> &'static str {
    match key {
        "r" => "r",
        "p" => "p",
        "g" => "g",
        "g2" => "g2",
        "e" => "e",
        _ => "m",
    }
}

/// Removes all whitespace, for comparing expressions.
fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}
