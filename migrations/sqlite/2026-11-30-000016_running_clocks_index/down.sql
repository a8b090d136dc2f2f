DROP INDEX sla_clocks_running;
