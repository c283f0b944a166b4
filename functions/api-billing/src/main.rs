//! Serves the billing route group on API Gateway: all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chief_lambda::run_api(&chief::billing::http::ROUTES, |w| Ok(w.payments())).await
}
