-- Nothing on PostgreSQL: migration 8 adds two indexes that only SQLite's planner needs (see the
-- SQLite migration). Kept so that both back ends have the same list of migrations.
SELECT 1;
