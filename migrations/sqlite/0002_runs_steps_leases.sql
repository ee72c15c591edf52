-- Runs (jobs), the messages each run produced, steps (one per model call), agent leases
-- (one turn at a time per agent across processes), and a plain-text copy of each message's
-- text parts for conversation search.

CREATE TABLE jobs (
    id                   TEXT PRIMARY KEY,
    organization_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id              TEXT NOT NULL,
    agent_id             TEXT,
    status               TEXT NOT NULL,
    job_type             TEXT NOT NULL,
    completed_at         TEXT,
    metadata             TEXT,
    request_config       TEXT,
    callback_url         TEXT,
    callback_sent_at     TEXT,
    callback_status_code INTEGER,
    callback_error       TEXT,
    created_by_id        TEXT,
    last_updated_by_id   TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX jobs_user_created ON jobs (user_id, created_at, id);
CREATE INDEX jobs_agent ON jobs (agent_id, created_at);
CREATE INDEX jobs_status ON jobs (status);

CREATE TABLE job_messages (
    job_id     TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    PRIMARY KEY (job_id, message_id)
);
CREATE INDEX job_messages_message ON job_messages (message_id);

CREATE TABLE steps (
    id                        TEXT PRIMARY KEY,
    organization_id           TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    origin                    TEXT,
    provider_id               TEXT,
    job_id                    TEXT REFERENCES jobs(id) ON DELETE SET NULL,
    agent_id                  TEXT,
    provider_name             TEXT,
    provider_category         TEXT,
    model                     TEXT,
    model_endpoint            TEXT,
    context_window_limit      INTEGER,
    completion_tokens         INTEGER,
    prompt_tokens             INTEGER,
    total_tokens              INTEGER,
    completion_tokens_details TEXT,
    tags                      TEXT NOT NULL,
    tid                       TEXT,
    trace_id                  TEXT,
    feedback                  TEXT,
    project_id                TEXT,
    created_at                TEXT NOT NULL
);
CREATE INDEX steps_org_created ON steps (organization_id, created_at, id);
CREATE INDEX steps_job ON steps (job_id);
CREATE INDEX steps_agent ON steps (agent_id);

CREATE TABLE agent_leases (
    agent_id   TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

ALTER TABLE messages ADD COLUMN search_text TEXT;
