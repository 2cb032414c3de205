-- Hourly sums of the usage records (what /admin/usage reads for whole hours), filled
-- from the records already kept.
CREATE TABLE switchboard_usage_hourly (
    hour BIGINT NOT NULL, route TEXT NOT NULL, key TEXT NOT NULL, team TEXT NOT NULL,
    "user" TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, api TEXT NOT NULL,
    status BIGINT NOT NULL, requests BIGINT NOT NULL, prompt_tokens BIGINT NOT NULL,
    cached_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL, duration_ms BIGINT NOT NULL, ttft_ms BIGINT NOT NULL,
    ttft_count BIGINT NOT NULL,
    PRIMARY KEY (hour, route, key, team, "user", provider, model, api, status)
);
INSERT INTO switchboard_usage_hourly
SELECT ts - ts % 3600, route, key, COALESCE(team, ''), COALESCE("user", ''), provider, model,
    COALESCE(api, ''), status, COUNT(*), SUM(prompt_tokens), SUM(cached_tokens),
    SUM(completion_tokens), SUM(cost_usd), SUM(duration_ms), COALESCE(SUM(ttft_ms), 0),
    COUNT(ttft_ms)
FROM switchboard_usage GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
