use clap::Parser;
use letta_rs::config::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A .env file is optional; settings given in the environment win over it.
    let _ = dotenvy::dotenv();
    let config = Config::parse().normalized();
    letta_rs::telemetry::init(&config.log_filter);
    match letta_rs::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "letta-rs stopped");
            eprintln!("letta-rs: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
