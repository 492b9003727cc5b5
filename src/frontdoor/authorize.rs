//! Every authorization decision: the policy first; where no rule allows (and none denies),
//! the user's grants in force.

use std::time::SystemTime;

use super::Bastion;
use crate::access::{self, AccessRequest, AccessTarget};
use crate::audit::AuditStore;
use crate::identity::Identity;
use crate::policy::{Action, Decision, PolicyEngine};

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

impl Bastion {
    /// Names of the devices `id` may connect to now, by policy or by a grant in force.
    pub async fn reachable_devices(&self, id: &Identity) -> Vec<String> {
        let inventory = self.policy.inventory();
        let mut names = self
            .policy
            .visible_devices(&id.user, &id.roles, &inventory)
            .await;
        let grants = access::store::active_grants(&self.audit, &id.user, SystemTime::now())
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
                t if access::actions_cover(&g.actions, Action::Connect) => {
                    names.extend(t.devices(&inventory).iter().map(|d| d.name.clone()));
                }
                _ => {}
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// The decision for `action` on `object` by `id`: policy, then grants.
    pub async fn authorize(&self, id: &Identity, object: &str, action: Action) -> Decision {
        self.authorize_with_grant(id, object, action).await.0
    }

    /// Like [`Bastion::authorize`], also returning the grant that decided, if one did.
    pub async fn authorize_with_grant(
        &self,
        id: &Identity,
        object: &str,
        action: Action,
    ) -> (Decision, Option<AccessRequest>) {
        decide_with_grants(
            &self.policy,
            &self.audit,
            &id.user,
            &id.roles,
            object,
            action,
        )
        .await
    }
}

/// The policy's decision, widened by `user`'s grants in force where no rule allows (and
/// none denies); also returns the grant that decided, if one did.
pub async fn decide_with_grants(
    policy: &PolicyEngine,
    store: &AuditStore,
    user: &str,
    user_roles: &[String],
    object: &str,
    action: Action,
) -> (Decision, Option<AccessRequest>) {
    let d = policy.decide(user, user_roles, object, action).await;
    // Allowed by policy, or denied by a rule: grants cannot change that.
    if d.allowed || d.rule.is_some() {
        return (d, None);
    }
    let grants = match access::store::active_grants(store, user, SystemTime::now()) {
        Ok(g) => g,
        Err(e) => {
            tracing::error!(error = %e, "cannot read grants; deciding without them");
            return (d, None);
        }
    };
    if grants.is_empty() {
        return (d, None);
    }
    let inventory = policy.inventory();
    if let Some(device) = inventory.get(object) {
        if let Some(g) = access::device_grant(&grants, device, action) {
            let label = grant_label(g);
            return (
                Decision {
                    allowed: true,
                    reason: format!("allowed by {label}"),
                    rule: Some(label),
                },
                Some(g.clone()),
            );
        }
    }
    for g in &grants {
        let AccessTarget::Role(role) = &g.target else {
            continue;
        };
        let mut roles = user_roles.to_vec();
        roles.push(role.clone());
        let with_role = policy.decide(user, &roles, object, action).await;
        if with_role.allowed {
            let label = grant_label(g);
            return (
                Decision {
                    allowed: true,
                    reason: format!("allowed by {label} giving {role}: {}", with_role.reason),
                    rule: Some(label),
                },
                Some(g.clone()),
            );
        }
    }
    (d, None)
}
