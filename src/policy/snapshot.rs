//! One immutable, fully loaded policy: the casbin enforcer plus the inventory it was
//! built against. Reloads build a new snapshot and swap it in whole.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use casbin::function_map::{dynamic_to_str, OperatorFunction};
use casbin::rhai::Dynamic;
use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};

use super::action::Action;
use super::decision::Decision;
use super::error::{PolicyError, Result};
use super::model;
use super::paths;
use super::rules::{self, ObjectPattern, PolicyRules};
use crate::inventory::Inventory;

/// File name of the casbin model inside the policy directory.
pub const MODEL_FILE: &str = "model.conf";
/// File name of the policy rules inside the policy directory.
pub const POLICY_FILE: &str = "policy.csv";

/// The custom matcher function: is `p.sub` one of the request's effective subjects?
const SUBJECT_FN: &str = "subjectIn";
/// The custom matcher function: does `p.act` cover `r.act` (paths of file actions)?
const ACTION_FN: &str = "actionMatch";

/// A loaded policy, ready to answer questions.
pub(crate) struct Snapshot {
    enforcer: Enforcer,
    rules: PolicyRules,
    /// Every `role:NAME` some `g` line grants, for expanding a request's subjects.
    granted_roles: BTreeSet<String>,
    inventory: Arc<Inventory>,
    policy_path: PathBuf,
    /// The matcher calls `actionMatch`: requests may carry a file's path.
    path_aware: bool,
}

impl Snapshot {
    /// Reads `dir/model.conf` and `dir/policy.csv` and builds an enforcer over `inventory`.
    pub(crate) async fn load(dir: &Path, inventory: Arc<Inventory>) -> Result<Snapshot> {
        let model_path = dir.join(MODEL_FILE);
        let policy_path = dir.join(POLICY_FILE);
        let model_text = read(&model_path)?;
        let policy_text = read(&policy_path)?;
        let lines = model::validate(&model_text, &model_path)?;
        let rules = rules::parse(&policy_text, &policy_path)?;
        check_path_rules(&rules, &lines, &model_path, &policy_path)?;
        warn_unknown_devices(&rules, &inventory, &policy_path);

        let whole_model = |e: casbin::Error| PolicyError::Invalid {
            path: model_path.clone(),
            line: None,
            reason: e.to_string(),
        };
        let model = DefaultModel::from_str(&model_text)
            .await
            .map_err(whole_model)?;
        let mut enforcer = Enforcer::new(model, MemoryAdapter::default())
            .await
            .map_err(whole_model)?;
        enforcer.add_function(SUBJECT_FN, OperatorFunction::Arg2(subject_in));
        enforcer.add_function(ACTION_FN, OperatorFunction::Arg2(paths::action_match));

        let internal = |e: casbin::Error| PolicyError::Invalid {
            path: policy_path.clone(),
            line: None,
            reason: format!("loading rules into casbin: {e}"),
        };
        let permissions: Vec<Vec<String>> = rules
            .permissions
            .iter()
            .map(|p| p.casbin_fields())
            .collect();
        if !permissions.is_empty() {
            enforcer
                .add_named_policies("p", permissions)
                .await
                .map_err(internal)?;
        }
        let subject_links: Vec<Vec<String>> = rules
            .subject_links
            .iter()
            .map(|l| vec![l.from.clone(), l.to.clone()])
            .collect();
        if !subject_links.is_empty() {
            enforcer
                .add_named_grouping_policies("g", subject_links)
                .await
                .map_err(internal)?;
        }
        let object_links = object_links(&rules, &inventory);
        if !object_links.is_empty() {
            enforcer
                .add_named_grouping_policies("g2", object_links)
                .await
                .map_err(internal)?;
        }

        // Evaluate once so a matcher that does not compile or run fails the load, not
        // every later decision.
        enforcer
            .enforce((String::new(), "bastion", "audit"))
            .map_err(|e| PolicyError::at(&model_path, lines.matcher, format!("matcher: {e}")))?;

        let granted_roles = rules.subject_links.iter().map(|l| l.to.clone()).collect();
        Ok(Snapshot {
            enforcer,
            rules,
            granted_roles,
            inventory,
            policy_path,
            path_aware: lines.action_match,
        })
    }

    /// The inventory this snapshot was built against.
    pub(crate) fn inventory(&self) -> &Arc<Inventory> {
        &self.inventory
    }

