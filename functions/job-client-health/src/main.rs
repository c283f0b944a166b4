//! Runs the daily client-health fan-out (EventBridge, once a day): all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chief_lambda::run_job(&chief::jobs::CLIENT_HEALTH, |w| Ok(w.queue())).await
}
