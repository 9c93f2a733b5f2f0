-- Daily asset snapshots: one row per user per trading day, valued at that day's close.

CREATE TABLE snapshots (
    user_id           BIGINT NOT NULL REFERENCES users (id),
    date              DATE NOT NULL,
    cash              NUMERIC(20,0) NOT NULL,
    stock_value       NUMERIC(24,0) NOT NULL,
    total             NUMERIC(24,0) NOT NULL,
    daily_return      NUMERIC(12,4),
    cumulative_return NUMERIC(12,4),
    taken_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, date)
);
CREATE INDEX snapshots_date_idx ON snapshots (date);

-- Ledger entries by time, for balances as of a past moment.
CREATE INDEX journal_entries_created_idx ON journal_entries (created_at);
