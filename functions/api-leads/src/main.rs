//! Serves the leads route group on API Gateway: all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chief_lambda::run_api(&chief::leads::http::ROUTES, |w| w.events()).await
}
