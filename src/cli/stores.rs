//! The stores as the local commands open them: the same database the bastion uses (another
//! process may be serving on it), driven from a small runtime of their own.

use std::future::Future;

use anyhow::{Context, Result};
use oobgate::config::Config;
use oobgate::store::Stores;

/// A multi-threaded runtime for one local command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Opens the stores of `config` and runs `f` on them to its end.
pub fn with_stores<T, F, Fut>(config: &Config, f: F) -> Result<T>
where
    F: FnOnce(Stores) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    runtime()?.block_on(async { f(open(config).await?).await })
}

/// The stores `config` names (the sqlite file, or the shared PostgreSQL database).
pub async fn open(config: &Config) -> Result<Stores> {
    Ok(Stores::open(
        &config.store,
        config.recording.s3.as_ref(),
        &config.node_name,
        &config.store_path(),
        config.recording_dir.clone(),
    )
    .await?)
}
