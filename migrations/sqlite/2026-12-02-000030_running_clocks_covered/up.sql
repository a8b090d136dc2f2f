-- PostgreSQL only (a covering index of running clocks, see its twin): SQLite has no INCLUDE, and
-- a key of ten columns would be paid by every write of a running clock; its count of running
-- clocks reads pages from the database file's own cache. Kept as a migration so that both back
-- ends carry the same list.
SELECT 1;
