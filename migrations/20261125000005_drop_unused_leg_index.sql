-- Nothing reads journal legs by user through an index (the audit scans them whole); the index
-- only cost time on every posting.
DROP INDEX journal_legs_user_idx;