    /// Decides whether `user` holding `roles` may perform `action` on `object`. For a file
    /// action, rules limited to paths count too: `file.download` is allowed when some
    /// path is (each file is then decided by [`Snapshot::decide_path`]).
    pub(crate) fn decide(
        &self,
        user: &str,
        roles: &[String],
        object: &str,
        action: Action,
    ) -> Decision {
        let plain = self.decide_on(user, roles, object, action, None);
        if plain.allowed || plain.rule.is_some() || !self.path_aware {
            return plain;
        }
        for p in self.rules.permissions.iter().filter(|p| p.allow) {
            let (Some(a), Some(prefix)) = (p.action, &p.path) else {
                continue;
            };
            if a != action {
                continue;
            }
            let d = self.decide_on(user, roles, object, action, Some(prefix));
            if d.allowed {
                return Decision {
                    reason: format!("{} (only paths such rules allow)", d.reason),
                    ..d
                };
            }
        }
        plain
    }

    /// Decides whether `user` holding `roles` may perform the file `action` on `path` (a
    /// normalised path) of `object`.
    pub(crate) fn decide_path(
        &self,
        user: &str,
        roles: &[String],
        object: &str,
        action: Action,
        path: &str,
    ) -> Decision {
        if !self.path_aware {
            // No path rules can exist: the action decides every path.
            return self.decide_on(user, roles, object, action, None);
        }
        self.decide_on(user, roles, object, action, Some(path))
    }

    fn decide_on(
        &self,
        user: &str,
        roles: &[String],
        object: &str,
        action: Action,
        path: Option<&str>,
    ) -> Decision {
        if user.is_empty() || user.contains(':') || user.chars().any(char::is_whitespace) {
            return Decision::deny(format!("invalid user name {user:?}"));
        }
        let internal_object = if object == "bastion" {
            object.to_string()
        } else if self.inventory.get(object).is_some() {
            rules::device_name(object)
        } else {
            return Decision::deny(format!("unknown device {object:?}"));
        };
        let mut base = vec![rules::user_name(user)];
        for role in roles {
            let name = role.strip_prefix("role:").unwrap_or(role);
            if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
                return Decision::deny(format!("invalid role {role:?} in the certificate"));
            }
            base.push(format!("role:{name}"));
        }
        let subjects = self.expand_subjects(base);
        let act = match path {
            Some(p) => paths::qualified(action, p),
            None => action.as_str().to_string(),
        };
        let joined = subjects.iter().cloned().collect::<Vec<_>>().join(" ");
        let allowed = match self
            .enforcer
            .enforce((joined, internal_object.as_str(), act.as_str()))
        {
            Ok(allowed) => allowed,
            Err(e) => return Decision::deny(format!("policy evaluation failed: {e}")),
        };
        let what = Asked {
            internal_object: &internal_object,
            object,
            act: &act,
            user,
        };
        self.explain(allowed, &subjects, &what)
    }

    /// The request's subjects plus every role they inherit through `g` lines.
    fn expand_subjects(&self, base: Vec<String>) -> BTreeSet<String> {
        let rm = self.enforcer.get_role_manager();
        let rm = rm.read();
        let mut all: BTreeSet<String> = base.iter().cloned().collect();
        for role in &self.granted_roles {
            if base.iter().any(|b| rm.has_link(b, role, None)) {
                all.insert(role.clone());
            }
        }
        all
    }

    /// Finds the rule behind casbin's answer and words the decision.
    fn explain(&self, allowed: bool, subjects: &BTreeSet<String>, what: &Asked) -> Decision {
        let Asked {
            internal_object,
            object,
            act: action,
            user,
        } = *what;
        let rm = self.enforcer.get_role_manager();
        let rm = rm.read();
        let matching = self.rules.permissions.iter().filter(|p| {
            subjects.contains(&p.subject)
                && p.covers(action)
                && match &p.object {
                    ObjectPattern::Any => true,
                    pattern => rm.has_link(internal_object, &pattern.internal(), None),
                }
        });
        let (mut first_allow, mut first_deny) = (None, None);
        for p in matching {
            let slot = if p.allow {
                &mut first_allow
            } else {
                &mut first_deny
            };
            slot.get_or_insert(p);
        }
        let file = self.policy_path.display();
        let roles: Vec<&str> = subjects
            .iter()
            .filter_map(|s| s.strip_prefix("role:"))
            .collect();
        let who = if roles.is_empty() {
            format!("{user} (no roles)")
        } else {
            format!("{user} (roles: {})", roles.join(", "))
        };
        match (allowed, first_deny, first_allow) {
            (false, Some(rule), _) => Decision {
                allowed: false,
                rule: Some(rule.text.clone()),
                reason: format!("denied by \"{}\" ({file} line {})", rule.text, rule.line),
            },
            (false, None, None) => {
                Decision::deny(format!("no rule allows {action} on {object} for {who}"))
            }
            (true, None, Some(rule)) => Decision {
                allowed: true,
                rule: Some(rule.text.clone()),
                reason: format!("allowed by \"{}\" ({file} line {})", rule.text, rule.line),
            },
            (allowed, _, _) => Decision {
                allowed,
                rule: None,
                reason: format!(
                    "{} {action} on {object} for {who} by the model's matcher",
                    if allowed { "allowed" } else { "denied" }
                ),
            },
        }
    }
}

