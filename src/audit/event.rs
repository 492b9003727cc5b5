//! Audit events: what callers record ([`Event`]), what is stored ([`EventRow`]), and
//! queries over them.

use serde::Serialize;

/// An event to record. Build with [`Event::new`] and the setters.
#[derive(Debug, Clone)]
pub struct Event {
    /// Dotted kind, e.g. `auth.reject`, `session.start`.
    pub kind: String,
    /// The admin concerned, if any.
    pub user: Option<String>,
    /// The client address, if any.
    pub source: Option<String>,
    /// The device concerned, if any.
    pub device: Option<String>,
    /// The policy action or command, if any.
    pub action: Option<String>,
    /// `allow`, `deny`, `ok`, `error`...
    pub outcome: Option<String>,
    /// Structured details (never secrets).
    pub detail: serde_json::Value,
}

impl Event {
    /// A new event of `kind` with no other fields.
    pub fn new(kind: impl Into<String>) -> Event {
        Event {
            kind: kind.into(),
            user: None,
            source: None,
            device: None,
            action: None,
            outcome: None,
            detail: serde_json::Value::Object(Default::default()),
        }
    }
    /// Sets the user.
    pub fn user(mut self, v: impl Into<String>) -> Self {
        self.user = Some(v.into());
        self
    }
    /// Sets the client address.
    pub fn source(mut self, v: impl Into<String>) -> Self {
        self.source = Some(v.into());
        self
    }
    /// Sets the device.
    pub fn device(mut self, v: impl Into<String>) -> Self {
        self.device = Some(v.into());
        self
    }
    /// Sets the action.
    pub fn action(mut self, v: impl Into<String>) -> Self {
        self.action = Some(v.into());
        self
    }
    /// Sets the outcome.
    pub fn outcome(mut self, v: impl Into<String>) -> Self {
        self.outcome = Some(v.into());
        self
    }
    /// Sets the structured details.
    pub fn detail(mut self, v: serde_json::Value) -> Self {
        self.detail = v;
        self
    }
}

/// A stored event.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// Position in the chain (1-based).
    pub id: i64,
    /// RFC 3339 UTC time.
    pub ts: String,
    /// Dotted kind.
    pub kind: String,
    /// The admin concerned.
    pub user: Option<String>,
    /// The client address.
    pub source: Option<String>,
    /// The device concerned.
    pub device: Option<String>,
    /// Action or command.
    pub action: Option<String>,
    /// Outcome.
    pub outcome: Option<String>,
    /// Structured details.
    pub detail: serde_json::Value,
    /// Hash of the previous event.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
    /// The bastion node that wrote it (several nodes on one shared chain); None for a
    /// single node's embedded store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl EventRow {
    /// One human-readable line: `ts kind outcome user@source device action detail`.
    /// Control characters are escaped, so a hostile login name cannot drive the terminal
    /// of whoever reads the log.
    pub fn to_line(&self) -> String {
        super::printable(&self.raw_line())
    }

    fn raw_line(&self) -> String {
        let mut s = format!("#{} {} {}", self.id, self.ts, self.kind);
        if let Some(o) = &self.outcome {
            s.push_str(&format!(" [{o}]"));
        }
        match (&self.user, &self.source) {
            (Some(u), Some(src)) => s.push_str(&format!(" {u}@{src}")),
            (Some(u), None) => s.push_str(&format!(" {u}")),
            (None, Some(src)) => s.push_str(&format!(" @{src}")),
            (None, None) => {}
        }
        if let Some(d) = &self.device {
            s.push_str(&format!(" device={d}"));
        }
        if let Some(a) = &self.action {
            s.push_str(&format!(" action={a}"));
        }
        if let Some(n) = &self.node {
            s.push_str(&format!(" node={n}"));
        }
        if self.detail.as_object().is_some_and(|o| !o.is_empty()) {
            s.push_str(&format!(" {}", self.detail));
        }
        s
    }
}

/// Which events a query returns.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Kind prefix, e.g. `auth.` (empty matches all).
    pub kind_prefix: Option<String>,
    /// Exact user.
    pub user: Option<String>,
    /// Exact device.
    pub device: Option<String>,
    /// Earliest time (RFC 3339, inclusive).
    pub since: Option<String>,
    /// Latest time (RFC 3339, exclusive).
    pub until: Option<String>,
    /// At most this many (the newest ones).
    pub limit: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_line_escapes_control_characters() {
        let row = EventRow {
            id: 7,
            ts: "2026-11-23T10:00:00.000Z".into(),
            kind: "auth.reject".into(),
            user: Some("evil\u{1b}[2J\u{9b}x".into()),
            source: Some("127.0.0.1:1".into()),
            device: None,
            action: None,
            outcome: Some("deny".into()),
            detail: serde_json::json!({}),
            prev_hash: String::new(),
            hash: String::new(),
            node: None,
        };
        let line = row.to_line();
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        assert!(line.contains("evil\\u{1b}[2J"), "{line}");
    }
}
