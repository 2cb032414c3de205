-- People who run the gateway (local accounts and accounts from single sign-on), and
-- what they sign in with: console sessions and personal API tokens, hashed.
CREATE TABLE IF NOT EXISTS switchboard_people (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    origin TEXT NOT NULL,
    -- Single sign-on's issuer and subject: the one identity this person is.
    subject TEXT,
    password TEXT,
    failures BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT,
    updated BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS switchboard_grants (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    person TEXT NOT NULL,
    role TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    csrf TEXT NOT NULL,
    label TEXT,
    origin TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    updated BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS switchboard_grants_person ON switchboard_grants (person);
