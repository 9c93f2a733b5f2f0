-- Holdings and fills are written only by the ledger posting and the fill writer (src/store),
-- inside the transaction that holds the account lock and has just read the order and the
-- stock they refer to; users and stocks are never deleted. Their foreign-key triggers cost
-- 60% of the holdings upsert and half of the fills insert of a settle batch (auto_explain
-- under scripts/bench.sh), and each one share-locks the referenced stock row, so concurrent
-- writers create a multixact per row. `ascend audit` checks the same references instead.
ALTER TABLE holdings DROP CONSTRAINT holdings_user_id_fkey;
ALTER TABLE holdings DROP CONSTRAINT holdings_code_fkey;
ALTER TABLE fills DROP CONSTRAINT fills_order_id_fkey;
