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

impl Job {
    pub const ALL: [Job; 4] = [Job::Executor, Job::RunTask, Job::Agent, Job::Analyze];

    /// The Lambda function that runs it.
    pub fn function(self) -> &'static str {
        match self {
            Job::Executor => "job-executor",
            Job::RunTask => "job-run-task",
            Job::Agent => "job-agent",
            Job::Analyze => "job-analyze",
        }
    }

    /// The optional ports its work uses.
    pub fn ports(self) -> &'static [crate::ports::Port] {
        use crate::ports::Port;
        match self {
            Job::Executor | Job::Agent => &[Port::Queue],
            Job::RunTask => &[Port::Ai, Port::Mailer, Port::Social, Port::Events],
            Job::Analyze => &[Port::Ai, Port::Events],
        }
    }
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

/// How a queue's messages fit in their function. `template.yaml` agrees (a test checks): the
/// event source's `BatchSize` is `batch_size`, the function's `Timeout` leaves room for one
/// `item_budget` (a batch's messages run at once), and the queue's `VisibilityTimeout` is at
/// least six times the function's `Timeout`, as AWS advises.
pub struct Timing {
    pub batch_size: usize,
    /// The most one message may take: one AI call (25 s with its retries), its store calls
    /// and, for a campaign, up to 50 mails; an analysis rescoring 20 leads and proposing a
    /// post. A message still running then is stopped and comes back, and its effects are
    /// keyed so that the next run does only what is left.
    pub item_budget: std::time::Duration,
}

pub fn timing(queue: QueueName) -> Timing {
    let (batch_size, seconds) = match queue {
        QueueName::Tasks => (5, 150),
        QueueName::Analysis => (10, 90),
    };
    Timing {
        batch_size,
        item_budget: std::time::Duration::from_secs(seconds),
    }
}

/// Time kept back from the function's deadline to answer the batch.
const ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_secs(3);
/// With less time than this left, a message is not started: it comes back whole.
const MIN_START: std::time::Duration = std::time::Duration::from_secs(1);

/// An SQS batch: its messages are handled at once, each within its queue's item budget and
/// the function's deadline (`deadline`, when Lambda gives one). The ids of the messages that
/// failed or ran out of time are reported, so only they come back (the event source mapping
/// has `ReportBatchItemFailures`); what finished is not done again.
pub async fn handle_batch(app: &App, queue: QueueName, event: SqsEvent, deadline: Option<std::time::Instant>) -> SqsBatchResponse {
    let budget = timing(queue).item_budget;
    let limit = match deadline {
        Some(deadline) => budget.min(
            deadline
                .saturating_duration_since(std::time::Instant::now())
                .saturating_sub(ANSWER_MARGIN),
        ),
        None => budget,
    };
    let handled = futures::future::join_all(event.records.into_iter().map(|record| async move {
        let id = record.message_id.unwrap_or_default();
        let body = record.body.unwrap_or_default();
        if limit < MIN_START {
            tracing::warn!(message_id = %id, "no time left to start the job; it will be delivered again");
            return Some(id);
        }
        match tokio::time::timeout(limit, handle_message(app, queue, &body)).await {
            Ok(Ok(outcome)) => {
                tracing::info!(message_id = %id, %outcome, "job done");
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(message_id = %id, error = %e, "job failed; it will be delivered again");
                Some(id)
            }
            Err(_) => {
                tracing::warn!(message_id = %id, limit_ms = limit.as_millis() as u64, "job ran out of time; it will be delivered again");
                Some(id)
            }
        }
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for id in handled.into_iter().flatten() {
        response.add_failure(id);
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
        let response = handle_batch(&t.app, QueueName::Tasks, event, None).await;
        let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["m2"]);
    }

    #[tokio::test]
    async fn a_batch_near_its_deadline_reports_only_what_did_not_finish() {
        let t = crate::testing::app();
        let fine = serde_json::json!({"orgId": crate::model::new_id(), "taskId": crate::model::new_id(), "claim": 2}).to_string();
        let mut event = SqsEvent::default();
        event.records = vec![record("m1", &fine), record("m2", &fine)];
        // No time left: nothing is started, so everything comes back.
        let response = handle_batch(&t.app, QueueName::Tasks, event.clone(), Some(std::time::Instant::now())).await;
        assert_eq!(response.batch_item_failures.len(), 2);
        let response = handle_batch(
            &t.app,
            QueueName::Tasks,
            event,
            Some(std::time::Instant::now() + std::time::Duration::from_secs(60)),
        )
        .await;
        assert!(response.batch_item_failures.is_empty());
    }

    /// `template.yaml`'s functions, event sources and queues fit the jobs' timing.
    #[test]
    fn template_batches_timeouts_and_visibility_fit_the_jobs() {
        let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(include_str!("../../template.yaml")).unwrap();
        let resources = &template["Resources"];
        for (function, event, queue_resource, queue) in [
            ("RunTaskFunction", "Tasks", "TaskQueue", QueueName::Tasks),
            ("AnalyzeFunction", "Analyses", "AnalysisQueue", QueueName::Analysis),
        ] {
            let props = &resources[function]["Properties"];
            let timeout = props["Timeout"].as_u64().expect(function);
            let batch = props["Events"][event]["Properties"]["BatchSize"].as_u64().expect(event);
            let visibility = resources[queue_resource]["Properties"]["VisibilityTimeout"]
                .as_u64()
                .expect(queue_resource);
            let timing = timing(queue);
            assert_eq!(batch as usize, timing.batch_size, "{function}: BatchSize");
            assert!(
                timeout >= (timing.item_budget + ANSWER_MARGIN).as_secs(),
                "{function}: Timeout {timeout} s leaves no room for one message's {:?}",
                timing.item_budget
            );
            assert!(
                visibility >= 6 * timeout,
                "{queue_resource}: VisibilityTimeout {visibility} < 6 × {timeout}"
            );
        }
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
            let response = handle_batch(&t.app, queue, event, None).await;
            assert!(response.batch_item_failures.is_empty(), "{file}");
        }
    }
}
