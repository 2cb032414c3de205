-- Guardrails (issue 29): a request a guardrail's model call made (`models.infer`,
-- `models.embed`) names the request it was made for.
ALTER TABLE switchboard_usage ADD COLUMN IF NOT EXISTS parent_id TEXT;
CREATE INDEX IF NOT EXISTS switchboard_usage_parent ON switchboard_usage (parent_id) WHERE parent_id IS NOT NULL;
