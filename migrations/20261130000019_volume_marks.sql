-- The volume fill model (`fill_model` = volume:RATE): for each stock, the trade date and the
-- cumulative volume settle last looked at. A resting order fills on at most RATE of what the
-- stock traded since then. A stock never looked at has no row; a row inserted to be locked
-- before its first look has no trade date.
CREATE TABLE volume_marks (
    code       TEXT PRIMARY KEY,
    trade_date DATE,
    volume     BIGINT NOT NULL CHECK (volume >= 0)
);
