-- A virtual key's owner (the person who made it: a team member sees their own keys)
-- and the end user it is bound to (which then overrides the request's `user`).
ALTER TABLE switchboard_virtual_keys ADD COLUMN IF NOT EXISTS owner TEXT;
ALTER TABLE switchboard_virtual_keys ADD COLUMN IF NOT EXISTS end_user TEXT;
