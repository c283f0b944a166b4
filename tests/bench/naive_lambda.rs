//! A second reference for start-up figures: a function written the way the SDK's examples
//! write one, loading the configuration and building a DynamoDB client (with Chief's HTTPS
//! client) before the runtime starts. What Chief's functions no longer do at start-up is what
//! this one still does.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = chief_adapters::aws::load().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let client = &client;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let _ = client;
            Ok::<_, lambda_runtime::Error>(event.payload)
        },
    ))
    .await
}
