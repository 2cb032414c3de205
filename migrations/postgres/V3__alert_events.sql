-- Alert transitions (firing, resolved) from every replica.
CREATE TABLE switchboard_alert_events (
    id BIGSERIAL PRIMARY KEY, ts BIGINT NOT NULL, rule TEXT NOT NULL, kind TEXT NOT NULL,
    state TEXT NOT NULL, subject TEXT NOT NULL, value DOUBLE PRECISION, message TEXT NOT NULL,
    notified BOOLEAN NOT NULL, replica TEXT NOT NULL
);
CREATE INDEX switchboard_alert_events_ts ON switchboard_alert_events (ts);
