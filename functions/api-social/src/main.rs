//! Serves the social route group (accounts, OAuth connect and callback) on API Gateway: all
//! logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chief_lambda::run_api(&chief::social::http::ROUTES, |w| Ok(w.social())).await
}
