//! Runs the minute executor (EventBridge, every minute): all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chief_lambda::run_job(&chief::jobs::EXECUTOR, |w| Ok(w.queue())).await
}
