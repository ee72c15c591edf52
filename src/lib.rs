//! letta-rs: a Letta-compatible stateful agent server.
//!
//! Layers, one direction: [`api`] (HTTP) → [`dispatch`] (a request becomes a run) →
//! [`agent`] (one agent's turn) → [`tools`] (tool calls by type) → [`services`] (resource
//! managers, transactions) → [`store`] (SQL), [`llm`] (model providers), [`runs`] (runs in
//! flight), [`sandbox`] (user code out of process), [`ingest`] (text into passages) →
//! [`schemas`] (wire types), [`config`].
//!
//! [`state::AppState`] is plain data shared by the layers above services; each of them
//! builds the services it calls from the fields those services need.

pub mod agent;
pub mod api;
pub mod config;
pub mod dispatch;
pub mod ingest;
pub mod llm;
pub mod mcp;
pub mod meters;
pub mod replica;
pub mod runs;
pub mod sandbox;
pub mod schemas;
pub mod services;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tools;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::state::AppState;

pub use config::API_VERSION as VERSION;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("redis at {url}: {source}{}", redis_hint(source))]
    Redis {
        /// Redacted.
        url: String,
        source: runs::BusError,
    },
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// What to do about an unreachable Redis (nothing to suggest for a malformed URL).
fn redis_hint(err: &runs::BusError) -> &'static str {
    match err {
        runs::BusError::InvalidUrl(_) => "",
        _ => " (to start without it, degraded, pass --redis-optional)",
    }
}

/// A server bound to a socket, ready to serve.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects the store, runs migrations, seeds defaults and binds the listener.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let target = config.database();
        tracing::info!(database = %telemetry::database_label(&target), "opening the database");
        let store = store::connect(&target, config.pool_size()).await?;
        tracing::info!(backend = store.backend(), "database ready");
        // Without Redis no other replica can share this database's runs (see
        // docs/compatibility.md), so everything unfinished was left by a stopped process.
        let alone = config.redis_url().is_none();
        let app = Self::build_with_store(config, store).await?;
        // Only a process that opened the database itself: tests run several apps on one
        // store in one process, and they must not release each other's leases.
        dispatch::release_leftovers_at_start(&app.state, alone).await;
        Ok(app)
    }

    /// Like [`Application::build`] with an already opened store (tests share one).
    pub async fn build_with_store(
        mut config: Config,
        store: store::DynStore,
    ) -> Result<Self, StartError> {
        let addr = format!("{}:{}", config.host, config.port);
        let redis = match config.redis_url() {
            Some(url) => {
                let bus = runs::RedisBus::connect(
                    &url,
                    config.redis_connect_timeout(),
                    config.redis_timeout(),
                    config.redis_optional,
                )
                .await
                .map_err(|source| StartError::Redis {
                    url: config::redact_url(&url),
                    source,
                })?;
                if bus.is_up() {
                    tracing::info!(url = %config::redact_url(&url), "redis ready: runs are shared across replicas");
                }
                Some(bus)
            }
            None => None,
        };
        secure_mode_password(&mut config);
        meters::start();
        let hub = runs::RunHub::new(redis.into());
        services::seed_defaults(&store).await?;
        let state = AppState::new(Arc::new(config), store, hub);
        dispatch::recover_unfinished_runs(&state).await;
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Ok(Application { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn serve_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        use axum::serve::ListenerExt;
        let state = self.state.clone();
        let app = api::app(self.state);
        // SSE streams are many small writes; Nagle's algorithm would hold each one back
        // until the client's delayed ACK (~40 ms).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "could not set TCP_NODELAY");
            }
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(StartError::Serve);
        dispatch::stop_local_runs(&state).await;
        served
    }
}

/// In secure mode without a configured password, makes one up and prints it once: as with
/// the original, that line is the only way to learn it. Bound beyond loopback without
/// secure mode, anyone who reaches the port controls every agent: say so.
fn secure_mode_password(config: &mut Config) {
    if config.secure && config.server_password.is_none() {
        let password = api::security::generate_password();
        eprintln!("letta-rs: secure mode is on; generated server password: {password}");
        config.server_password = Some(config::Secret::new(password));
    }
    if !config.secure && !api::security::is_loopback_host(&config.host) {
        tracing::warn!(
            host = %config.host,
            "listening beyond loopback without --secure: anyone who reaches this port can read and change every agent"
        );
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<(), StartError> {
    let app = Application::build(config).await?;
    telemetry::log_banner(&app.state().config, app.local_addr());
    app.serve_until(shutdown_signal()).await?;
    tracing::info!("letta-rs stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
