-- Runtime changes to routing (a target enabled or not, its weight), layered on the
-- config file by every replica, and the audit log of every change made at run time.
CREATE TABLE switchboard_overrides (
    route TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
    enabled BOOLEAN, weight BIGINT, updated BIGINT NOT NULL, actor TEXT NOT NULL,
    PRIMARY KEY (route, provider, model)
);
CREATE TABLE switchboard_audit (
    id BIGSERIAL PRIMARY KEY, ts BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    subject TEXT NOT NULL, before TEXT, after TEXT
);
CREATE INDEX switchboard_audit_ts ON switchboard_audit (ts);
-- Model comparisons (POST /admin/compare), kept to be reopened.
CREATE TABLE switchboard_comparisons (
    id TEXT PRIMARY KEY, ts BIGINT NOT NULL, actor TEXT NOT NULL, request TEXT NOT NULL,
    results TEXT NOT NULL
);
CREATE INDEX switchboard_comparisons_ts ON switchboard_comparisons (ts);
