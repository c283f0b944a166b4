//! Runs the org analysis (SQS, the analysis queue): all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chief_lambda::run_job(&chief::jobs::ANALYZE, |w| w.ai()?.events()?.mailer()).await
}
