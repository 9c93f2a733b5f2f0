-- Trading core: stocks, users and sessions, cash accounts, holdings, orders, fills and the
-- double-entry ledger. Money is NUMERIC: whole won in NUMERIC(20,0), average prices with scale.

CREATE TABLE stocks (
    code        TEXT PRIMARY KEY CHECK (code ~ '^[0-9A-Z]{6}$'),
    name        TEXT NOT NULL,
    market      TEXT NOT NULL CHECK (market IN ('KOSPI', 'KOSDAQ')),
    price       NUMERIC(20,0) CHECK (price > 0),
    prev_close  NUMERIC(20,0) CHECK (prev_close > 0),
    change      NUMERIC(20,0),
    change_rate NUMERIC(10,2),
    volume      BIGINT CHECK (volume >= 0),
    market_cap  NUMERIC(24,0) CHECK (market_cap >= 0),
    price_at    TIMESTAMPTZ,
    listed      BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT,
    display_name  TEXT,
    password_hash TEXT,
    initial_cash  NUMERIC(20,0) NOT NULL CHECK (initial_cash >= 0),
    created_at    TIMESTAMPTZ NOT NULL,
    deleted_at    TIMESTAMPTZ,
    CONSTRAINT users_active_has_credentials
        CHECK (deleted_at IS NOT NULL OR (email IS NOT NULL AND password_hash IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- One KRW cash account per user. available + reserved = the user's cash.
CREATE TABLE accounts (
    user_id   BIGINT PRIMARY KEY REFERENCES users (id),
    available NUMERIC(20,0) NOT NULL CHECK (available >= 0),
    reserved  NUMERIC(20,0) NOT NULL CHECK (reserved >= 0)
);

-- Shares held. available + reserved = shares owned; reserved = held for open sells.
-- cost is the purchase cost of the shares still held (fees excluded), so the average price is
-- cost / (available + reserved).
CREATE TABLE holdings (
    user_id   BIGINT NOT NULL REFERENCES users (id),
    code      TEXT NOT NULL REFERENCES stocks (code),
    available BIGINT NOT NULL CHECK (available >= 0),
    reserved  BIGINT NOT NULL CHECK (reserved >= 0),
    cost      NUMERIC(24,4) NOT NULL CHECK (cost >= 0),
    PRIMARY KEY (user_id, code)
);

CREATE TABLE orders (
    id              BIGSERIAL PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users (id),
    code            TEXT NOT NULL REFERENCES stocks (code),
    side            TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    kind            TEXT NOT NULL CHECK (kind IN ('market', 'limit')),
    tif             TEXT NOT NULL CHECK (tif IN ('day', 'gtc', 'ioc')),
    quantity        BIGINT NOT NULL CHECK (quantity > 0),
    limit_price     NUMERIC(20,0) CHECK (limit_price > 0),
    fee_rate        NUMERIC(10,8) NOT NULL CHECK (fee_rate >= 0),
    status          TEXT NOT NULL CHECK (status IN ('open', 'filled', 'cancelled', 'expired')),
    filled_quantity BIGINT NOT NULL DEFAULT 0 CHECK (filled_quantity >= 0 AND filled_quantity <= quantity),
    reserved_cash   NUMERIC(20,0) NOT NULL DEFAULT 0 CHECK (reserved_cash >= 0),
    reserved_shares BIGINT NOT NULL DEFAULT 0 CHECK (reserved_shares >= 0),
    idempotency_key TEXT,
    reason          TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    closed_at       TIMESTAMPTZ,
    CONSTRAINT orders_limit_matches_kind CHECK ((kind = 'limit') = (limit_price IS NOT NULL)),
    CONSTRAINT orders_closed_reserves_nothing
        CHECK (status = 'open' OR (reserved_cash = 0 AND reserved_shares = 0))
);
CREATE UNIQUE INDEX orders_idempotency_key ON orders (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_open_idx ON orders (code, side, limit_price) WHERE status = 'open';
CREATE INDEX orders_user_idx ON orders (user_id, id);

CREATE TABLE fills (
    id        BIGSERIAL PRIMARY KEY,
    order_id  BIGINT NOT NULL REFERENCES orders (id),
    user_id   BIGINT NOT NULL REFERENCES users (id),
    code      TEXT NOT NULL REFERENCES stocks (code),
    side      TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity  BIGINT NOT NULL CHECK (quantity > 0),
    price     NUMERIC(20,0) NOT NULL CHECK (price > 0),
    amount    NUMERIC(20,0) NOT NULL CHECK (amount > 0),
    fee       NUMERIC(20,0) NOT NULL CHECK (fee >= 0),
    tax       NUMERIC(20,0) NOT NULL CHECK (tax >= 0),
    filled_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX fills_order_idx ON fills (order_id);
CREATE INDEX fills_user_idx ON fills (user_id, id);

-- The ledger. Every movement of cash or shares is an entry whose legs sum to zero per asset.
-- Books: a user's cash / cash_reserved / shares / shares_reserved, and the system's grants
-- (initial cash handed out), fees, taxes and market (the counterparty of every fill).
CREATE TABLE journal_entries (
    id         BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'release', 'fill')),
    user_id    BIGINT REFERENCES users (id),
    order_id   BIGINT REFERENCES orders (id),
    fill_id    BIGINT REFERENCES fills (id),
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE journal_legs (
    entry_id BIGINT NOT NULL REFERENCES journal_entries (id),
    user_id  BIGINT REFERENCES users (id),
    book     TEXT NOT NULL CHECK (book IN ('cash', 'cash_reserved', 'shares', 'shares_reserved',
                                           'grants', 'fees', 'taxes', 'market')),
    asset    TEXT NOT NULL CHECK (asset = 'KRW' OR asset ~ '^[0-9A-Z]{6}$'),
    amount   NUMERIC(24,0) NOT NULL CHECK (amount <> 0),
    CONSTRAINT journal_legs_user_book
        CHECK ((book IN ('cash', 'cash_reserved', 'shares', 'shares_reserved')) = (user_id IS NOT NULL))
);
CREATE INDEX journal_legs_entry_idx ON journal_legs (entry_id);
CREATE INDEX journal_legs_user_idx ON journal_legs (user_id, book, asset);

-- Who did what: one row per state-changing command.
CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    user_id    BIGINT REFERENCES users (id),
    detail     JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_user_idx ON audit_log (user_id, id);
