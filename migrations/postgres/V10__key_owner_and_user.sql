-- A virtual key's owner (the person who made it: a team member sees their own keys),
-- the end user it is bound to (which then overrides the request's `user`), and where
-- its requests' end user comes from otherwise (`jwt`: a verified token only).
ALTER TABLE switchboard_virtual_keys ADD COLUMN IF NOT EXISTS owner TEXT;
ALTER TABLE switchboard_virtual_keys ADD COLUMN IF NOT EXISTS end_user TEXT;
ALTER TABLE switchboard_virtual_keys ADD COLUMN IF NOT EXISTS user_from TEXT;
-- Its own budget (money per the `key_limit` budget policy's period), when it has one.
ALTER TABLE switchboard_virtual_keys ADD COLUMN IF NOT EXISTS budget DOUBLE PRECISION;
