//! Runs the publishing pipeline (SQS, the publish queue): all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chief_lambda::run_job(&chief::jobs::PUBLISH, |w| w.social().events()?.mailer()).await
}
