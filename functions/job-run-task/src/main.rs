//! Runs the task runner (SQS, the tasks queue): all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chief_lambda::run_job(&chief::jobs::RUN_TASK, |w| w.ai()?.mailer()?.social().events()).await
}
