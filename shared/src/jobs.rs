//! The background functions: the two schedules (executor, agent) and the two queue
//! consumers (run-task, analyze). The same handlers serve Lambda and `local`'s drain loop.

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ports::queue::QueueName;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// EventBridge, every minute.
    Executor,
    /// SQS, the tasks queue.
    RunTask,
    /// EventBridge, every hour.
    Agent,
    /// SQS, the analysis queue.
    Analyze,
}

/// A scheduled run: what it did, as the function answers.
pub async fn run_schedule(app: &App, job: Job) -> AppResult<Value> {
    let report = match job {
        Job::Executor => serde_json::to_value(crate::tasks::executor::tick(app).await?),
        Job::Agent => serde_json::to_value(crate::agent::fan_out(app).await?),
        Job::RunTask | Job::Analyze => return Err(AppError::Internal(format!("{job:?} is not a schedule"))),
    };
    report.map_err(|e| AppError::Internal(e.to_string()))
}

/// One message of a queue. `Err` means "deliver it again" (and, after the queue's maximum
/// receives, "to the dead-letter queue").
pub async fn handle_message(app: &App, queue: QueueName, body: &str) -> AppResult<Value> {
    let outcome = match queue {
        QueueName::Tasks => serde_json::to_value(crate::tasks::run::run(app, body).await?),
        QueueName::Analysis => serde_json::to_value(crate::agent::run_job(app, body).await?),
    };
    outcome.map_err(|e| AppError::Internal(e.to_string()))
}

/// An SQS batch: every message is handled; the ids of those that failed are reported, so
/// only they come back (the event source mapping has `ReportBatchItemFailures`).
pub async fn handle_batch(app: &App, queue: QueueName, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.unwrap_or_default();
        match handle_message(app, queue, record.body.as_deref().unwrap_or_default()).await {
            Ok(outcome) => tracing::info!(message_id = %id, %outcome, "job done"),
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "job failed; it will be delivered again");
                response.add_failure(id);
            }
        }
    }
    response
}

/// What one pass over a local queue did.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainReport {
    pub received: usize,
    pub done: usize,
    pub failed: usize,
}

/// Receives one batch from a queue and handles it as Lambda would: done messages are
/// acknowledged, failed ones released to come back (and to reach the DLQ in the end).
pub async fn drain_once(app: &App, queue: QueueName) -> AppResult<DrainReport> {
    let messages = app
        .queue
        .receive(queue, crate::ports::queue::MAX_BATCH)
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    let mut report = DrainReport {
        received: messages.len(),
        ..DrainReport::default()
    };
    for message in messages {
        let settled = match handle_message(app, queue, &message.body).await {
            Ok(_) => {
                report.done += 1;
                app.queue.ack(queue, &message.receipt).await
            }
            Err(e) => {
                tracing::warn!(message_id = %message.id, error = %e, receives = message.receive_count, "job failed; it will be delivered again");
                report.failed += 1;
                app.queue.release(queue, &message.receipt).await
            }
        };
        settled.map_err(|e| AppError::Unavailable(e.to_string()))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::sqs::SqsMessage;

    fn record(id: &str, body: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.into());
        message.body = Some(body.into());
        message
    }

    #[tokio::test]
    async fn a_batch_reports_only_its_failed_messages() {
        let t = crate::testing::app();
        let fine = serde_json::json!({"orgId": crate::model::new_id(), "taskId": crate::model::new_id(), "claim": 2}).to_string();
        let mut event = SqsEvent::default();
        event.records = vec![record("m1", &fine), record("m2", "{poison"), record("m3", &fine)];
        let response = handle_batch(&t.app, QueueName::Tasks, event).await;
        let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["m2"]);
    }
}

/// Against SQS on moto: the same drain `local` runs, on the SQS adapter.
#[cfg(test)]
mod on_sqs {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    #[ignore = "needs moto on AWS_ENDPOINT_URL: scripts/test runs it"]
    async fn a_poison_job_ends_in_the_dlq_while_the_rest_of_its_batch_succeeds() {
        let mut t = crate::testing::app();
        t.app.queue = Arc::new(crate::contract::job_queue::sqs_queues().await);
        let fine: Vec<String> = (0..4)
            .map(|_| serde_json::json!({"orgId": crate::model::new_id(), "taskId": crate::model::new_id(), "claim": 2}).to_string())
            .collect();
        let mut bodies = fine.clone();
        bodies.insert(2, "{\"poison\": true}".into());
        t.app.queue.send(QueueName::Tasks, &bodies).await.unwrap();
        let (mut done, mut failed) = (0, 0);
        for _ in 0..30 {
            let report = drain_once(&t.app, QueueName::Tasks).await.unwrap();
            done += report.done;
            failed += report.failed;
            if report.received == 0 && done == fine.len() && failed >= 5 {
                break;
            }
        }
        assert_eq!(
            (done, failed),
            (4, 5),
            "each good job done once; the poison tried maxReceiveCount times"
        );
        let dead = t.app.queue.dead_letters(QueueName::Tasks, 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].body, "{\"poison\": true}");
    }
}

#[cfg(test)]
mod fixtures {
    use super::*;
    use std::path::Path;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(name)).unwrap()
    }

    /// The fixtures `cargo lambda invoke --data-file` sends are events the jobs take.
    #[tokio::test]
    async fn event_fixtures_are_events_the_jobs_take() {
        let t = crate::testing::app();
        for (file, job) in [("job-executor.json", Job::Executor), ("job-agent.json", Job::Agent)] {
            let event: aws_lambda_events::eventbridge::EventBridgeEvent<Value> = serde_json::from_str(&fixture(file)).unwrap();
            assert_eq!(event.detail_type, "Scheduled Event", "{file}");
            run_schedule(&t.app, job).await.unwrap();
        }
        for (file, queue) in [("job-run-task.json", QueueName::Tasks), ("job-analyze.json", QueueName::Analysis)] {
            let event: SqsEvent = serde_json::from_str(&fixture(file)).unwrap();
            assert_eq!(event.records.len(), 1, "{file}");
            // Nothing to do on an empty store (no such task, no such org), and no failure.
            let response = handle_batch(&t.app, queue, event).await;
            assert!(response.batch_item_failures.is_empty(), "{file}");
        }
    }
}
