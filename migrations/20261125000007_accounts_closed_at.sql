-- An account is closed when its user is deleted, in the same transaction. Writers that lock or
-- update the account row test this column: a transaction that waited for the deleting one
-- re-checks it on the row as committed, which a condition on the joined users row would not do
-- (PostgreSQL re-evaluates only the locked row after a wait).
ALTER TABLE accounts ADD COLUMN closed_at TIMESTAMPTZ;
UPDATE accounts a SET closed_at = u.deleted_at
FROM users u WHERE u.id = a.user_id AND u.deleted_at IS NOT NULL;
