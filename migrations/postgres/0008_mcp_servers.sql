-- MCP servers of an organization (issue 14). A stdio server keeps its command, arguments
-- and environment in `stdio_config`; an SSE or streamable HTTP server its URL, the header
-- carrying its token and that header's full value, and extra headers (JSON text).

CREATE TABLE mcp_servers (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    server_name        TEXT NOT NULL,
    server_type        TEXT NOT NULL CHECK (server_type IN ('sse', 'stdio', 'streamable_http')),
    server_url         TEXT,
    auth_header        TEXT,
    auth_token         TEXT,
    custom_headers     TEXT,
    stdio_config       TEXT,
    created_by_id      TEXT,
    last_updated_by_id TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (organization_id, server_name)
);
CREATE INDEX mcp_servers_org_created ON mcp_servers (organization_id, created_at, id);
