-- Modifying a resting order (정정 / 일부취소, `ascend modify`): a new limit, a smaller quantity,
-- or both. The order row holds the terms in force; every change is kept in order_amendments
-- with the terms before and after, so `ascend orders --amendments ID` shows the history.
--
-- orders.amendments counts the changes: with the status and the filled quantity it is what the
-- guarded UPDATE of a modify compares (src/store/amendments.rs), so a modify never applies to
-- an order that changed since it was read.
-- orders.queued_at is when the order took its place in the time priority of its price: NULL
-- until a modify changes its price (then the time of that modify), read as created_at.
-- Existing orders have never been modified: 0 and NULL are their true values.
ALTER TABLE orders
    ADD COLUMN amendments INT NOT NULL DEFAULT 0 CHECK (amendments >= 0),
    ADD COLUMN queued_at TIMESTAMPTZ;

CREATE TABLE order_amendments (
    id              BIGSERIAL PRIMARY KEY,
    order_id        BIGINT NOT NULL REFERENCES orders (id),
    user_id         BIGINT NOT NULL,
    -- 1 for an order's first amendment, 2 for its second, …: orders.amendments after it.
    seq             INT NOT NULL CHECK (seq > 0),
    old_quantity    BIGINT NOT NULL CHECK (old_quantity > 0),
    new_quantity    BIGINT NOT NULL CHECK (new_quantity > 0),
    old_limit       NUMERIC(20,0) NOT NULL CHECK (old_limit > 0),
    new_limit       NUMERIC(20,0) NOT NULL CHECK (new_limit > 0),
    -- Shares already filled when it was amended; the new quantity is always more.
    filled_quantity BIGINT NOT NULL CHECK (filled_quantity >= 0 AND filled_quantity < new_quantity),
    -- The change of the order's reservation: positive earmarks more, negative frees.
    reserved_cash_delta   NUMERIC(20,0) NOT NULL,
    reserved_shares_delta BIGINT NOT NULL,
    -- A new price: the order went to the back of the queue at amended_at.
    requeued        BOOLEAN NOT NULL,
    -- What was asked (NULL: not given), for an idempotency key's replay.
    asked_limit     NUMERIC(20,0),
    asked_quantity  BIGINT,
    idempotency_key TEXT,
    amended_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (order_id, seq)
);
CREATE UNIQUE INDEX order_amendments_idempotency_key ON order_amendments (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
