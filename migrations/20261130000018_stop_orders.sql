-- Stop and stop-limit orders. stop_price: the trigger; a stop order is open but dormant until
-- settle sees a fresh last price at or above it (a buy) or at or below it (a sell), and stamps
-- triggered_at; from then on it is the market order (no limit_price) or limit order it carries.
-- A stop order rests until triggered, so it is DAY or GTC, never IOC; one without a limit
-- (stop-market) is DAY only, because it reserves at the day's upper price limit. Existing
-- orders are not stop orders: both columns stay NULL for them.
ALTER TABLE orders
    ADD COLUMN stop_price NUMERIC(20,0) CHECK (stop_price > 0),
    ADD COLUMN triggered_at TIMESTAMPTZ,
    ADD CONSTRAINT orders_triggered_is_a_stop CHECK (triggered_at IS NULL OR stop_price IS NOT NULL),
    ADD CONSTRAINT orders_stop_rests CHECK (stop_price IS NULL OR tif IN ('day', 'gtc')),
    ADD CONSTRAINT orders_stop_market_is_day CHECK (stop_price IS NULL OR kind = 'limit' OR tif = 'day');

-- Settle looks for the dormant stops a price has touched; they are few among the open orders.
CREATE INDEX orders_dormant_stops_idx ON orders (code, side, stop_price)
    WHERE status = 'open' AND stop_price IS NOT NULL AND triggered_at IS NULL;
