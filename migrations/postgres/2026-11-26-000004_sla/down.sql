DROP TABLE sla_policies;
DROP TABLE notifications;
DROP TABLE supervision;
DROP TABLE sla_fires;
DROP TABLE sla_clocks;
