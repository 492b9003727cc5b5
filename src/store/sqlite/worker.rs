//! The thread that owns the sqlite connection. Callers hand it jobs through a bounded
//! queue and await the answer, so no sqlite call ever runs on an async runtime thread, and
//! a full queue makes callers wait instead of growing memory.
//!
//! Audit appends are the hot path: the thread takes every append waiting in the queue
//! (up to [`MAX_BATCH`]) and commits them in one transaction, so the chain grows by
//! thousands of events a second with the database's durability settings unchanged.

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::events;
use crate::audit::{Event, EventRow};
use crate::store::{Result, StoreError};

/// Jobs that may wait for the thread.
const QUEUE: usize = 1024;

/// The most audit appends committed in one transaction.
pub(super) const MAX_BATCH: usize = 512;

type Work = Box<dyn FnOnce(&mut Connection) + Send>;

enum Job {
    Append(Event, oneshot::Sender<Result<EventRow>>),
    Run(Work),
}

/// The handle callers use; cheap to clone.
#[derive(Clone)]
pub(super) struct Worker {
    tx: mpsc::Sender<Job>,
}

impl Worker {
    /// Starts the thread that owns `conn`.
    pub(super) fn spawn(conn: Connection) -> std::io::Result<Worker> {
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("oobgate-store".into())
            .spawn(move || run(conn, rx))?;
        Ok(Worker { tx })
    }

    /// Runs `f` on the store's connection and returns its result.
    pub(super) async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (reply, answer) = oneshot::channel();
        let work: Work = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.tx
            .send(Job::Run(work))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Appends `ev` to the chain (committed with whatever other appends are waiting).
    pub(super) async fn append(&self, ev: Event) -> Result<EventRow> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Append(ev, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>) {
    let mut next = rx.blocking_recv();
    while let Some(job) = next.take() {
        match job {
            Job::Run(work) => work(&mut conn),
            Job::Append(ev, reply) => {
                let mut batch = vec![(ev, reply)];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Job::Append(ev, reply)) => batch.push((ev, reply)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit(&mut conn, batch);
            }
        }
        if next.is_none() {
            next = rx.blocking_recv();
        }
    }
}

fn commit(conn: &mut Connection, batch: Vec<(Event, oneshot::Sender<Result<EventRow>>)>) {
    let (evs, replies): (Vec<Event>, Vec<_>) = batch.into_iter().unzip();
    match events::append_batch(conn, evs) {
        Ok(rows) => {
            for (reply, row) in replies.into_iter().zip(rows) {
                let _ = reply.send(Ok(row));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "audit append failed");
            let text = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::Append(text.clone())));
            }
        }
    }
}
