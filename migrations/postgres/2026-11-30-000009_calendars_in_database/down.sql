DROP INDEX sla_clocks_open;
ALTER TABLE sla_clocks DROP COLUMN provisional;
DROP TABLE calendar_revision;
DROP TABLE calendar_years;
DROP TABLE work_calendars;
