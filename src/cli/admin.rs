//! The subcommands an operator runs on the bastion host.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use oobgate::access::Authorizer;
use oobgate::audit::{Event, ExportFormat};
use oobgate::config::Config;
use oobgate::identity::{load_public_key, CertRequest, KeyStore};
use oobgate::inventory::Inventory;
use oobgate::policy::{Action, PolicyEngine};
use oobgate::store::Stores;
use tokio_util::sync::CancellationToken;

use super::stores::{runtime, with_stores};

/// `oobgate serve`: runs until SIGINT or SIGTERM.
pub fn serve(config: &Path) -> Result<ExitCode> {
    // Nothing the bastion creates (its store, recordings, console logs, keys) is readable by
    // group or others. SAFETY: umask has no preconditions and cannot fail.
    unsafe { libc::umask(0o077) };
    let config = Config::load(config)?;
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let (reload, reloads) = tokio::sync::mpsc::channel(1);
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("cannot handle SIGHUP")?;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading");
                // One reload pending is enough: a burst of signals is one reload.
                let _ = reload.try_send(());
            }
        });
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::info!("shutting down");
            stop.cancel();
        });
        oobgate::serve_with_reload(listener, config, shutdown, reloads).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `oobgate check`: loads everything the bastion would load, and reports.
pub fn check(config: &Path) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let inventory = Inventory::load(&config.inventory)?;
    let devices = inventory.devices().count();
    runtime()?.block_on(async {
        PolicyEngine::load(&config.policy_dir, &inventory).await?;
        anyhow::Ok(())
    })?;
    if let Some(r) = &config.auth.revoked {
        oobgate::identity::RevocationList::open(Some(r.clone()))?;
    }
    // What `serve` would refuse at start: key files others can read, a credentials file
    // that is too open, owned by someone else or invalid.
    oobgate::identity::check_key_files(&config.data_dir)?;
    if let Some(file) = &config.secrets.local_file {
        oobgate::secrets::LocalStore::open(file)?;
    }
    let shared_keys = match config.store.postgres {
        Some(_) => shared_keys(&config)?,
        None => Vec::new(),
    };
    println!(
        "{}: OK (listen {}, {} devices, policy {})",
        config.path.display(),
        config.listen,
        devices,
        config.policy_dir.display()
    );
    for line in shared_keys {
        println!("{line}");
    }
    if let Some(web) = &config.web {
        match oobgate::web::certificate_fingerprint(web, &config.data_dir)? {
            Some(fp) => println!(
                "web console: {} (listen {}), certificate SHA-256 fingerprint {fp}",
                web.public_url, web.listen
            ),
            None => println!(
                "web console: {} (listen {}), a self-signed certificate is made at the first start",
                web.public_url, web.listen
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// On a shared store: this node's CA keys against the node set's (read only: the first
/// node to serve shares its keys). A key not made yet is made at the first start: fine on
/// the first node, an error once the set shares one (the new key would differ).
fn shared_keys(config: &Config) -> Result<Vec<String>> {
    let mut ours = Vec::new();
    let mut missing = Vec::new();
    for name in ["host_ca", "user_ca"] {
        let path = config.data_dir.join(format!("{name}.pub"));
        if path.exists() {
            let key = load_public_key(&path)?;
            ours.push((
                name,
                key.fingerprint(russh::keys::ssh_key::HashAlg::Sha256)
                    .to_string(),
            ));
        } else {
            missing.push(name);
        }
    }
    with_stores(config, |stores| async move {
        let leases = stores
            .leases
            .context("the shared store keeps no node keys")?;
        let mut report = oobgate::store::agree_keys(leases.as_ref(), &ours, false).await?;
        for name in missing {
            if let Some(set) = leases.shared_key(name, None).await? {
                bail!(
                    "{name}: this node has none yet and would make its own at the first start, \
                     differing from the node set's {} (first shared by {}); copy the set's \
                     {name} and {name}.pub into {} first",
                    set.fingerprint,
                    set.node,
                    config.data_dir.display()
                );
            }
            report.push(format!("{name}: not made yet (made at the first start)"));
        }
        anyhow::Ok(
            report
                .into_iter()
                .map(|l| format!("node keys: {l}"))
                .collect(),
        )
    })
}

/// `oobgate ca sign`: issues a user certificate next to the public key, like ssh-keygen.
pub fn ca_sign(
    config: &Path,
    principals: &str,
    ttl: Duration,
    key_id: Option<String>,
    source_address: Option<String>,
    force_command: Option<String>,
    key: &Path,
) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let keys = KeyStore::open_or_create(
        &config.data_dir,
        &config.host_names,
        config.host_cert_validity,
    )?;
    let public_key = load_public_key(key)?;
    let principals: Vec<String> = principals
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    let key_id = key_id.unwrap_or_else(|| principals.first().cloned().unwrap_or_default());
    let req = CertRequest {
        public_key,
        principals: principals.clone(),
        ttl,
        key_id: key_id.clone(),
        source_address,
        force_command,
    };
    let cert = keys.sign_user(&req, config.auth.max_cert_ttl)?;
    let name = key
        .file_name()
        .and_then(|n| n.to_str())
        .context("key path has no file name")?;
    let stem = name.strip_suffix(".pub").unwrap_or(name);
    let out = key.with_file_name(format!("{stem}-cert.pub"));
    std::fs::write(&out, format!("{}\n", cert.to_openssh()?))
        .with_context(|| format!("cannot write {}", out.display()))?;
    let ev = Event::new("ca.sign")
        .user(principals.first().cloned().unwrap_or_default())
        .outcome("ok")
        .detail(serde_json::json!({
            "key_id": key_id,
            "serial": cert.serial(),
            "principals": principals,
            "valid_before": cert.valid_before(),
        }));
    with_stores(&config, |stores| async move {
        stores.audit.append(ev).await?;
        anyhow::Ok(())
    })?;
    println!(
        "{}: serial {} key id {:?} valid for {}",
        out.display(),
        cert.serial(),
        key_id,
        humantime::format_duration(ttl)
    );
    Ok(ExitCode::SUCCESS)
}

/// `oobgate ca known-hosts`.
pub fn known_hosts(config: &Path) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let keys = KeyStore::open_or_create(
        &config.data_dir,
        &config.host_names,
        config.host_cert_validity,
    )?;
    println!("{}", keys.known_hosts_line());
    Ok(ExitCode::SUCCESS)
}

/// `oobgate policy check USER[,ROLES] DEVICE ACTION`; ACTION may be
/// `file.download:PATH` (the decision for that one file).
pub fn policy_check(config: &Path, subject: &str, device: &str, asked: &str) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let (name, path) = match asked.split_once(':') {
        Some((name, path)) => {
            let norm = oobgate::policy::normalise_path(path)
                .with_context(|| format!("{path:?} is not an absolute path"))?;
            (name, Some(norm))
        }
        None => (asked, None),
    };
    let action: Action = match name.parse() {
        Ok(a) => a,
        Err(e) => bail!("{e}"),
    };
    let mut parts = subject.split(',').map(str::trim).filter(|s| !s.is_empty());
    let user = parts.next().context("no user given")?.to_string();
    let roles: Vec<String> = parts
        .map(|r| {
            if r.starts_with("role:") {
                r.to_string()
            } else {
                format!("role:{r}")
            }
        })
        .collect();
    let inventory = Inventory::load(&config.inventory)?;
    let (policy_dir, who, with_roles) = (&config.policy_dir, &user, &roles);
    let file = path.as_deref();
    let decision = with_stores(&config, |stores| async move {
        let engine = PolicyEngine::load(policy_dir, &inventory).await?;
        let authz = Authorizer::new(engine, stores.access.clone(), stores.audit.clone());
        anyhow::Ok(match file {
            Some(p) => {
                authz
                    .decide_path_as(who, with_roles, device, action, p)
                    .await
            }
            None => authz.decide_as(who, with_roles, device, action).await,
        })
    })?;
    println!(
        "{}: {} {} {} on {}",
        if decision.allowed { "allow" } else { "deny" },
        user,
        if roles.is_empty() {
            "(no roles)".to_string()
        } else {
            format!("[{}]", roles.join(","))
        },
        asked,
        device
    );
    println!("  {}", decision.reason);
    if let Some(rule) = &decision.rule {
        println!("  rule: {rule}");
    }
    Ok(if decision.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn stores_of(config: &Path) -> Result<(Config, Stores)> {
    let config = Config::load(config)?;
    let stores = super::stores::open(&config).await?;
    Ok((config, stores))
}

/// `oobgate audit verify`.
pub fn audit_verify(config: &Path) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let (_, stores) = stores_of(config).await?;
        let report = stores.audit.verify().await?;
        match report.first_problem {
            None => {
                let head = stores.audit.head().await?;
                println!(
                    "audit chain OK: {} events{}",
                    report.rows_checked,
                    head.map(|(id, h)| format!(", head #{id} {h}"))
                        .unwrap_or_default()
                );
                Ok(ExitCode::SUCCESS)
            }
            Some(p) => {
                println!(
                    "audit chain BROKEN at event #{}: {} ({} events checked)",
                    p.id, p.reason, report.rows_checked
                );
                Ok(ExitCode::from(1))
            }
        }
    })
}

