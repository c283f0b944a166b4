//! Serves the health route group on API Gateway: all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chief_lambda::run_api(&chief::routes::api_health::ROUTES, Ok).await
}
