//! Fetches the figures of recent posts (EventBridge, daily): all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chief_lambda::run_job(&chief::jobs::ANALYTICS, |w| Ok(w.social())).await
}
