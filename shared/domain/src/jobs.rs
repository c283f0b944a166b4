//! The background functions, each declared once as a [`JobSpec`]: the schedules (executor,
//! agent, analytics) and the queue consumers (run-task, analyze, publish). The same handlers serve
//! Lambda and `local`'s timers and drain loop.

use crate::app::App;
use crate::error::AppResult;
use crate::ports::Port;
use crate::ports::queue::QueueName;
use futures::future::BoxFuture;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Executor,
    RunTask,
    Agent,
    Analyze,
    Publish,
    Analytics,
    TokenRefresh,
    ClientHealth,
}

/// A background job, declared once: its function, what triggers it and with what handler,
/// and the optional ports its work uses. Lambda's entry point (`chief_lambda::run_job`),
/// `local`'s timers, drain and `/local/jobs/{function}/run`, and the check against
/// `template.yaml` derive from it. A function's `main.rs` names its own spec (not a [`Job`],
/// whose lookup reaches every spec), so its binary links only its own job's code.
pub struct JobSpec {
    pub function: &'static str,
    pub trigger: Trigger,
    pub ports: &'static [Port],
}

pub enum Trigger {
    /// An EventBridge schedule.
    Schedule(Scheduled),
    /// An SQS queue.
    Queue(Consumer),
}

pub struct Scheduled {
    /// `rate(…)` in `template.yaml`.
    pub every: Rate,
    pub run: ScheduleHandler,
}

pub struct Consumer {
    pub queue: QueueName,
    /// Receives before a message goes to the dead-letter queue (`maxReceiveCount`).
    pub max_receives: u32,
    pub timing: Timing,
    pub handle: MessageHandler,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    Minute,
    Hour,
    SixHours,
    Day,
}

impl Rate {
    pub fn period(self) -> std::time::Duration {
        std::time::Duration::from_secs(match self {
            Rate::Minute => 60,
            Rate::Hour => 3_600,
            Rate::SixHours => 21_600,
            Rate::Day => 86_400,
        })
    }

    /// As `template.yaml` writes it.
    pub fn expression(self) -> &'static str {
        match self {
            Rate::Minute => "rate(1 minute)",
            Rate::Hour => "rate(1 hour)",
            Rate::SixHours => "rate(6 hours)",
            Rate::Day => "rate(1 day)",
        }
    }
}

/// A scheduled run: what it did, as the function answers.
pub type ScheduleHandler = for<'a> fn(&'a App) -> BoxFuture<'a, AppResult<Value>>;
/// One message of a queue. `Err` means "deliver it again" (and, after the queue's maximum
/// receives, "to the dead-letter queue").
pub type MessageHandler = for<'a> fn(&'a App, &'a str) -> BoxFuture<'a, AppResult<Value>>;

fn report<T: serde::Serialize>(value: T) -> AppResult<Value> {
    Ok(serde_json::to_value(value)?)
}

pub const EXECUTOR: JobSpec = JobSpec {
    function: "job-executor",
    trigger: Trigger::Schedule(Scheduled {
        every: Rate::Minute,
        run: |app| Box::pin(async move { report(crate::executor::tick(app).await?) }),
    }),
    ports: &[Port::Queue(QueueName::Tasks), Port::Queue(QueueName::Publish)],
};

pub const AGENT: JobSpec = JobSpec {
    function: "job-agent",
    trigger: Trigger::Schedule(Scheduled {
        every: Rate::Hour,
        run: |app| Box::pin(async move { report(crate::agent::fan_out(app).await?) }),
    }),
    ports: &[Port::Queue(QueueName::Analysis)],
};

/// One message may take an AI call (25 s with its retries), its store calls and, for a
/// campaign, up to 50 mails.
pub const RUN_TASK: JobSpec = JobSpec {
    function: "job-run-task",
    trigger: Trigger::Queue(Consumer {
        queue: QueueName::Tasks,
        max_receives: MAX_RECEIVES,
        timing: Timing {
            batch_size: 5,
            item_budget: std::time::Duration::from_secs(150),
        },
        handle: |app, body| Box::pin(async move { report(crate::runner::run(app, body).await?) }),
    }),
    ports: &[Port::Ai, Port::Mailer, Port::Social, Port::Events],
};

/// One message may rescore 20 leads and propose a post (an AI call); or read one
/// interaction's sentiment (an AI call) and recompute its client; or recompute every active
/// client of one org for the day (at most 5,000, one store write each).
pub const ANALYZE: JobSpec = JobSpec {
    function: "job-analyze",
    trigger: Trigger::Queue(Consumer {
        queue: QueueName::Analysis,
        max_receives: MAX_RECEIVES,
        timing: Timing {
            batch_size: 10,
            item_budget: std::time::Duration::from_secs(90),
        },
        handle: |app, body| {
            Box::pin(async move {
                if crate::clients::daily::ClientJob::is_one(body) {
                    crate::clients::daily::run_job(app, body).await
                } else {
                    report(crate::agent::run_job(app, body).await?)
                }
            })
        },
    }),
    ports: &[Port::Ai, Port::Events, Port::Mailer],
};