/// `oobgate audit tail`.
pub fn audit_tail(config: &Path, lines: usize, follow: bool) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let (_, stores) = stores_of(config).await?;
        let mut last = 0;
        for row in stores.audit.tail(lines).await? {
            println!("{}", row.to_line());
            last = row.id;
        }
        if !follow {
            return Ok(ExitCode::SUCCESS);
        }
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            for row in stores.audit.after(last, 1000).await? {
                println!("{}", row.to_line());
                last = row.id;
            }
            std::io::stdout().flush()?;
        }
    })
}

/// `oobgate audit export [--format json|ocsf|cef]`.
pub fn audit_export(
    config: &Path,
    format: ExportFormat,
    output: Option<&Path>,
) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let (_, stores) = stores_of(config).await?;
        let mut out: Box<dyn Write> = match output {
            Some(p) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(p)
                    .with_context(|| format!("cannot create {}", p.display()))?,
            )),
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        };
        let (mut last, mut n) = (0, 0u64);
        loop {
            let batch = stores.audit.after(last, 1000).await?;
            if batch.is_empty() {
                break;
            }
            for row in &batch {
                writeln!(out, "{}", format.render(row))?;
                last = row.id;
                n += 1;
            }
        }
        out.flush()?;
        eprintln!("exported {n} events");
        Ok(ExitCode::SUCCESS)
    })
}
