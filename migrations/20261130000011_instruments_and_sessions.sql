-- Instruments beyond common stocks, halts, first trading days, and the regular close.
--
-- kind: common, preferred, spac, reit, fund, etf, etn, foreign (a foreign company's shares),
-- dr (a depositary receipt) (ETFs and ETNs have their own tick and
-- pay no securities transaction tax on sells). leverage: the multiple of a leveraged product
-- (its daily band is the multiple × 30%). listed_on: the first trading day (its band is
-- 60%–400% of the offering price). halted: 거래정지, no orders and no fills.
--
-- Since 2026-09-14 KRX runs an after-market 16:00–20:00. `price` stays the latest
-- regular-session price (what orders, settle and snapshots use); an after-market print is kept
-- beside it in after_price / after_price_at and never overwrites it.
ALTER TABLE stocks
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'common'
        CHECK (kind IN ('common', 'preferred', 'spac', 'reit', 'fund', 'etf', 'etn', 'foreign', 'dr')),
    ADD COLUMN leverage NUMERIC(3,1) NOT NULL DEFAULT 1 CHECK (leverage >= 1 AND leverage <= 3),
    ADD COLUMN listed_on DATE,
    ADD COLUMN halted BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN after_price NUMERIC(20,0) CHECK (after_price > 0),
    ADD COLUMN after_price_at TIMESTAMPTZ;

-- A sell of an ETF or ETN pays no securities transaction tax; the order carries that fact from
-- its instrument so that every fill path (place-order, settle, bulk) taxes it alike.
ALTER TABLE orders ADD COLUMN sell_tax_exempt BOOLEAN NOT NULL DEFAULT false;

-- A daily bar whose close is the regular-session (15:30) close. Bars crawled after 2026-09-14
-- from sources whose daily close includes the after-market are stored with regular = false
-- and never replace a regular bar of the same day.
ALTER TABLE daily_bars ADD COLUMN regular BOOLEAN NOT NULL DEFAULT true;
