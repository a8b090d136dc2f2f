DROP TABLE report_started;
