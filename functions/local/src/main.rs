//! `cargo run -p local`: every route on 127.0.0.1:3000 (see `chief-local`).

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let outcome = match chief_local::LocalConfig::from_env() {
        Ok(config) => chief_local::run(config).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = outcome {
        eprintln!("chief local: {e}");
        std::process::exit(1);
    }
}
