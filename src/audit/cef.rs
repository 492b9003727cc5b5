//! Audit events as ArcSight Common Event Format (CEF) lines, for SIEMs that read CEF
//! (`oobgate audit export --format cef`).
//!
//! `CEF:0|oobgate|oobgate|VERSION|KIND|NAME|SEVERITY|EXTENSION`, with the extension keys of
//! the CEF dictionary: `rt` (event time, ms since the epoch), `externalId` (position in the
//! audit chain), `cat` (kind), `suser`, `src`/`spt` (client address), `dhost` (device),
//! `act`, `outcome`, `reason`, `cs1` (the event's detail as JSON) and `cs2` (its chain hash).
//!
//! Escaping follows the CEF specification: in the header `\` and `|` are escaped with a
//! backslash; in extension values `\` and `=` are, and newlines are written `\n` / `\r`.
//! Headers may not span lines, so a line break there becomes a space. Other control
//! characters are written as the visible text `\u{1b}` (its backslash escaped), so no
//! event can move a SIEM's cursor or forge a second line.

use std::fmt::Write;
use std::net::SocketAddr;

use super::EventRow;

/// The event as one CEF line (no trailing newline).
pub fn to_cef(row: &EventRow) -> String {
    let mut line = format!(
        "CEF:0|oobgate|oobgate|{}|{}|{}|{}|",
        header(env!("CARGO_PKG_VERSION")),
        header(&row.kind),
        header(&name(row)),
        severity(row.outcome.as_deref()),
    );
    let mut ext: Vec<(&str, String)> = Vec::new();
    if let Some(ms) = super::timestamp::epoch_millis(&row.ts) {
        ext.push(("rt", ms.to_string()));
    }
    ext.push(("externalId", row.id.to_string()));
    ext.push(("cat", row.kind.clone()));
    if let Some(u) = &row.user {
        ext.push(("suser", u.clone()));
    }
    if let Some(s) = &row.source {
        match s.parse::<SocketAddr>() {
            Ok(a) => {
                ext.push(("src", a.ip().to_string()));
                ext.push(("spt", a.port().to_string()));
            }
            Err(_) => ext.push(("shost", s.clone())),
        }
    }
    if let Some(d) = &row.device {
        ext.push(("dhost", d.clone()));
    }
    if let Some(a) = &row.action {
        ext.push(("act", a.clone()));
    }
    if let Some(o) = &row.outcome {
        ext.push(("outcome", o.clone()));
    }
    if let Some(r) = row.detail.get("reason").and_then(|v| v.as_str()) {
        ext.push(("reason", r.to_string()));
    }
    if row.detail.as_object().is_some_and(|o| !o.is_empty()) {
        ext.push(("cs1Label", "detail".into()));
        ext.push(("cs1", row.detail.to_string()));
    }
    ext.push(("cs2Label", "chainHash".into()));
    ext.push(("cs2", row.hash.clone()));
    let parts: Vec<String> = ext
        .iter()
        .map(|(k, v)| format!("{k}={}", extension_value(v)))
        .collect();
    line.push_str(&parts.join(" "));
    line
}

/// A readable event name for the header.
fn name(row: &EventRow) -> String {
    let base = match row.kind.as_str() {
        "auth.accept" => "certificate login accepted",
        "auth.reject" => "login rejected",
        "policy.decision" => "policy decision",
        "session.start" => "session started",
        "session.end" => "session ended",
        "session.fail" => "session failed",
        "connection.refused" => "connection refused",
        "access.breakglass" => "break-glass access",
        other => other,
    };
    match (&row.action, &row.device) {
        (Some(a), Some(d)) => format!("{base}: {a} on {d}"),
        (None, Some(d)) => format!("{base}: {d}"),
        _ => base.to_string(),
    }
}

/// CEF severity 0-10.
fn severity(outcome: Option<&str>) -> u8 {
    match outcome {
        Some("alert") => 8,
        Some("deny") | Some("error") => 5,
        _ => 3,
    }
}

/// Escapes a header field: `\` and `|` get a backslash, line breaks become spaces.
pub fn header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => control(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an extension value: `\` and `=` get a backslash, line breaks are `\n` / `\r`.
pub fn extension_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => control(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// A control character as the visible text `\u{XX}` (the backslash escaped for CEF).
fn control(out: &mut String, c: char) {
    let _ = write!(out, "\\\\u{{{:x}}}", c as u32);
}

#[cfg(test)]
#[path = "cef_tests.rs"]
mod tests;
