-- The ledger tables are append-only and written by one function (store::ledger::post) in the
-- same transaction as the rows they refer to. Their foreign keys cost about half of the time of
-- a fill (measured with scripts/bench.sh); `ascend audit` checks the same references instead.
ALTER TABLE journal_legs DROP CONSTRAINT journal_legs_entry_id_fkey;
ALTER TABLE journal_legs DROP CONSTRAINT journal_legs_user_id_fkey;
ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_user_id_fkey;
ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_order_id_fkey;
ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_fill_id_fkey;
-- A fill's user and code are those of its order (audit invariant 4); the order reference stays.
ALTER TABLE fills DROP CONSTRAINT fills_user_id_fkey;
ALTER TABLE fills DROP CONSTRAINT fills_code_fkey;
