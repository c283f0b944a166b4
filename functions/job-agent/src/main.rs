//! Runs the hourly agent's fan-out (EventBridge, every hour): all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chief_lambda::run_job(&chief::jobs::AGENT, |w| Ok(w.queue())).await
}
