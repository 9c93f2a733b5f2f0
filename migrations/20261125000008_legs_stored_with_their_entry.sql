-- Journal legs are stored with their entry, as an array, instead of one row each. An entry is
-- written once and never changed, and its legs are always read with it (the audit, balances
-- as of a past moment), so the separate table only cost time: a fill's five or six leg rows
-- and their index entries were more than half of a settle batch's ledger statement (measured
-- with auto_explain under scripts/bench.sh). The view journal_legs keeps the row shape for
-- readers.

CREATE TYPE journal_leg AS (
    user_id BIGINT,
    book    TEXT,
    asset   TEXT,
    amount  NUMERIC(24,0)
);

ALTER TABLE journal_entries ADD COLUMN legs journal_leg[];
UPDATE journal_entries e SET legs = coalesce(
    (SELECT array_agg(ROW(l.user_id, l.book, l.asset, l.amount)::journal_leg)
     FROM journal_legs l WHERE l.entry_id = e.id),
    '{}');
ALTER TABLE journal_entries ALTER COLUMN legs SET NOT NULL;
DROP TABLE journal_legs;

CREATE VIEW journal_legs AS
SELECT e.id AS entry_id, l.user_id, l.book, l.asset, l.amount
FROM journal_entries e CROSS JOIN LATERAL unnest(e.legs) AS l;

-- What the leg rows' CHECK constraints said (known book, asset KRW or a stock code, non-zero
-- amount, a user exactly on user books) is checked by `ascend audit` over this view.
