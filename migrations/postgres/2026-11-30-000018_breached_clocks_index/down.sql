DROP INDEX sla_clocks_breached;
