//! The bastion's shared context: what every connection and session reads (the
//! configuration, keys, stores, policy and access engines, connectors, the console broker,
//! the live sessions) and the one task tracker every task joins. It holds no logic of its
//! own: [`Bastion::open`] assembles the parts as the configuration says.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::{Authorizer, LiveSessions, Requests, WebLinks};
use crate::audit::syslog::SyslogForwarder;
use crate::audit::Event;
use crate::config::Config;
use crate::connect::Connectors;
use crate::console::ConsoleBroker;
use crate::identity::{KeyStore, RevocationList, Validator};
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::policy::PolicyEngine;
use crate::recording::LiveFeeds;
use crate::search::LiveIndex;
use crate::secrets::SecretStore;
use crate::store::{Counted, Forwarded, Stores};

/// Errors that stop the bastion from starting.
#[derive(Debug, thiserror::Error)]
pub enum BastionError {
    /// Keys, CAs or the revocation list could not be loaded.
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The webhook settings are unusable.
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    /// The inventory could not be loaded.
    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),
    /// The policy could not be loaded.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// The secrets store could not be set up.
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, BastionError>;

/// Everything a connection needs, shared by all connections.
pub struct Bastion {
    /// The validated configuration.
    pub config: Config,
    /// The bastion's keys and CAs.
    pub keys: KeyStore,
    /// Certificate validation.
    pub validator: Validator,
    /// Where state lives: audit log, sessions, access requests, host keys, recordings.
    pub stores: Stores,
    /// The policy engine (and the current inventory).
    pub policy: PolicyEngine,
    /// Every authorization decision: policy, then grants.
    pub authz: Authorizer,
    /// Time-bound access requests, approvals and break-glass.
    pub requests: Requests,
    /// Device credentials.
    pub secrets: Arc<dyn SecretStore>,
    /// How devices are reached.
    pub connectors: Connectors,
    /// Shared consoles: one link per console, continuous logs, one writer.
    pub consoles: ConsoleBroker,
    /// Sessions running now, with the grant and certificate each depends on.
    pub live: LiveSessions,
    /// The webhook for access events.
    pub notifier: Notifier,
    /// Every task the bastion spawns; shutdown waits for them.
    pub tasks: TaskTracker,
    /// Cancelled when the bastion stops.
    pub shutdown: CancellationToken,
    /// The operational metrics (`[metrics]`).
    pub metrics: Metrics,
    /// The full-text index of what sessions showed and typed, kept as they run (`None`
    /// when it could not be opened: sessions go on, unindexed, and it is logged).
    pub search: Option<LiveIndex>,
    /// Running sessions others may watch.
    pub feeds: LiveFeeds,
    /// One-time links into the web console, issued by `ssh bastion web`.
    pub weblinks: WebLinks,
}

impl Bastion {
    /// Opens keys, stores, inventory, policy and secrets as `config` says (creating the
    /// data dir); `shutdown` stops everything built on it.
    pub async fn open(config: Config, shutdown: CancellationToken) -> Result<Bastion> {
        let keys = KeyStore::open_or_create(
            &config.data_dir,
            &config.host_names,
            config.host_cert_validity,
        )?;
        let mut trusted = Vec::new();
        if config.auth.trust_builtin_ca {
            trusted.push(keys.user_ca.public_key().clone());
        }
        for p in &config.auth.trusted_user_ca {
            trusted.push(crate::identity::load_public_key(p)?);
        }
        let revocation = RevocationList::open(config.auth.revoked.clone())?;
        let validator = Validator::new(trusted, revocation);
        let tasks = TaskTracker::new();
        let metrics = Metrics::new();
        let mut stores = Stores::open(
            &config.store,
            config.recording.s3.as_ref(),
            &config.node_name,
            &config.store_path(),
            config.recording_dir.clone(),
        )
        .await?;
        if let Some(leases) = &stores.leases {
            let ours = [
                ("host_ca", keys.host_ca_fingerprint()),
                ("user_ca", keys.user_ca_fingerprint()),
            ];
            crate::store::agree_keys(leases.as_ref(), &ours, true).await?;
        }
        stores.audit = Arc::new(Counted::new(stores.audit.clone(), metrics.clone()));
        if let Some(target) = &config.audit.syslog {
            let syslog = SyslogForwarder::start(target.clone(), &tasks, shutdown.clone());
            stores.audit = Arc::new(Forwarded::new(stores.audit.clone(), syslog));
        }
        let inventory = crate::inventory::Inventory::load(&config.inventory)?;
        let policy = PolicyEngine::load(&config.policy_dir, &inventory).await?;
        let secrets = crate::secrets::open_store(&config.secrets, &config.data_dir).await?;
        let bastion_name = config
            .host_names
            .first()
            .cloned()
            .unwrap_or_else(|| config.listen.to_string());
        let notifier =
            Notifier::with_metrics(config.webhook.as_ref(), &bastion_name, metrics.clone())?;
        let log_dir = config.data_dir.join("consoles");
        let broker_opts = crate::console::BrokerOptions {
            ship_logs: stores.recordings.log_shipper(&log_dir),
            ..Default::default()
        };
        let consoles = ConsoleBroker::new(log_dir, broker_opts);
        if let Some(alerts) = consoles.take_alerts() {
            let forward = crate::console::forward_alerts(
                alerts,
                stores.audit.clone(),
                notifier.clone(),
                shutdown.clone(),
            );
            tasks.spawn(forward);
        }
        let live = LiveSessions::default();
        let authz = Authorizer::new(policy.clone(), stores.access.clone(), stores.audit.clone())
            .with_metrics(metrics.clone());
        let requests = Requests::new(
            authz.clone(),
            stores.access.clone(),
            stores.audit.clone(),
            notifier.clone(),
            live.clone(),
            config.access.clone(),
        );
        let index = match &stores.search {
            Some(shared) => LiveIndex::start_shared(shared.clone(), metrics.clone()),
            None => LiveIndex::start(&config.search_index_path(), metrics.clone()),
        };
        let search = match index {
            Ok(index) => Some(index),
            Err(e) => {
                tracing::error!(error = %e, "search index unavailable: sessions are not indexed until `oobgate reindex`");
                None
            }
        };
        Ok(Bastion {
            search,
            feeds: LiveFeeds::default(),
            weblinks: WebLinks::new(stores.tokens.clone()),
            keys,
            validator,
            connectors: Connectors::new(stores.hostkeys.clone()),
            stores,
            policy,
            authz,
            requests,
            secrets,
            consoles,
            live,
            notifier,
            tasks,
            shutdown,
            metrics,
            config,
        })
    }

    /// Records an audit event; a failing store is logged, never fatal to the caller.
    pub async fn audit(&self, ev: Event) {
        if let Err(e) = self.stores.audit.append(ev).await {
            tracing::error!(error = %e, "audit store write failed");
        }
    }

    /// Records an audit event from code that cannot wait (callbacks of other libraries).
    pub fn audit_later(self: &Arc<Self>, ev: Event) {
        let me = self.clone();
        self.tasks.spawn(async move { me.audit(ev).await });
    }
}
