-- Deployment settings, owned by the operator: every change is a new row, so the table is also
-- their history; the current value of a setting is its latest row. A database starts with the
-- defaults below and a real clock (time from the database server); an operator makes it
-- simulated (`ascend admin settings set clock simulated`) for tests, the quickstart and
-- backtests. Which names and values are valid is the program's rule (src/domain/settings.rs).
CREATE TABLE settings (
    id     BIGSERIAL PRIMARY KEY,
    name   TEXT NOT NULL,
    value  TEXT NOT NULL,
    set_at TIMESTAMPTZ NOT NULL,
    set_by TEXT NOT NULL
);
CREATE INDEX settings_name_idx ON settings (name, id);

INSERT INTO settings (name, value, set_at, set_by) VALUES
    ('commission_pct', '0.015', now(), 'default'),
    ('max_price_age_min', '15', now(), 'default'),
    ('clock', 'real', now(), 'default');

-- On a shared host a trader is the Unix account that runs the program through sudo; the user
-- row says which account that is.
ALTER TABLE users ADD COLUMN unix_user TEXT;
CREATE UNIQUE INDEX users_unix_user_key ON users (unix_user)
    WHERE unix_user IS NOT NULL AND deleted_at IS NULL;
