//! Firmware updates: `UpdateService.SimpleUpdate` from an image URL, and following the
//! task it starts until it ends or a deadline passes, reporting progress as it goes.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::client::Client;
use super::model::{Task, UpdateService};
use super::{RedfishError, Result};

/// A task started by the BMC (its path: a task resource or a task monitor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRef {
    /// The path to poll.
    pub path: String,
}

/// What is called with each new progress of a task.
pub type OnProgress<'a> = dyn FnMut(&TaskProgress) + Send + 'a;

/// A task's progress as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskProgress {
    /// `TaskState` (`New`, `Running`, `Completed`, `Exception`...).
    pub state: String,
    /// `TaskStatus` (`OK`, `Warning`, `Critical`).
    pub status: Option<String>,
    /// `PercentComplete`.
    pub percent: Option<u32>,
    /// Its messages.
    pub messages: Vec<String>,
}

impl TaskProgress {
    fn from_task(t: Task) -> TaskProgress {
        TaskProgress {
            state: t.task_state,
            status: t.task_status,
            percent: t.percent_complete,
            messages: t
                .messages
                .into_iter()
                .filter_map(|m| m.message.or(m.message_id))
                .collect(),
        }
    }

    /// Whether the task has ended, one way or the other.
    pub fn is_done(&self) -> bool {
        matches!(
            self.state.as_str(),
            "Completed" | "Exception" | "Killed" | "Cancelled" | "Interrupted"
        )
    }

    /// Whether it ended well.
    pub fn succeeded(&self) -> bool {
        self.state == "Completed" && !matches!(self.status.as_deref(), Some("Critical"))
    }
}

impl std::fmt::Display for TaskProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.state)?;
        if let Some(p) = self.percent {
            write!(f, " {p}%")?;
        }
        if let Some(m) = self.messages.last() {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

impl Client {
    /// Starts `UpdateService.SimpleUpdate` of the image at `image_url` applied to
    /// `targets` (resource paths; empty lets the BMC decide). Returns the task it started,
    /// or `None` when the BMC finished at once without one.
    pub async fn simple_update(
        &self,
        image_url: &str,
        targets: &[String],
    ) -> Result<Option<TaskRef>> {
        let us = self
            .root
            .update_service
            .as_ref()
            .ok_or_else(|| self.unsupported("the service root lists no UpdateService"))?;
        let svc: UpdateService = self.t.get(&us.id, "UpdateService").await?;
        if svc.service_enabled == Some(false) {
            return Err(self.unsupported("the UpdateService is disabled"));
        }
        let action = svc
            .actions
            .and_then(|a| a.simple_update)
            .ok_or_else(|| self.unsupported("the UpdateService offers no SimpleUpdate action"))?;
        let mut body = json!({ "ImageURI": image_url });
        let scheme = image_url
            .split(':')
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        if action.transfer_protocols.contains(&scheme) {
            body["TransferProtocol"] = json!(scheme);
        }
        if !targets.is_empty() {
            body["Targets"] = json!(targets);
        }
        let reply = self
            .t
            .send(Method::POST, &action.target, Some(&body))
            .await?;
        if let Some(loc) = reply.header("Location") {
            return Ok(Some(TaskRef {
                path: self.t.path_of(loc)?,
            }));
        }
        let id = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| {
                v.get("@odata.id")
                    .and_then(|i| i.as_str())
                    .map(String::from)
            });
        match id {
            Some(p) => Ok(Some(TaskRef {
                path: self.t.path_of(&p)?,
            })),
            None => Ok(None),
        }
    }

    /// The task's progress now. A task monitor that answers anything but 202 with no task
    /// in its body has finished: that reads as `Completed`.
    pub async fn task(&self, task: &TaskRef) -> Result<TaskProgress> {
        let reply = self.t.send(Method::GET, &task.path, None).await?;
        let is_task = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .is_some_and(|v| v.get("TaskState").is_some());
        if !is_task && reply.status != StatusCode::ACCEPTED {
            return Ok(TaskProgress {
                state: "Completed".into(),
                status: None,
                percent: Some(100),
                messages: Vec::new(),
            });
        }
        let t: Task = self.t.decode("Task", &task.path, &reply.body)?;
        Ok(TaskProgress::from_task(t))
    }

    /// Polls `task` every `every` until it ends or `deadline` passes, calling `progress`
    /// whenever what it reads changes. A task that ends badly is [`RedfishError::TaskFailed`]
    /// with its messages; one still running at the deadline is
    /// [`RedfishError::TaskTimeout`] with the last progress seen.
    pub async fn follow_task(
        &self,
        task: &TaskRef,
        deadline: Duration,
        every: Duration,
        progress: &mut OnProgress<'_>,
    ) -> Result<TaskProgress> {
        let end = Instant::now() + deadline;
        let mut last: Option<TaskProgress> = None;
        loop {
            let now = self.task(task).await?;
            if last.as_ref() != Some(&now) {
                progress(&now);
            }
            if now.is_done() {
                if now.succeeded() {
                    return Ok(now);
                }
                return Err(RedfishError::TaskFailed {
                    bmc: self.bmc().to_string(),
                    task: task.path.clone(),
                    state: now.state.clone(),
                    messages: if now.messages.is_empty() {
                        "no message".into()
                    } else {
                        self.t.redact(&now.messages.join("; "))
                    },
                });
            }
            if Instant::now() >= end {
                return Err(RedfishError::TaskTimeout {
                    bmc: self.bmc().to_string(),
                    task: task.path.clone(),
                    seconds: deadline.as_secs_f64(),
                    last: now.to_string(),
                });
            }
            last = Some(now);
            tokio::time::sleep(every.min(end.saturating_duration_since(Instant::now()))).await;
        }
    }
}
