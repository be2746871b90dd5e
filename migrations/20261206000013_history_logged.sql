-- Whether the event's source logs whole conversations (request.history_logged):
-- false when it keeps the last user message only, so that earlier turns and
-- the system prompt are unknown rather than absent; NULL when it did not say.
-- Existing rows keep NULL: their messages are taken as sent, as before.
ALTER TABLE events ADD COLUMN history_logged boolean;
