-- PostgreSQL partitions these tables by month (#21, decision 0034); SQLite keeps each whole. The
-- columns and tables the partitioning added exist here too, so that both back ends share one schema.
ALTER TABLE sla_fires ADD COLUMN clock_started_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE sla_fires SET clock_started_at = (SELECT started_at FROM sla_clocks WHERE sla_clocks.id = sla_fires.clock_id);
CREATE TABLE audit_archives (
    partition_name TEXT NOT NULL,
    shard INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    events BIGINT NOT NULL,
    detached_at TIMESTAMP NOT NULL,
    PRIMARY KEY (partition_name, shard)
);
