-- Orders are inserted only by place-order and the bulk importer (src/store/trading.rs), in a
-- statement that takes the user from the locked account row and after the stock was read;
-- users and stocks are never deleted. The two foreign-key triggers ran a lookup of the user
-- and of the stock for every order, and share-locked the stock row: concurrent orders for
-- one stock each created a multixact on it. Without them place-order ran 11% faster
-- (scripts/bench.sh's place_orders, three A/B pairs). `ascend audit` checks the same
-- references instead (invariant 4).
ALTER TABLE orders DROP CONSTRAINT orders_code_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey;
