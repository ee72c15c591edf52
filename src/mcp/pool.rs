//! Warm MCP sessions, one per stored server, reused by every call to that server.
//!
//! A session is dropped (a stdio server's process group killed with it) and a new one made
//! on the next call when: the server's configuration changed, the connection closed (the
//! server exited or crashed, or an HTTP server restarted and lost the session), a call
//! timed out (the server may be stuck), or the server was deleted. A request that could not
//! even be sent on a stale session is retried once on a fresh one; a call that was cut off
//! mid-way is not (the server may have acted on it): it fails, and the next call reconnects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};

use super::{CallOutcome, McpError, McpSession, McpTarget};
use crate::schemas::mcp::McpTool;

/// How long connecting, listing and calling may take, and whether stdio servers may run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McpSettings {
    /// Starting or reaching a server and the MCP handshake.
    pub connect: Duration,
    /// Listing a server's tools.
    pub list: Duration,
    /// One tool call.
    pub call: Duration,
    pub allow_stdio: bool,
}

/// Seconds from a setting; at least 10 ms, and a bad value (negative, NaN) is 1 s.
fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.01)).unwrap_or(Duration::from_secs(1))
}

impl McpSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        McpSettings {
            connect: secs(config.mcp_connect_to_server_timeout),
            list: secs(config.mcp_list_tools_timeout),
            call: secs(config.mcp_execute_tool_timeout),
            allow_stdio: !config.mcp_disable_stdio,
        }
    }
}

/// Why a stdio server is refused when they are disabled.
pub const STDIO_DISABLED: &str = "stdio MCP servers are disabled on this server (MCP_DISABLE_STDIO); use an SSE or streamable HTTP server";

#[derive(Default)]
struct Slot {
    /// The session and the fingerprint of the target it was made for.
    session: tokio::sync::Mutex<Option<(u64, Arc<McpSession>)>>,
}

/// Sessions by server (`<organization id>/<server id>`).
pub struct McpPool {
    settings: McpSettings,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

impl std::fmt::Debug for McpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpPool")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl McpPool {
    pub fn new(settings: McpSettings) -> Self {
        McpPool {
            settings,
            slots: Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> McpSettings {
        self.settings
    }

    async fn connect(&self, target: &McpTarget) -> Result<McpSession, McpError> {
        if !self.settings.allow_stdio && matches!(target, McpTarget::Stdio { .. }) {
            return Err(McpError::Connect(STDIO_DISABLED.to_owned()));
        }
        McpSession::connect(target, self.settings.connect).await
    }

    fn slot(&self, key: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(key.to_owned()).or_default().clone()
    }

    /// The warm session for `key`, made (or remade) for `target` when needed. Concurrent
    /// callers wait for one connection instead of each starting a server.
    async fn session(&self, key: &str, target: &McpTarget) -> Result<Arc<McpSession>, McpError> {
        let slot = self.slot(key);
        let mut held = slot.session.lock().await;
        let fingerprint = target.fingerprint();
        if let Some((fp, session)) = held.as_ref()
            && *fp == fingerprint
            && !session.is_closed()
        {
            return Ok(session.clone());
        }
        // Drop the old session (killing a stdio server) before starting its successor.
        *held = None;
        let session = Arc::new(self.connect(target).await?);
        *held = Some((fingerprint, session.clone()));
        Ok(session)
    }

    /// Forgets `session` if it is still the one kept for `key`.
    async fn discard(&self, key: &str, session: &Arc<McpSession>) {
        let slot = self.slot(key);
        let mut held = slot.session.lock().await;
        if held
            .as_ref()
            .is_some_and(|(_, kept)| Arc::ptr_eq(kept, session))
        {
            *held = None;
        }
    }

    /// Drops the session of a server (deleted or changed).
    pub async fn forget(&self, key: &str) {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.remove(key)
        };
        if let Some(slot) = slot {
            *slot.session.lock().await = None;
        }
    }

    /// Calls a tool on the server `key` (at `target`) through its warm session.
    pub async fn call_tool(
        &self,
        key: &str,
        target: &McpTarget,
        tool: &str,
        args: &Map<String, Value>,
    ) -> Result<CallOutcome, McpError> {
        let mut retried = false;
        loop {
            let session = self.session(key, target).await?;
            let result = session
                .call_tool(tool, args.clone(), self.settings.call)
                .await;
            match result {
                Err(err) if err.session_is_dead() => {
                    self.discard(key, &session).await;
                    if matches!(err, McpError::Send(_)) && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(err);
                }
                other => return other,
            }
        }
    }

    /// The tools of the server `key` (at `target`), through its warm session.
    pub async fn list_tools(
        &self,
        key: &str,
        target: &McpTarget,
    ) -> Result<Vec<McpTool>, McpError> {
        let mut retried = false;
        loop {
            let session = self.session(key, target).await?;
            match session.list_tools(self.settings.list).await {
                Err(err) if err.session_is_dead() => {
                    self.discard(key, &session).await;
                    // Listing changes nothing on the server: a fresh session may try again.
                    if !retried && !matches!(err, McpError::Timeout(_)) {
                        retried = true;
                        continue;
                    }
                    return Err(err);
                }
                other => return other,
            }
        }
    }

    /// The tools of a server that is not stored (`test_mcp_server`): a session of its own,
    /// closed right after.
    pub async fn probe(&self, target: &McpTarget) -> Result<Vec<McpTool>, McpError> {
        let session = self.connect(target).await?;
        session.list_tools(self.settings.list).await
    }
}
