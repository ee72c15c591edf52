//! Logging: the filter (an invalid one stops start-up), text or JSON lines on stderr, and
//! colours only for a terminal that has not asked for none (`NO_COLOR`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Directive;

use crate::config::{Config, DatabaseTarget, LogFormat, redact_url};

/// Where the ADE (Letta's web UI) finds a server on this machine.
pub const ADE_URL: &str = "https://app.letta.com/development-servers/local/dashboard";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter (RUST_LOG / --log-filter) {directive:?}: {reason}")]
    Filter { directive: String, reason: String },
}

/// Installs the log subscriber once; later calls (tests) keep the first one.
pub fn init(filter: &str, format: LogFormat) -> Result<(), TelemetryError> {
    let filter = parse_filter(filter)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already installed (tests); that one stays.
    let installed = match format {
        LogFormat::Text => builder.with_ansi(use_colour()).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_ansi(false)
            .try_init(),
    };
    if installed.is_err() {
        tracing::debug!("a log subscriber was already installed");
    }
    Ok(())
}

/// The filter, or an error naming the first directive that does not parse (the whole
/// filter when no single directive is to blame).
pub fn parse_filter(filter: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::try_new(filter).map_err(|whole| {
        let culprit = filter
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .find_map(|d| d.parse::<Directive>().err().map(|e| (d.to_owned(), e)));
        match culprit {
            Some((directive, err)) => TelemetryError::Filter {
                directive,
                reason: err.to_string(),
            },
            None => TelemetryError::Filter {
                directive: filter.to_owned(),
                reason: whole.to_string(),
            },
        }
    })
}

/// The start-up banner: what runs, on what, and where to reach it. Never a secret: URLs
/// are redacted and providers are named, not their keys.
pub fn banner(config: &Config, addr: std::net::SocketAddr) -> Vec<(&'static str, String)> {
    let database = database_label(&config.database());
    let redis = config
        .redis_url()
        .map_or_else(|| "off".to_owned(), |url| redact_url(&url));
    let mut providers = Vec::new();
    if config.openai_api_key.is_some() {
        providers.push(format!("openai ({})", config.openai_api_base));
    }
    if config.anthropic_api_key.is_some() {
        providers.push("anthropic".to_owned());
    }
    if let Some(url) = &config.ollama_base_url {
        providers.push(format!("ollama ({url})"));
    }
    let providers = if providers.is_empty() {
        "none configured".to_owned()
    } else {
        providers.join(", ")
    };
    let url = format!("http://{addr}");
    vec![
        (
            "letta-rs",
            format!(
                "{} (Letta API {})",
                env!("CARGO_PKG_VERSION"),
                crate::config::API_VERSION
            ),
        ),
        ("database", database),
        ("redis", redis),
        ("providers", providers),
        (
            "access",
            if config.secure {
                "password required (secure mode)".to_owned()
            } else {
                "open to whoever reaches the port".to_owned()
            },
        ),
        ("listening", url.clone()),
        ("api docs", format!("{url}/docs")),
        ("ADE", ADE_URL.to_owned()),
    ]
}

/// The database for logs: SQLite's path, or Postgres' URL without its password.
pub fn database_label(target: &DatabaseTarget) -> String {
    match target {
        DatabaseTarget::Postgres(url) => format!("postgres {}", redact_url(url)),
        DatabaseTarget::SqliteFile(path) => format!("sqlite {}", path.display()),
        DatabaseTarget::SqliteUrl(url) => format!("sqlite {}", redact_url(url)),
    }
}

/// Logs the banner, one info line per item.
pub fn log_banner(config: &Config, addr: std::net::SocketAddr) {
    for (what, value) in banner(config, addr) {
        tracing::info!("{what:<10} {value}");
    }
}

/// Colours only on a terminal, and never when `NO_COLOR` is set to anything
/// (<https://no-color.org>).
fn use_colour() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_directives_are_named() {
        assert!(parse_filter("info").is_ok());
        assert!(parse_filter("warn,letta_rs=debug,tower_http=trace").is_ok());
        let err = parse_filter("info,letta_rs=loud").unwrap_err().to_string();
        assert!(err.contains("\"letta_rs=loud\""), "{err}");
    }
}
