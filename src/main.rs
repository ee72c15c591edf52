use clap::Parser;
use letta_rs::config::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Settings given in the environment win over the .env file; a malformed file stops
    // start-up instead of being applied in part.
    if let Err(err) = letta_rs::config::load_dotenv() {
        eprintln!("letta-rs: cannot read .env: {err}");
        return std::process::ExitCode::FAILURE;
    }
    let config = Config::parse().normalized();
    if let Err(err) = letta_rs::telemetry::init(&config.log_filter, config.log_format) {
        eprintln!("letta-rs: {err}");
        return std::process::ExitCode::FAILURE;
    }
    match letta_rs::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "letta-rs stopped");
            eprintln!("letta-rs: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
