//! Serves the deals route group (sponsors, deals, deliverables, follow-ups, the pipeline) on
//! API Gateway: all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chief_lambda::run_api(&chief::deals::http::ROUTES, |w| w.ai()?.events()).await
}
