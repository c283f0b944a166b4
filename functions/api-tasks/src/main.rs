//! Serves the tasks route group on API Gateway: all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chief_lambda::run_api(&chief::tasks::http::ROUTES, |w| w.ai()?.events()).await
}
