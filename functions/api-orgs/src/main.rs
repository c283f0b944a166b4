//! Serves the orgs route group on API Gateway: all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chief_lambda::run_api(&chief::orgs::http::ROUTES, |w| Ok(w.mailer()?.payments())).await
}
