//! Serves the content route group (profile, strategies, posts, calendar, social accounts)
//! on API Gateway: all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chief_lambda::run_api(&chief::content::http::ROUTES, |w| w.ai()).await
}
