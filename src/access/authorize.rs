//! Every authorization decision: the policy first; where no rule allows (and none denies),
//! the user's grants in force. [`Authorizer::decide_audited`] is the one way the bastion
//! decides and records a decision, on every path (jump, `connect`, consoles, power,
//! replay, forwards).

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;

use super::{device_grant, AccessRequest, AccessTarget};
use crate::audit::Event;
use crate::identity::Identity;
use crate::metrics::Metrics;
use crate::policy::{Action, Decision, PolicyEngine};
use crate::store::{AccessStore, AuditLog};

/// A decision and the grant that made it, if a grant did.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// Why, in words for the admin and the audit log.
    pub reason: String,
    /// The rule (or grant) that decided, if one did.
    pub rule: Option<String>,
    /// The grant that allowed it, when a grant did.
    pub grant: Option<AccessRequest>,
}

impl Verdict {
    fn from_policy(d: Decision) -> Verdict {
        Verdict {
            allowed: d.allowed,
            reason: d.reason,
            rule: d.rule,
            grant: None,
        }
    }
}

/// How a grant is named in decisions and notices.
pub fn grant_label(g: &AccessRequest) -> String {
    let end = g
        .grant_end
        .map(crate::audit::rfc3339)
        .unwrap_or_else(|| "?".into());
    if g.breakglass {
        format!("BREAK-GLASS grant #{} on {} until {end}", g.id, g.target)
    } else {
        format!(
            "grant #{} ({} on {} until {end}, approved by {})",
            g.id,
            g.actions_display(),
            g.target,
            g.approvers.join(", ")
        )
    }
}

/// Policy plus grants, and the audit log decisions go to.
#[derive(Clone)]
pub struct Authorizer {
    policy: PolicyEngine,
    grants: Arc<dyn AccessStore>,
    audit: Arc<dyn AuditLog>,
    metrics: Metrics,
}

impl Authorizer {
    /// Decides with `policy`, widened by the grants in `grants`, recording in `audit`.
    pub fn new(
        policy: PolicyEngine,
        grants: Arc<dyn AccessStore>,
        audit: Arc<dyn AuditLog>,
    ) -> Authorizer {
        Authorizer {
            policy,
            grants,
            audit,
            metrics: Metrics::default(),
        }
    }

    /// The same authorizer, counting its recorded decisions in `metrics`.
    pub fn with_metrics(self, metrics: Metrics) -> Authorizer {
        Authorizer { metrics, ..self }
    }

    /// The policy engine (and through it the current inventory).
    pub fn policy(&self) -> &PolicyEngine {
        &self.policy
    }

    /// The decision for `action` on `object` by `id`, not recorded.
    pub async fn decide(&self, id: &Identity, object: &str, action: Action) -> Verdict {
        self.decide_as(&id.user, &id.roles, object, action).await
    }

    /// The decision for `action` on `object` by `id`, recorded as a `policy.decision`
    /// event whose detail carries `context` (at least `via`: which path asked).
    pub async fn decide_audited(
        &self,
        id: &Identity,
        object: &str,
        action: Action,
        context: serde_json::Value,
    ) -> Verdict {
        let v = self.decide(id, object, action).await;
        self.metrics.decision(action.as_str(), v.allowed);
        let mut detail = json!({ "reason": v.reason, "rule": v.rule });
        if let (Some(d), serde_json::Value::Object(extra)) = (detail.as_object_mut(), context) {
            d.extend(extra);
        }
        let ev = Event::new("policy.decision")
            .user(&id.user)
            .source(id.source.to_string())
            .device(object)
            .action(action.as_str())
            .outcome(if v.allowed { "allow" } else { "deny" })
            .detail(detail);
        if let Err(e) = self.audit.append(ev).await {
            tracing::error!(error = %e, "cannot record a policy decision");
        }
        v
    }

    /// The decision for a user and roles (the local `policy check` has no certificate).
    pub async fn decide_as(
        &self,
        user: &str,
        roles: &[String],
        object: &str,
        action: Action,
    ) -> Verdict {
        self.decide_on(user, roles, object, action, None).await
    }

