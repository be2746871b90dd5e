-- What the provider knows about an account beyond its traffic, imported by
-- `distillwatch accounts import`: when it was opened, its organization and
-- country, and salted hashes of its payment instrument and e-mail domain.
-- Kept apart from `accounts` (which records what traffic showed) because an
-- account may be described before it sends anything.

CREATE TABLE account_attributes (
    account_id                text        PRIMARY KEY,
    created_at                timestamptz,
    org                       text,
    country                   text        CHECK (country ~ '^[A-Z]{2}$'),
    payment_fingerprint       text,
    email_domain_fingerprint  text,
    imported_at               timestamptz NOT NULL DEFAULT now()
);
-- Accounts sharing a payment instrument are found by it.
CREATE INDEX account_attributes_payment ON account_attributes (payment_fingerprint)
    WHERE payment_fingerprint IS NOT NULL;