/// What one request asked, for wording its decision.
struct Asked<'a> {
    internal_object: &'a str,
    object: &'a str,
    /// The action as casbin saw it (`file.download:/flash/x` for a file).
    act: &'a str,
    user: &'a str,
}

/// `g2` links: inventory resource roles, static `g2` lines, and one link per device to
/// every conjunction object (`site:ams1 & type:switch`) whose terms it all holds.
fn object_links(rules: &PolicyRules, inventory: &Inventory) -> Vec<Vec<String>> {
    let mut links: Vec<Vec<String>> = Vec::new();
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    for link in &rules.object_links {
        links.push(vec![link.from.clone(), link.to.clone()]);
        edges
            .entry(link.from.clone())
            .or_default()
            .push(link.to.clone());
    }
    for device in inventory.devices() {
        let from = rules::device_name(&device.name);
        for role in device.resource_roles() {
            let to = rules::resource_name(&role);
            edges.entry(from.clone()).or_default().push(to.clone());
            links.push(vec![from.clone(), to]);
        }
    }
    let conjunctions: HashSet<&Vec<String>> = rules
        .permissions
        .iter()
        .filter_map(|p| match &p.object {
            ObjectPattern::Roles(terms) if terms.len() > 1 => Some(terms),
            _ => None,
        })
        .collect();
    for device in inventory.devices() {
        let from = rules::device_name(&device.name);
        let held = reachable(&from, &edges);
        for terms in &conjunctions {
            if terms
                .iter()
                .all(|t| held.contains(&rules::resource_name(t)))
            {
                links.push(vec![
                    from.clone(),
                    ObjectPattern::Roles((*terms).clone()).internal(),
                ]);
            }
        }
    }
    links.sort();
    links.dedup();
    links
}

/// Every name reachable from `start` over `edges`.
fn reachable(start: &str, edges: &HashMap<String, Vec<String>>) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut stack = vec![start.to_string()];
    while let Some(name) = stack.pop() {
        for next in edges.get(&name).into_iter().flatten() {
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    seen
}

/// A policy file's text.
fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Path rules need a matcher that reads paths (`actionMatch`): else the first is an error.
fn check_path_rules(
    rules: &PolicyRules,
    lines: &model::ModelLines,
    model_path: &Path,
    policy_path: &Path,
) -> Result<()> {
    let Some(p) = rules.permissions.iter().find(|p| p.path.is_some()) else {
        return Ok(());
    };
    if lines.action_match {
        return Ok(());
    }
    Err(PolicyError::at(
        policy_path,
        p.line,
        format!(
            "a path rule needs actionMatch(r.act, p.act) in the matcher of {} (line {}), \
             as the shipped model.conf has",
            model_path.display(),
            lines.matcher
        ),
    ))
}

/// Warns about rules naming devices that are not in the inventory (likely typos).
fn warn_unknown_devices(rules: &PolicyRules, inventory: &Inventory, path: &Path) {
    for p in &rules.permissions {
        if let ObjectPattern::Device(name) = &p.object {
            if inventory.get(name).is_none() {
                tracing::warn!(
                    file = %path.display(),
                    line = p.line,
                    device = %name,
                    "policy rule names a device that is not in the inventory"
                );
            }
        }
    }
}

/// casbin matcher function `subjectIn(p.sub, r.sub)`: `r.sub` is the request's subjects
/// separated by spaces.
fn subject_in(rule_subject: Dynamic, request_subjects: Dynamic) -> Dynamic {
    let wanted = dynamic_to_str(&rule_subject);
    let found = dynamic_to_str(&request_subjects)
        .split(' ')
        .any(|s| s == wanted);
    found.into()
}
