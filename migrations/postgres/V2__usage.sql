-- One row per routed request, written in batches by every replica.
CREATE TABLE switchboard_usage (
    ts BIGINT NOT NULL, request_id TEXT, api TEXT, route TEXT NOT NULL, key TEXT NOT NULL,
    team TEXT, "user" TEXT, provider TEXT NOT NULL, model TEXT NOT NULL, status BIGINT NOT NULL,
    error TEXT, error_message TEXT, prompt_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL, cost_usd DOUBLE PRECISION NOT NULL, ttft_ms BIGINT,
    duration_ms BIGINT NOT NULL, attempts BIGINT NOT NULL
);
CREATE INDEX switchboard_usage_ts ON switchboard_usage (ts);
