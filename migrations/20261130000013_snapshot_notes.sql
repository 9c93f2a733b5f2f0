-- A snapshot says when a holding was valued at a price carried from another day (no bar for
-- that stock on the snapshot's day), e.g. `005930 carried from 2026-11-26`.

ALTER TABLE snapshots ADD COLUMN note TEXT;
