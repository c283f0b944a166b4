//! Serves the auth route group on API Gateway: all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chief_lambda::run_api(&chief::auth::http::ROUTES, |w| Ok(w.mailer()?.google())).await
}
