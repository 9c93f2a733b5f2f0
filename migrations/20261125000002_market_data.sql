-- Market data beyond the latest price: daily bars (OHLCV) of stocks and indices, the indices
-- now, and a record of every crawl.

CREATE TABLE daily_bars (
    symbol TEXT NOT NULL CHECK (symbol ~ '^[0-9A-Z]{6}$' OR symbol IN ('KOSPI', 'KOSDAQ')),
    date   DATE NOT NULL,
    open   NUMERIC(20,2) NOT NULL CHECK (open > 0),
    high   NUMERIC(20,2) NOT NULL CHECK (high > 0),
    low    NUMERIC(20,2) NOT NULL CHECK (low > 0),
    close  NUMERIC(20,2) NOT NULL CHECK (close > 0),
    volume BIGINT NOT NULL CHECK (volume >= 0),
    PRIMARY KEY (symbol, date),
    CONSTRAINT daily_bars_range CHECK (low <= high AND low <= open AND open <= high AND low <= close AND close <= high)
);

CREATE TABLE indices (
    code        TEXT PRIMARY KEY CHECK (code IN ('KOSPI', 'KOSDAQ')),
    value       NUMERIC(12,2) NOT NULL CHECK (value > 0),
    change      NUMERIC(12,2) NOT NULL,
    change_rate NUMERIC(8,2) NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);

CREATE TABLE crawl_runs (
    id          BIGSERIAL PRIMARY KEY,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    source      TEXT NOT NULL,
    ok          BOOLEAN NOT NULL,
    summary     JSONB NOT NULL DEFAULT '{}'::jsonb,
    error       TEXT
);
