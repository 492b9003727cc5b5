//! The answer to one authorization question, with the rule and a human reason.

/// Whether an action is allowed, which rule decided, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `true` only when an allow rule matched and no deny rule did.
    pub allowed: bool,
    /// The policy line that decided, e.g.
    /// `p, role:netops, site:ams1 & type:switch, connect, allow`; `None` when no rule
    /// matched or the request was refused before evaluation.
    pub rule: Option<String>,
    /// Human explanation for logs, audit and the user: `allowed by ...`,
    /// `denied by ...`, `no rule allows connect on sw1 for alice (roles: netops)`.
    pub reason: String,
}

impl Decision {
    /// A denial that no rule decided (unknown device, evaluation error, no match).
    pub(crate) fn deny(reason: String) -> Decision {
        Decision {
            allowed: false,
            rule: None,
            reason,
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}
