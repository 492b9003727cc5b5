//! Path rules for file transfer: a `file.upload` or `file.download` action may carry a path
//! prefix (`file.download:/flash/`), limiting the rule to files under it. The request's
//! action is then `file.download:/flash/vlan.dat`; [`action_match`] is the model's
//! `actionMatch(r.act, p.act)`: a plain action matches the same action on every path, a
//! path-qualified one only paths under its prefix (whole components: `/flash` covers
//! `/flash/x`, never `/flashy`).

use casbin::function_map::dynamic_to_str;
use casbin::rhai::Dynamic;

use super::action::Action;

/// Where the action's path starts in a path-qualified action.
pub(crate) const SEP: char = ':';

/// The casbin action of `action` on `path`.
pub(crate) fn qualified(action: Action, path: &str) -> String {
    format!("{action}{SEP}{path}")
}

/// The lexical normal form of `path`: `//` and `.` dropped, `..` taken back, no trailing
/// `/` (but `/` itself stays). `None` for a relative path, a `..` above the root, or
/// characters no path rule could match (control characters).
pub fn normalise(path: &str) -> Option<String> {
    if path.chars().any(char::is_control) {
        return None;
    }
    let (root, rest) = split_root(path)?;
    let mut parts: Vec<&str> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(format!("{root}{}", parts.join("/")))
}

/// `/` for an absolute path; `flash:/` (or `flash:`) for a device file system, as
/// network gear names them. `None` for a relative path.
fn split_root(path: &str) -> Option<(String, &str)> {
    if let Some(rest) = path.strip_prefix('/') {
        return Some(("/".into(), rest));
    }
    let (fs, rest) = path.split_once(':')?;
    if fs.is_empty() || fs.contains('/') {
        return None;
    }
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    Some((format!("{fs}:/"), rest))
}

/// Whether `path` (normalised) is `prefix` (normalised) or lies under it.
pub fn under(path: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        return path.starts_with(prefix) || path == prefix.trim_end_matches('/');
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Parses a rule's path prefix: it must already be in normal form, so a rule reads as it
/// matches.
pub(crate) fn parse_prefix(text: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "invalid path {text:?} (an absolute path such as /flash/ or flash:/, \
             without . or .. or //)"
        )
    };
    if text
        .chars()
        .any(|c| c.is_whitespace() || "\"#*".contains(c))
    {
        return Err(bad());
    }
    let norm = normalise(text).ok_or_else(bad)?;
    let written = if text.len() > 1 && !text.ends_with(":/") {
        text.trim_end_matches('/')
    } else {
        text
    };
    if norm != written {
        return Err(bad());
    }
    Ok(norm)
}

/// Whether the rule action `rule` covers the request action `request`.
pub(crate) fn covers(request: &str, rule: &str) -> bool {
    if request == rule {
        return true;
    }
    let Some((action, path)) = request.split_once(SEP) else {
        return false;
    };
    match rule.split_once(SEP) {
        None => rule == action,
        Some((rule_action, prefix)) => rule_action == action && under(path, prefix),
    }
}

/// casbin matcher function `actionMatch(r.act, p.act)`.
pub(crate) fn action_match(request: Dynamic, rule: Dynamic) -> Dynamic {
    covers(&dynamic_to_str(&request), &dynamic_to_str(&rule)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_lexically_and_relative_ones_are_refused() {
        assert_eq!(normalise("/a//b/./c/../d/").as_deref(), Some("/a/b/d"));
        assert_eq!(normalise("/").as_deref(), Some("/"));
        assert_eq!(normalise("//").as_deref(), Some("/"));
        assert_eq!(normalise("/..").as_deref(), None);
        assert_eq!(normalise("a/b").as_deref(), None);
        assert_eq!(normalise("").as_deref(), None);
        assert_eq!(normalise("flash:/x/../y").as_deref(), Some("flash:/y"));
        assert_eq!(normalise("flash:cfg").as_deref(), Some("flash:/cfg"));
        assert_eq!(normalise("/a\nb"), None);
    }

    #[test]
    fn under_takes_whole_components() {
        assert!(under("/flash/x", "/flash"));
        assert!(under("/flash", "/flash"));
        assert!(!under("/flashy", "/flash"));
        assert!(under("/etc", "/"));
        assert!(under("flash:/a", "flash:/"));
        assert!(!under("/a", "flash:/"));
    }

    #[test]
    fn rule_prefixes_must_be_written_normalised() {
        assert_eq!(parse_prefix("/flash/").as_deref(), Ok("/flash"));
        assert_eq!(parse_prefix("/").as_deref(), Ok("/"));
        assert_eq!(parse_prefix("flash:/").as_deref(), Ok("flash:/"));
        for bad in ["flash", "/a/../b", "/a//b", "/a b", "", "/a/*"] {
            assert!(parse_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn plain_actions_cover_every_path_and_prefixes_only_theirs() {
        assert!(covers("file.download:/etc/x", "file.download"));
        assert!(covers("file.download:/flash/x", "file.download:/flash"));
        assert!(!covers("file.download:/etc/x", "file.download:/flash"));
        assert!(!covers("file.upload:/flash/x", "file.download:/flash"));
        assert!(!covers("file.download", "file.download:/flash"));
        assert!(covers("connect", "connect"));
    }
}
