-- What the source sending with a key logs of each conversation: 'full' (the
-- messages as sent) or 'last_message' (a gateway that keeps the last user
-- message only). Events sent with a 'last_message' key that do not say
-- otherwise are stored with history_logged = false. Existing keys keep
-- 'full', which is what their events were taken as before.
ALTER TABLE api_keys
    ADD COLUMN history text NOT NULL DEFAULT 'full'
        CONSTRAINT api_keys_history_known CHECK (history IN ('full', 'last_message'));
