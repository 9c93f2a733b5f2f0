-- KRX order types and the FOK condition.
--
-- order_type is the KRX type of an order: limit, market, conditional_limit (조건부지정가: a
-- limit order that turns into a market order at the close), best_limit (최유리지정가) and
-- priority_limit (최우선지정가), both priced from the order book at arrival. Every type but
-- market is a limit order with a limit price, so the type agrees with kind. Orders written by
-- earlier releases were limit or market orders: their kind is their type. The default keeps a
-- writer that does not name the type correct for a plain limit order; a market order written
-- without it fails orders_type_matches_kind.
ALTER TABLE orders ADD COLUMN order_type TEXT NOT NULL DEFAULT 'limit'
    CONSTRAINT orders_order_type_check
        CHECK (order_type IN ('limit', 'market', 'conditional_limit', 'best_limit', 'priority_limit'));
UPDATE orders SET order_type = kind WHERE kind <> 'limit';
ALTER TABLE orders ADD CONSTRAINT orders_type_matches_kind
    CHECK ((order_type = 'market') = (kind = 'market'));

-- FOK (fill or kill): the whole quantity now, or the order is cancelled.
ALTER TABLE orders DROP CONSTRAINT orders_tif_check;
ALTER TABLE orders ADD CONSTRAINT orders_tif_check CHECK (tif IN ('day', 'gtc', 'ioc', 'fok'));

-- settle looks for conditional limits still open after their session's close on every run.
CREATE INDEX orders_open_conditional_idx ON orders (created_at)
    WHERE status = 'open' AND order_type = 'conditional_limit';
