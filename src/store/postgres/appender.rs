//! Group commit of audit appends: callers queue their events, one task per node takes
//! every append waiting (up to [`MAX_BATCH`]) and commits them in one transaction, which
//! holds the shared chain's head lock only for that batch. Nodes queue on the head row in
//! the database, not one event at a time.

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use super::events;
use crate::audit::{Event, EventRow};
use crate::store::{Result, StoreError};

/// Appends that may wait for the task.
const QUEUE: usize = 4096;

/// The most audit appends committed in one transaction.
const MAX_BATCH: usize = 512;

type Job = (Event, oneshot::Sender<Result<EventRow>>);

/// The handle callers use; cheap to clone.
#[derive(Clone)]
pub(super) struct Appender {
    tx: mpsc::Sender<Job>,
}

impl Appender {
    /// Starts the task that appends as `node` through `pool`.
    pub(super) fn spawn(pool: Pool, node: String) -> Appender {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, node, rx));
        Appender { tx }
    }

    /// Appends `ev` (committed with whatever other appends are waiting).
    pub(super) async fn append(&self, ev: Event) -> Result<EventRow> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((ev, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(pool: Pool, node: String, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (evs, replies): (Vec<Event>, Vec<_>) = batch.into_iter().unzip();
        let result = match pool.get().await {
            Ok(mut client) => events::append_batch(&mut client, &node, evs).await,
            Err(e) => Err(StoreError::Postgres(e.to_string())),
        };
        match result {
            Ok(rows) => {
                for (row, reply) in rows.into_iter().zip(replies) {
                    let _ = reply.send(Ok(row));
                }
            }
            Err(e) => {
                let text = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Append(text.clone())));
                }
            }
        }
    }
}
