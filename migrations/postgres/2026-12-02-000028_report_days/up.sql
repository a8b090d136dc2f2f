-- Rankings from a daily roll-up (decision 0027): the facts that can no longer change — a clock
-- that stopped, a return visit recorded — are added up per holder path, China day and measure
-- by a background step (app::reports::rollup), so that a district's year sums a few thousand
-- rows instead of counting two million clocks. What is not rolled up yet is counted live from
-- the clocks and the audit trail, so a figure never depends on how far the roll-up has got.
--
-- A stopped clock is rolled up once: `rolled` is set in the transaction that adds it.
ALTER TABLE sla_clocks ADD COLUMN rolled BOOLEAN NOT NULL DEFAULT FALSE;
-- The clocks stopped and not yet rolled up: the roll-up's queue and the live count's rows.
CREATE INDEX sla_clocks_unrolled ON sla_clocks (stopped_at) WHERE stopped_at IS NOT NULL AND rolled = FALSE;

CREATE TABLE report_days (
    -- The unit that held the clock (resolved before the visit).
    holder_path TEXT NOT NULL,
    -- The China day the fact belongs to: the clock's start (response, resolution, volume), its
    -- stop (resolved), the visit (visit).
    day DATE NOT NULL,
    measure TEXT NOT NULL,
    -- volume: from which depth of the tree the clock is its ticket's first in a unit's subtree;
    -- visit: -1 satisfied, else the China day (yyyymmdd) of the resolution it reopened; else 0.
    variant INTEGER NOT NULL,
    counted BIGINT NOT NULL,
    total BIGINT NOT NULL,
    overdue_seconds BIGINT NOT NULL,
    overdue_working_seconds BIGINT NOT NULL,
    PRIMARY KEY (holder_path, day, measure, variant)
);

-- Return visits are read from the audit trail, chain by chain: each chain's events up to `seq`
-- are rolled up (a chain's events commit in the order of their numbers, under its head's lock).
CREATE TABLE report_marks (
    shard INTEGER PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL
);
INSERT INTO report_marks (shard, seq) SELECT shard, 0 FROM audit_heads;
