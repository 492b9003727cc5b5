//! Console alert rules (`[[alert]]`): which consoles a rule watches, what it looks for
//! (a regex on output lines, or a link that keeps reconnecting), how often it may fire.
//!
//! ```toml
//! [[alert]]
//! name = "kernel-panic"
//! regex = "Kernel panic"
//! labels = { type = "server" }
//! holdoff = "5m"
//! ```
//!
//! The rule is checked when the config is loaded (a regex that does not compile is an
//! error naming the rule) and compiled again for each console it applies to.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

/// What a rule reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertOn {
    /// A line of console output matching `regex`.
    #[default]
    Output,
    /// The console's link coming back up after it was lost (`count` times in `within`).
    Reconnects,
}

/// One `[[alert]]` rule as written in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// Rule name (shown in the audit event, the log marker and the webhook).
    pub name: String,
    /// What fires the rule; `output` (the default) needs `regex`.
    #[serde(default)]
    pub on: AlertOn,
    /// Regex (the `regex` crate's syntax) matched against each output line.
    pub regex: Option<String>,
    /// Consoles watched, by name.
    #[serde(default)]
    pub consoles: Vec<String>,
    /// Consoles watched, by labels: a console matches when it has every label given.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// At most one firing per console within this time; later matches are counted and
    /// reported with the next firing.
    #[serde(default = "default_holdoff", with = "humantime_serde")]
    pub holdoff: Duration,
    /// Fire only after this many matches within `within` (default 1: every match).
    #[serde(default = "one")]
    pub count: u32,
    /// The window `count` is counted in; required when `count` is above 1.
    #[serde(default, with = "humantime_serde")]
    pub within: Option<Duration>,
}

fn default_holdoff() -> Duration {
    Duration::from_secs(300)
}
fn one() -> u32 {
    1
}

/// A rule ready to run on one console.
#[derive(Debug, Clone)]
pub struct AlertRule {
    /// Rule name.
    pub name: String,
    /// What fires it.
    pub on: AlertOn,
    /// The compiled regex (`None` for `on = "reconnects"`).
    pub regex: Option<Regex>,
    /// Hold-off between two firings.
    pub holdoff: Duration,
    /// Matches needed within `within`.
    pub count: u32,
    /// The counting window (zero when `count` is 1).
    pub within: Duration,
}

impl AlertConfig {
    /// Checks and compiles the rule; the error says which setting is wrong and why.
    pub fn compile(&self) -> Result<AlertRule, String> {
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        let regex = match (self.on, &self.regex) {
            (AlertOn::Output, None) => return Err("regex is required".into()),
            (AlertOn::Reconnects, Some(_)) => {
                return Err("regex does not apply to on = \"reconnects\"".into())
            }
            (AlertOn::Reconnects, None) => None,
            (AlertOn::Output, Some(re)) => {
                Some(Regex::new(re).map_err(|e| format!("regex {re:?} does not compile: {e}"))?)
            }
        };
        if self.consoles.is_empty() && self.labels.is_empty() {
            return Err("give consoles or labels (which consoles the rule watches)".into());
        }
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        let within = match self.within {
            Some(w) if w.is_zero() => return Err("within must be longer than zero".into()),
            Some(w) => w,
            None if self.count > 1 => return Err("count above 1 needs within".into()),
            None => Duration::ZERO,
        };
        Ok(AlertRule {
            name: self.name.clone(),
            on: self.on,
            regex,
            holdoff: self.holdoff,
            count: self.count,
            within,
        })
    }

    /// Whether the rule watches the console `name` with `labels`.
    pub fn applies_to(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.consoles.iter().any(|c| c == name)
            || (!self.labels.is_empty()
                && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v)))
    }
}

/// Checks every rule (config load, `oobgate check`): `(key, reason)` for the first bad one.
pub fn validate(rules: &[AlertConfig]) -> Result<(), (String, String)> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let key = format!("alert[{i}] ({:?})", rule.name);
        rule.compile().map_err(|reason| (key.clone(), reason))?;
        if !seen.insert(rule.name.as_str()) {
            return Err((key, "another rule has the same name".into()));
        }
    }
    Ok(())
}