/// One message is one post: two store reads, a ledger write, one platform call (or a check
/// and a call), and the post's settlement.
pub const PUBLISH: JobSpec = JobSpec {
    function: "job-publish",
    trigger: Trigger::Queue(Consumer {
        queue: QueueName::Publish,
        max_receives: MAX_RECEIVES,
        timing: Timing {
            batch_size: 10,
            item_budget: std::time::Duration::from_secs(60),
        },
        handle: |app, body| Box::pin(async move { report(crate::content::publish::run(app, body).await?) }),
    }),
    ports: &[Port::Social, Port::Events, Port::Mailer],
};

/// Once a day: the figures of the posts published in the last 30 days.
pub const ANALYTICS: JobSpec = JobSpec {
    function: "job-analytics",
    trigger: Trigger::Schedule(Scheduled {
        every: Rate::Day,
        run: |app| Box::pin(async move { report(crate::content::analytics::measure(app).await?) }),
    }),
    ports: &[Port::Social],
};

/// Every 6 hours: renew the tokens that end within 7 days (see `social::refresh`).
pub const TOKEN_REFRESH: JobSpec = JobSpec {
    function: "job-token-refresh",
    trigger: Trigger::Schedule(Scheduled {
        every: Rate::SixHours,
        run: |app| Box::pin(async move { report(crate::social::refresh::run(app).await?) }),
    }),
    ports: &[Port::Social, Port::Mailer],
};

/// Once a day: one recompute job per org with active clients (see `clients::daily`).
pub const CLIENT_HEALTH: JobSpec = JobSpec {
    function: "job-client-health",
    trigger: Trigger::Schedule(Scheduled {
        every: Rate::Day,
        run: |app| Box::pin(async move { report(crate::clients::daily::fan_out(app).await?) }),
    }),
    ports: &[Port::Queue(QueueName::Analysis)],
};

/// Receives before a message becomes a dead letter: `maxReceiveCount` in `template.yaml`.
pub const MAX_RECEIVES: u32 = 5;

impl Job {
    pub const ALL: [Job; 8] = [
        Job::Executor,
        Job::RunTask,
        Job::Agent,
        Job::Analyze,
        Job::Publish,
        Job::Analytics,
        Job::TokenRefresh,
        Job::ClientHealth,
    ];

    pub fn spec(self) -> &'static JobSpec {
        match self {
            Job::Executor => &EXECUTOR,
            Job::RunTask => &RUN_TASK,
            Job::Agent => &AGENT,
            Job::Analyze => &ANALYZE,
            Job::Publish => &PUBLISH,
            Job::Analytics => &ANALYTICS,
            Job::TokenRefresh => &TOKEN_REFRESH,
            Job::ClientHealth => &CLIENT_HEALTH,
        }
    }

    pub fn function(self) -> &'static str {
        self.spec().function
    }

    pub fn ports(self) -> &'static [Port] {
        self.spec().ports
    }

    /// The job that consumes a queue.
    pub fn consuming(queue: QueueName) -> &'static Consumer {
        Job::ALL
            .iter()
            .find_map(|j| match &j.spec().trigger {
                Trigger::Queue(consumer) if consumer.queue == queue => Some(consumer),
                _ => None,
            })
            .expect("every queue has its consumer")
    }

    /// A scheduled job by its function's name, for `local`'s run-now route.
    pub fn scheduled(function: &str) -> Option<&'static Scheduled> {
        Job::ALL.iter().find_map(|j| match &j.spec().trigger {
            Trigger::Schedule(scheduled) if j.function() == function => Some(scheduled),
            _ => None,
        })
    }
}

/// One message of a queue, by the job that consumes it.
pub async fn handle_message(app: &App, queue: QueueName, body: &str) -> AppResult<Value> {
    (Job::consuming(queue).handle)(app, body).await
}

/// How a queue's messages fit in their function. `template.yaml` agrees (a test checks): the
/// event source's `BatchSize` is `batch_size`, the function's `Timeout` leaves room for one
/// `item_budget` (a batch's messages run at once), and the queue's `VisibilityTimeout` is at
/// least six times the function's `Timeout`, as AWS advises.
pub struct Timing {
    pub batch_size: usize,
    /// The most one message may take. A message still running then is stopped and comes
    /// back, and its effects are keyed so that the next run does only what is left.
    pub item_budget: std::time::Duration,
}

/// Time kept back from the function's deadline to answer the batch.
const ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_secs(3);
/// With less time than this left, a message is not started: it comes back whole.
const MIN_START: std::time::Duration = std::time::Duration::from_secs(1);

/// One message of a delivered batch: its id and its body.
pub struct Delivered {
    pub id: String,
    pub body: String,
}

