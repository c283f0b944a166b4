//! Receives Stripe's webhook on a Lambda function URL: all logic lives in `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chief_lambda::run_api(&chief::billing::http::stripe_webhook::ROUTES, |w| w.events()).await
}
