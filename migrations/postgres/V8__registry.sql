-- The registry: providers, models and prompts made at run time (their bodies as the
-- config file's tables, in JSON), every version of every object (the file's included,
-- origin 'file'), and provider credentials sealed under the master key (never plain).
CREATE TABLE switchboard_registry_objects (
    kind TEXT NOT NULL, name TEXT NOT NULL, version BIGINT NOT NULL, body TEXT NOT NULL,
    updated BIGINT NOT NULL, actor TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE switchboard_registry_versions (
    kind TEXT NOT NULL, name TEXT NOT NULL, n BIGINT NOT NULL, at BIGINT NOT NULL,
    actor TEXT NOT NULL, origin TEXT NOT NULL, body TEXT, diff TEXT NOT NULL,
    PRIMARY KEY (kind, name, n)
);
CREATE TABLE switchboard_registry_credentials (
    provider TEXT PRIMARY KEY, sealed BYTEA NOT NULL, key_id TEXT NOT NULL,
    last4 TEXT NOT NULL, set_at BIGINT NOT NULL, verified_at BIGINT,
    rev BIGINT NOT NULL DEFAULT 0
);
-- The prompt (name@version) a request was made from.
ALTER TABLE switchboard_usage ADD COLUMN prompt TEXT;
-- The model the client named, when another served it (a deprecated model redirected).
ALTER TABLE switchboard_usage ADD COLUMN requested TEXT;
