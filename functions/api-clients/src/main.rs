//! Serves the clients route group (clients, health, surveys and their public pages, alerts)
//! on API Gateway: all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chief_lambda::run_api(&chief::clients::http::ROUTES, |w| Ok(w.ai()?.queue())).await
}