/// A delivered batch: its messages are handled at once, each within its queue's item budget
/// and the function's deadline (`deadline`, when the runtime gives one). Answers the ids of
/// the messages that failed or ran out of time, so only they come back (the SQS event source
/// mapping has `ReportBatchItemFailures`); what finished is not done again.
pub async fn handle_batch(app: &App, consumer: &Consumer, batch: Vec<Delivered>, deadline: Option<std::time::Instant>) -> Vec<String> {
    let budget = consumer.timing.item_budget;
    let limit = match deadline {
        Some(deadline) => budget.min(
            deadline
                .saturating_duration_since(std::time::Instant::now())
                .saturating_sub(ANSWER_MARGIN),
        ),
        None => budget,
    };
    let handled = futures::future::join_all(batch.into_iter().map(|Delivered { id, body }| async move {
        if limit < MIN_START {
            tracing::warn!(message_id = %id, "no time left to start the job; it will be delivered again");
            return Some(id);
        }
        match tokio::time::timeout(limit, (consumer.handle)(app, &body)).await {
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
    handled.into_iter().flatten().collect()
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
    let messages = app.queue.receive(queue, crate::ports::queue::MAX_BATCH).await?;
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
        settled?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, body: &str) -> Delivered {
        Delivered {
            id: id.into(),
            body: body.into(),
        }
    }

    #[tokio::test]
    async fn a_batch_reports_only_its_failed_messages() {
        let t = crate::testing::app();
        let fine = serde_json::json!({"orgId": crate::model::new_id(), "taskId": crate::model::new_id(), "claim": 2}).to_string();
        let batch = vec![record("m1", &fine), record("m2", "{poison"), record("m3", &fine)];
        let failed = handle_batch(&t.app, Job::consuming(QueueName::Tasks), batch, None).await;
        assert_eq!(failed, ["m2"]);
    }

    #[tokio::test]
    async fn a_batch_near_its_deadline_reports_only_what_did_not_finish() {
        let t = crate::testing::app();
        let fine = serde_json::json!({"orgId": crate::model::new_id(), "taskId": crate::model::new_id(), "claim": 2}).to_string();
        let batch = || vec![record("m1", &fine), record("m2", &fine)];
        // No time left: nothing is started, so everything comes back.
        let failed = handle_batch(&t.app, Job::consuming(QueueName::Tasks), batch(), Some(std::time::Instant::now())).await;
        assert_eq!(failed.len(), 2);
        let failed = handle_batch(
            &t.app,
            Job::consuming(QueueName::Tasks),
            batch(),
            Some(std::time::Instant::now() + std::time::Duration::from_secs(60)),
        )
        .await;
        assert!(failed.is_empty());
    }

    /// `template.yaml`'s functions fit the jobs as declared: a schedule's rate; a queue's
    /// batch size, dead-letter count, and a timeout that leaves room for one message's budget
    /// with a visibility timeout at least six times it.
    #[test]
    fn template_functions_fit_their_jobs() {
        let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(include_str!("../../../template.yaml")).unwrap();
        let resources = template["Resources"].as_mapping().unwrap();
        for job in Job::ALL {
            let spec = job.spec();
            let props = &resources
                .values()
                .find(|r| r["Metadata"]["BuildProperties"]["Binary"] == spec.function)
                .unwrap_or_else(|| panic!("{} is not in template.yaml", spec.function))["Properties"];
            let events: Vec<&serde_yaml_ng::Value> = props["Events"].as_mapping().unwrap().values().collect();
            match &spec.trigger {
                Trigger::Schedule(scheduled) => {
                    let rates: Vec<&str> = events.iter().filter_map(|e| e["Properties"]["Schedule"].as_str()).collect();
                    assert_eq!(rates, [scheduled.every.expression()], "{}", spec.function);
                }
                Trigger::Queue(consumer) => {
                    let sqs = events.iter().find(|e| e["Type"] == "SQS").expect("an SQS event");
                    let timeout = props["Timeout"].as_u64().unwrap();
                    let batch = sqs["Properties"]["BatchSize"].as_u64().unwrap();
                    let queue = match &sqs["Properties"]["Queue"] {
                        serde_yaml_ng::Value::Tagged(tagged) => tagged.value.as_str().unwrap().trim_end_matches(".Arn").to_string(),
                        other => panic!("{}: Queue is {other:?}", spec.function),
                    };
                    let queue = &resources[queue.as_str()]["Properties"];
                    let visibility = queue["VisibilityTimeout"].as_u64().unwrap();
                    assert_eq!(batch as usize, consumer.timing.batch_size, "{}: BatchSize", spec.function);
                    assert_eq!(
                        queue["RedrivePolicy"]["maxReceiveCount"].as_u64(),
                        Some(u64::from(consumer.max_receives))
                    );
                    assert!(
                        timeout >= (consumer.timing.item_budget + ANSWER_MARGIN).as_secs(),
                        "{}: Timeout {timeout} s leaves no room for one message's {:?}",
                        spec.function,
                        consumer.timing.item_budget
                    );
                    assert!(
                        visibility >= 6 * timeout,
                        "{}: VisibilityTimeout {visibility} < 6 × {timeout}",
                        spec.function
                    );
                }
            }
        }
    }
}
