-- Sandbox configurations (one per type and organization) and the environment variables
-- handed to the tools run in them. `config` holds JSON text.

CREATE TABLE sandbox_configs (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    type               TEXT NOT NULL CHECK (type IN ('local', 'e2b')),
    config             TEXT NOT NULL,
    created_by_id      TEXT,
    last_updated_by_id TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (type, organization_id),
    -- The target of the variables' foreign key, so a variable and its config share an
    -- organization.
    UNIQUE (id, organization_id)
);
CREATE INDEX sandbox_configs_org_created ON sandbox_configs (organization_id, created_at, id);

CREATE TABLE sandbox_environment_variables (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    sandbox_config_id  TEXT NOT NULL,
    key                TEXT NOT NULL,
    value              TEXT NOT NULL,
    description        TEXT,
    created_by_id      TEXT,
    last_updated_by_id TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (key, sandbox_config_id),
    FOREIGN KEY (sandbox_config_id, organization_id)
        REFERENCES sandbox_configs (id, organization_id) ON DELETE CASCADE
);
CREATE INDEX sandbox_env_vars_config_created
    ON sandbox_environment_variables (sandbox_config_id, created_at, id);
