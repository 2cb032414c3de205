-- The request log (issue 26). Each usage record keeps its story (attempts, the
-- strategy's order, policies' verdicts, masks by kind, headers; JSON), the gateway's
-- own time, the error's message with ids and numbers taken out (so one error groups),
-- the provider that failed, and whether its bodies were captured.
ALTER TABLE switchboard_usage ADD COLUMN IF NOT EXISTS overhead_ms DOUBLE PRECISION;
ALTER TABLE switchboard_usage ADD COLUMN IF NOT EXISTS cache TEXT;
ALTER TABLE switchboard_usage ADD COLUMN IF NOT EXISTS story TEXT;
ALTER TABLE switchboard_usage ADD COLUMN IF NOT EXISTS error_group TEXT;
ALTER TABLE switchboard_usage ADD COLUMN IF NOT EXISTS failed_provider TEXT;
ALTER TABLE switchboard_usage ADD COLUMN IF NOT EXISTS captured BOOLEAN NOT NULL DEFAULT FALSE;
-- What /admin/requests filters by, newest first within each (request_id for one record).
CREATE INDEX IF NOT EXISTS switchboard_usage_key_ts ON switchboard_usage (key, ts DESC);
CREATE INDEX IF NOT EXISTS switchboard_usage_route_ts ON switchboard_usage (route, ts DESC);
CREATE INDEX IF NOT EXISTS switchboard_usage_model_ts ON switchboard_usage (model, ts DESC);
CREATE INDEX IF NOT EXISTS switchboard_usage_provider_ts ON switchboard_usage (provider, ts DESC);
CREATE INDEX IF NOT EXISTS switchboard_usage_team_ts ON switchboard_usage (team, ts DESC);
CREATE INDEX IF NOT EXISTS switchboard_usage_user_ts ON switchboard_usage ("user", ts DESC);
CREATE INDEX IF NOT EXISTS switchboard_usage_request ON switchboard_usage (request_id);
CREATE INDEX IF NOT EXISTS switchboard_usage_errors_ts ON switchboard_usage (ts) WHERE error IS NOT NULL;
-- Captured bodies (as they left the redactors), kept for their own retention.
CREATE TABLE IF NOT EXISTS switchboard_usage_payloads (
    request_id TEXT NOT NULL, ts BIGINT NOT NULL, request TEXT, response TEXT,
    request_truncated BOOLEAN NOT NULL DEFAULT FALSE, response_truncated BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX IF NOT EXISTS switchboard_usage_payloads_request ON switchboard_usage_payloads (request_id);
CREATE INDEX IF NOT EXISTS switchboard_usage_payloads_ts ON switchboard_usage_payloads (ts);
-- Trends: per 5 minutes and per hour (width), route, provider and model — requests,
-- errors, tokens, spend, and histograms of duration (d0..d19) and time to first token
-- (t0..t19) over fixed bounds — added to as records are written.
CREATE TABLE IF NOT EXISTS switchboard_usage_trend (
    width BIGINT NOT NULL, start BIGINT NOT NULL, route TEXT NOT NULL, provider TEXT NOT NULL,
    model TEXT NOT NULL, requests BIGINT NOT NULL DEFAULT 0, errors BIGINT NOT NULL DEFAULT 0,
    prompt_tokens BIGINT NOT NULL DEFAULT 0, completion_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    d0 BIGINT NOT NULL DEFAULT 0,
    d1 BIGINT NOT NULL DEFAULT 0,
    d2 BIGINT NOT NULL DEFAULT 0,
    d3 BIGINT NOT NULL DEFAULT 0,
    d4 BIGINT NOT NULL DEFAULT 0,
    d5 BIGINT NOT NULL DEFAULT 0,
    d6 BIGINT NOT NULL DEFAULT 0,
    d7 BIGINT NOT NULL DEFAULT 0,
    d8 BIGINT NOT NULL DEFAULT 0,
    d9 BIGINT NOT NULL DEFAULT 0,
    d10 BIGINT NOT NULL DEFAULT 0,
    d11 BIGINT NOT NULL DEFAULT 0,
    d12 BIGINT NOT NULL DEFAULT 0,
    d13 BIGINT NOT NULL DEFAULT 0,
    d14 BIGINT NOT NULL DEFAULT 0,
    d15 BIGINT NOT NULL DEFAULT 0,
    d16 BIGINT NOT NULL DEFAULT 0,
    d17 BIGINT NOT NULL DEFAULT 0,
    d18 BIGINT NOT NULL DEFAULT 0,
    d19 BIGINT NOT NULL DEFAULT 0,
    t0 BIGINT NOT NULL DEFAULT 0,
    t1 BIGINT NOT NULL DEFAULT 0,
    t2 BIGINT NOT NULL DEFAULT 0,
    t3 BIGINT NOT NULL DEFAULT 0,
    t4 BIGINT NOT NULL DEFAULT 0,
    t5 BIGINT NOT NULL DEFAULT 0,
    t6 BIGINT NOT NULL DEFAULT 0,
    t7 BIGINT NOT NULL DEFAULT 0,
    t8 BIGINT NOT NULL DEFAULT 0,
    t9 BIGINT NOT NULL DEFAULT 0,
    t10 BIGINT NOT NULL DEFAULT 0,
    t11 BIGINT NOT NULL DEFAULT 0,
    t12 BIGINT NOT NULL DEFAULT 0,
    t13 BIGINT NOT NULL DEFAULT 0,
    t14 BIGINT NOT NULL DEFAULT 0,
    t15 BIGINT NOT NULL DEFAULT 0,
    t16 BIGINT NOT NULL DEFAULT 0,
    t17 BIGINT NOT NULL DEFAULT 0,
    t18 BIGINT NOT NULL DEFAULT 0,
    t19 BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (width, start, route, provider, model)
);
CREATE TABLE IF NOT EXISTS switchboard_usage_trend_errors (
    width BIGINT NOT NULL, start BIGINT NOT NULL, route TEXT NOT NULL, provider TEXT NOT NULL,
    model TEXT NOT NULL, error TEXT NOT NULL, n BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (width, start, route, provider, model, error)
);
-- Which report periods were sent (the replica that inserts a period's row sends it).
CREATE TABLE IF NOT EXISTS switchboard_usage_report_runs (
    name TEXT NOT NULL, period BIGINT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (name, period)
);
