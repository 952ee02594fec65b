-- The shop's operational tables, the source of change data capture (Debezium -> Kafka).
-- Applied by `personastream stack up` (local PostgreSQL) in the schema `postgres_schema`
-- (the connection's search_path); every statement is idempotent.

-- One row per customer account; account_id is the user_id its events carry (the pipeline's
-- user_key), so a change here can be merged into the profile built from the clicks.
CREATE TABLE IF NOT EXISTS customers (
    account_id         text PRIMARY KEY,
    tier               text NOT NULL DEFAULT 'standard'
                       CHECK (tier IN ('standard', 'silver', 'gold', 'platinum')),
    birth_year         smallint CHECK (birth_year BETWEEN 1900 AND 2100),
    gender             text CHECK (gender IN ('female', 'male', 'other')),
    country            char(2),
    marketing_consent  boolean NOT NULL DEFAULT false,
    consent_updated_at timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Orders of a customer; erasing the customer deletes them too (each a captured delete).
CREATE TABLE IF NOT EXISTS orders (
    order_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id  text NOT NULL REFERENCES customers (account_id) ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'placed'
                CHECK (status IN ('placed', 'paid', 'shipped', 'delivered', 'cancelled',
                                  'returned')),
    n_items     integer NOT NULL CHECK (n_items > 0),
    total       numeric(12, 2) NOT NULL CHECK (total >= 0),
    currency    char(3) NOT NULL DEFAULT 'EUR',
    placed_at   timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS orders_by_account ON orders (account_id);
