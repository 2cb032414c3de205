-- A key's stored responses are summed and pruned past its quota at every save,
-- newest kept first (in the order they were saved).
ALTER TABLE switchboard_responses ADD COLUMN IF NOT EXISTS seq BIGSERIAL;
CREATE INDEX IF NOT EXISTS switchboard_responses_key ON switchboard_responses (key, seq);
