-- Webhook deliveries: written in the same transaction as the flag change
-- that causes them, sent by `serve` until the receiver answers 2xx (at least
-- once: a sender that dies between sending and recording the answer sends
-- again, with the same message id, after its lease).
CREATE TABLE webhook_deliveries (
    delivery_id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the webhook-id header: the same on every attempt, so receivers drop repeats
    message_id      text        NOT NULL,
    endpoint        text        NOT NULL,
    event_type      text        NOT NULL,
    -- the JSON body, as sent
    body            text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    -- when it is next due (while an attempt is in flight: when its lease ends)
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (message_id, endpoint)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
