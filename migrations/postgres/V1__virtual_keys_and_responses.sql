-- The tables of the first shared store (created before versioned migrations; kept
-- with IF NOT EXISTS so a database made then adopts this history as it is).
CREATE TABLE IF NOT EXISTS switchboard_virtual_keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL, team TEXT,
    models TEXT, tags TEXT NOT NULL, policies TEXT NOT NULL, metadata TEXT NOT NULL, expires_at BIGINT,
    created_at BIGINT NOT NULL, revoked_at BIGINT, updated BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS switchboard_virtual_keys_updated ON switchboard_virtual_keys (updated);
CREATE TABLE IF NOT EXISTS switchboard_responses (
    id TEXT PRIMARY KEY, key TEXT NOT NULL, created BIGINT NOT NULL,
    response TEXT NOT NULL, input TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS switchboard_responses_created ON switchboard_responses (created);
CREATE TABLE IF NOT EXISTS switchboard_response_items (
    id TEXT NOT NULL, key TEXT NOT NULL, response_id TEXT NOT NULL,
    created BIGINT NOT NULL, item TEXT NOT NULL, PRIMARY KEY (id, key)
);
CREATE INDEX IF NOT EXISTS switchboard_response_items_created ON switchboard_response_items (created);
CREATE TABLE IF NOT EXISTS switchboard_kept (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL,
    provider TEXT NOT NULL, created BIGINT NOT NULL, seq BIGSERIAL
);
CREATE INDEX IF NOT EXISTS switchboard_kept_key ON switchboard_kept (key, kind);
