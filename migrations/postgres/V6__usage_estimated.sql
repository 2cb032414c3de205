-- A request whose client left before the provider said its usage is charged an
-- estimate (the prompt and what was streamed): the record says so.
ALTER TABLE switchboard_usage ADD COLUMN estimated BOOLEAN NOT NULL DEFAULT FALSE;
