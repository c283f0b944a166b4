//! Serves the health route group on API Gateway: all logic lives in `chief`. The contract it
//! serves is written from the route declarations when this function is built (`build.rs`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chief::routes::api_health::serve_contract(|| include_str!(concat!(env!("OUT_DIR"), "/openapi.json")).to_string());
    chief_lambda::run_api(&chief::routes::api_health::ROUTES, Ok).await
}
