DROP TABLE report_marks;
DROP TABLE report_days;
DROP INDEX sla_clocks_unrolled;
ALTER TABLE sla_clocks DROP COLUMN rolled;
