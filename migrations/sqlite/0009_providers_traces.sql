-- Providers an organization brings with its own key (BYOK), and the provider traces of
-- steps (request and response of each model call, kept when PROVIDER_TRACES is on).

CREATE TABLE providers (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    provider_type      TEXT NOT NULL,
    api_key            TEXT,
    base_url           TEXT,
    access_key         TEXT,
    region             TEXT,
    created_by_id      TEXT,
    last_updated_by_id TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (name, organization_id)
);
CREATE INDEX providers_org_created ON providers (organization_id, created_at, id);

CREATE TABLE provider_traces (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    step_id            TEXT,
    request_json       TEXT NOT NULL,
    response_json      TEXT NOT NULL,
    created_by_id      TEXT,
    created_at         TEXT NOT NULL
);
CREATE INDEX provider_traces_step ON provider_traces (step_id);
CREATE INDEX provider_traces_org_created ON provider_traces (organization_id, created_at, id);
