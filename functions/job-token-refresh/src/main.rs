//! Renews social tokens before they end (EventBridge, every 6 hours): all logic lives in
//! `chief`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chief_lambda::run_job(&chief::jobs::TOKEN_REFRESH, |w| w.social().mailer()).await
}