    /// The decision for the file `action` on `path` (normalised) of `object` by `id`, not
    /// recorded (the file's own audit event records a refusal). A grant covering the
    /// action covers every path the policy does not deny.
    pub async fn decide_path(
        &self,
        id: &Identity,
        object: &str,
        action: Action,
        path: &str,
    ) -> Verdict {
        self.decide_path_as(&id.user, &id.roles, object, action, path)
            .await
    }

    /// [`Authorizer::decide_path`] for a user and roles (the local `policy check`).
    pub async fn decide_path_as(
        &self,
        user: &str,
        roles: &[String],
        object: &str,
        action: Action,
        path: &str,
    ) -> Verdict {
        self.decide_on(user, roles, object, action, Some(path))
            .await
    }

    async fn decide_on(
        &self,
        user: &str,
        roles: &[String],
        object: &str,
        action: Action,
        path: Option<&str>,
    ) -> Verdict {
        let d = self.policy_decide(user, roles, object, action, path).await;
        // Allowed by policy, or denied by a rule: grants cannot change that.
        if d.allowed || d.rule.is_some() {
            return Verdict::from_policy(d);
        }
        let grants = match self.grants.active_grants(user, SystemTime::now()).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "cannot read grants; deciding without them");
                return Verdict::from_policy(d);
            }
        };
        match self
            .by_grant(&grants, user, roles, object, (action, path))
            .await
        {
            Some(v) => v,
            None => Verdict::from_policy(d),
        }
    }

    async fn by_grant(
        &self,
        grants: &[AccessRequest],
        user: &str,
        roles: &[String],
        object: &str,
        (action, path): (Action, Option<&str>),
    ) -> Option<Verdict> {
        let inventory = self.policy.inventory();
        if let Some(g) = inventory
            .get(object)
            .and_then(|device| device_grant(grants, device, action))
        {
            let label = grant_label(g);
            return Some(Verdict {
                allowed: true,
                reason: format!("allowed by {label}"),
                rule: Some(label),
                grant: Some(g.clone()),
            });
        }
        for g in grants {
            let AccessTarget::Role(role) = &g.target else {
                continue;
            };
            let mut with_role = roles.to_vec();
            with_role.push(role.clone());
            let d = self
                .policy_decide(user, &with_role, object, action, path)
                .await;
            if d.allowed {
                let label = grant_label(g);
                return Some(Verdict {
                    allowed: true,
                    reason: format!("allowed by {label} giving {role}: {}", d.reason),
                    rule: Some(label),
                    grant: Some(g.clone()),
                });
            }
        }
        None
    }

    async fn policy_decide(
        &self,
        user: &str,
        roles: &[String],
        object: &str,
        action: Action,
        path: Option<&str>,
    ) -> Decision {
        match path {
            Some(p) => {
                self.policy
                    .decide_path(user, roles, object, action, p)
                    .await
            }
            None => self.policy.decide(user, roles, object, action).await,
        }
    }

    /// Names of the devices `id` may connect to now, by policy or by a grant in force.
    pub async fn reachable_devices(&self, id: &Identity) -> Vec<String> {
        let inventory = self.policy.inventory();
        let mut names = self
            .policy
            .visible_devices(&id.user, &id.roles, &inventory)
            .await;
        let grants = self
            .grants
            .active_grants(&id.user, SystemTime::now())
            .await
            .unwrap_or_default();
        for g in &grants {
            match &g.target {
                AccessTarget::Role(role) => {
                    let mut roles = id.roles.clone();
                    roles.push(role.clone());
                    names.extend(
                        self.policy
                            .visible_devices(&id.user, &roles, &inventory)
                            .await,
                    );
                }
                t if super::actions_cover(&g.actions, Action::Connect) => {
                    names.extend(t.devices(&inventory).iter().map(|d| d.name.clone()));
                }
                _ => {}
            }
        }
        names.sort();
        names.dedup();
        names
    }
}
